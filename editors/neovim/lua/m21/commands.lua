-- m21.commands: :M21Refactor, :M21Explain, :M21Cancel, :M21Restart and the client-side
-- handler of the "Explain with m2-1" code action: each runs one server command
-- (workspace/executeCommand) and hands its result to m21.ui.

local X = {}

local api = vim.api

local function m21()
  return require("m21")
end

local client_mod = require("m21.client")
local ui = require("m21.ui")

--- The argument object of the server's m21.refactor / m21.explain commands.
function X.command_arguments(bufnr, range, instruction)
  local args = {
    uri = vim.uri_from_bufnr(bufnr),
    version = require("m21.range").buf_version(bufnr),
    range = range,
  }
  if instruction and instruction ~= "" then
    args.instruction = instruction
  end
  return args
end

local function execute(bufnr, command, args, on_result, arguments)
  local client = client_mod.ensure(bufnr)
  if not client then
    return
  end
  local params = { command = command, arguments = arguments or { args } }
  client_mod.request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      -- The server already showed a message saying what to do; keep the detail here.
      ui.notify(command .. " failed: " .. tostring(err.message or err), vim.log.levels.ERROR)
      return
    end
    m21().state.last_result = result
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

-- Runs `command` on the range of a user command's `opts` in the current buffer.
local function on_range(command, opts, instruction, on_result)
  local bufnr = api.nvim_get_current_buf()
  local client = client_mod.ensure(bufnr)
  if not client then
    return
  end
  local range = m21().command_range(opts, bufnr, client.offset_encoding)
  local args = m21().command_arguments(bufnr, range, instruction)
  execute(bufnr, command, args, function(result)
    on_result(bufnr, result)
  end)
end

--- :M21Refactor [instruction] — refactor the range (or the code under the cursor).
function X.refactor(opts)
  on_range("m21.refactor", opts, opts and opts.args, function(_, result)
    -- With progress on, its end message already said how it went (and failures come as a
    -- message from the server): only say it here when progress is off.
    local text = ui.summary(result)
    if text and not m21().config.progress then
      ui.notify(text)
    end
  end)
end

--- :M21Explain — explain the range (or the code under the cursor) in a floating window.
function X.explain(opts)
  on_range("m21.explain", opts, nil, function(bufnr, result)
    m21()._show_explain_result(bufnr, result)
  end)
end

--- The "Explain with m2-1" code action lands here (a client-side command handler), so that
--- picking it from vim.lsp.buf.code_action() opens the same floating window as :M21Explain.
function X.explain_action(command, ctx)
  local bufnr = ctx and ctx.bufnr or api.nvim_get_current_buf()
  execute(bufnr, "m21.explain", nil, function(result)
    m21()._show_explain_result(bufnr, result)
  end, command.arguments)
end

--- :M21Cancel — cancel every refactor or explanation still waiting for the model.
function X.cancel()
  local n = 0
  local running = m21().state.running
  for token, client_id in pairs(running) do
    local client = vim.lsp.get_client_by_id(client_id)
    if client then
      client_mod.notify(client, "window/workDoneProgress/cancel", { token = token })
      n = n + 1
    end
    running[token] = nil
  end
  if n == 0 then
    ui.notify("nothing to cancel")
  end
  return n
end

function X.define_commands()
  api.nvim_create_user_command("M21Refactor", function(opts)
    m21().refactor(opts)
  end, { range = true, nargs = "?", desc = "Refactor the selection with m2-1" })
  api.nvim_create_user_command("M21Explain", function(opts)
    m21().explain(opts)
  end, { range = true, nargs = 0, desc = "Explain the selection with m2-1" })
  api.nvim_create_user_command("M21Cancel", function()
    m21().cancel()
  end, { nargs = 0, desc = "Cancel the running m2-1 requests" })
  api.nvim_create_user_command("M21Restart", function()
    m21().restart()
  end, { nargs = 0, desc = "Restart the m21 language server" })
  require("m21.install").define_commands()
end

return X
