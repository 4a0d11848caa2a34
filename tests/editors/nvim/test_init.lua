-- Headless Neovim driver for tests/editors/test_neovim.py.
--
-- Runs one scenario as a user would (visual selection, code action menu, :write, :M21Explain)
-- and writes what it saw to $M21_RESULT as JSON. The Python test decides pass or fail from the
-- file on disk and that JSON; this script only records and never computes the expected text.
--
-- Inputs (environment):
--   M21_REPO          repository root (the plugin is loaded from editors/neovim)
--   M21_SERVER_CMD    JSON list: how to start the language server
--   M21_FILE          the Python file to open (a copy of a fixture)
--   M21_RESULT        where to write the JSON result
--   M21_SCENARIO      "refactor_explain" or "concurrent_edit"
--   M21_RANGE         "first,last": 1-based lines of the visual selection for the code action
--   M21_EXPLAIN_RANGE "first,last": lines to explain after the refactor (refactor_explain)
--   M21_COMMAND_RANGE "first,last": lines for :M21Refactor after that (refactor_explain)
--   M21_INSTRUCTION   the instruction given to :M21Refactor (refactor_explain)
--   M21_ACTION_EXPLAIN_RANGE "first,last": lines for the "Explain with m2-1" code action
--   M21_ACTION        title to pick in the code action menu
--   M21_HANDSHAKE_PORT  (concurrent_edit) 127.0.0.1 port to tell once the user edit is flushed
--   M21_USER_EDIT     (concurrent_edit) JSON {line, text, replace}: what the user types meanwhile
--   M21_SETTINGS      (optional) JSON object: the plugin's `settings` (the server's m21 section)
--   M21_ACTIONS       (optional) JSON list: the plugin's `actions` (user-defined code actions)
--   M21_WRITE_ALL     (refactor_only) "1": :wall instead of :write after the edit
--   M21_WAIT_MS       upper bound for each wait
--   M21_PLAIN         "1": no plugin; the server is started with Neovim's own client and
--                     Neovim's own workspace/applyEdit handler (a config without the plugin)
--   M21_TYPE_BEFORE_APPLY (optional) JSON {line, text, replace}: typed into the buffer once,
--                     when the server's workspace/applyEdit has arrived and before the
--                     handler runs (the user typing while the edit is on its way)
--   M21_LIVE_MARKER   (live) text of the new code the refactor's live float must show
--   M21_EXPLAIN_PARTIAL (live) the first words the explanation's live float must show
--   M21_PREVIEW_KEYS  comma-separated keys answering the plugin's edit previews in turn
--                     (default "a", accept)

local api = vim.api
local uv = vim.loop

local env = function(name)
  return os.getenv(name)
end

local WAIT_MS = tonumber(env("M21_WAIT_MS") or "") or 30000
local result = {
  scenario = env("M21_SCENARIO"),
  nvim_version = tostring(vim.version().major) .. "." .. vim.version().minor .. "." .. vim.version().patch,
  menu = {},
  progress = {},
  show_messages = {},
  commands = {},
  steps = {},
}

local t0 = uv.hrtime()
result.step_ms = {}

local function step(name)
  table.insert(result.steps, name)
  -- Milliseconds since start-up, for the report's figures (never asserted).
  table.insert(result.step_ms, math.floor((uv.hrtime() - t0) / 1e6))
end

local function save()
  local fh = assert(io.open(env("M21_RESULT"), "w"))
  fh:write(vim.fn.json_encode(result))
  fh:close()
end

local function finish(ok, err)
  step("finished")
  result.ok = ok
  result.error = err
  result.messages_history = vim.fn.execute("messages")
  save()
  vim.cmd(ok and "qall!" or "cquit!")
end

local function wait_for(what, condition)
  local ok = vim.wait(WAIT_MS, condition, 20)
  if not ok then
    error("timed out after " .. WAIT_MS .. " ms waiting for " .. what, 0)
  end
end

local function lines_of(spec)
  local first, last = spec:match("^(%d+),(%d+)$")
  return tonumber(first), tonumber(last)
end

local function select_lines(first, last)
  -- A real linewise visual selection, left with <Esc> so '< and '> are set as after `V…<Esc>`.
  vim.cmd(string.format("normal! %dGV%dG\27", first, last))
end

-- Record what the server tells the user, while keeping Neovim's own handling.
local function record_handler(method, into)
  local default = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, res, ctx, config)
    table.insert(into, { err = err and (err.message or tostring(err)) or vim.NIL, result = res or vim.NIL })
    if default then
      return default(err, res, ctx, config)
    end
  end
end

vim.opt.runtimepath:prepend(env("M21_REPO") .. "/editors/neovim")
vim.o.swapfile = false
vim.o.more = false

local m21 = require("m21")
-- Record the progress lines the plugin echoes (the echo itself is checked via :messages too).
local format_progress = m21.format_progress
m21.format_progress = function(token, value)
  local text = format_progress(token, value)
  table.insert(result.progress, { kind = type(value) == "table" and value.kind or vim.NIL, text = text or vim.NIL })
  return text
end

record_handler("window/showMessage", result.show_messages)
-- With no handler of its own, a code action's command is sent with this default handler.
record_handler("workspace/executeCommand", result.commands)

local settings = env("M21_SETTINGS")
local plain = env("M21_PLAIN") == "1"
-- The key and endpoint reach the server through its process environment.
local cmd_env = { M21_BASE_URL = env("M21_BASE_URL"), M21_API_KEY = env("M21_API_KEY") }
if not plain then
  m21.setup({
    cmd = vim.fn.json_decode(env("M21_SERVER_CMD")),
    settings = settings and vim.fn.json_decode(settings) or nil,
    actions = env("M21_ACTIONS") and vim.fn.json_decode(env("M21_ACTIONS")) or nil,
    cmd_env = cmd_env,
  })
  result.setup_problems = m21.state.setup_problems
end

-- Without the plugin: Neovim's own client, default capabilities and handlers.
local function start_plain(bufnr)
  local config = {
    name = "m21",
    cmd = vim.fn.json_decode(env("M21_SERVER_CMD")),
    cmd_env = cmd_env,
    root_dir = vim.fn.fnamemodify(env("M21_FILE"), ":p:h"),
  }
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = bufnr })
  else
    vim.lsp.buf_attach_client(bufnr, assert(vim.lsp.start_client(config)))
  end
end

-- Every workspace/applyEdit answer, and the user's typing while the first is on its way.
result.apply_responses = {}
local function edit_uri(edit)
  if edit.documentChanges and edit.documentChanges[1] then
    return edit.documentChanges[1].textDocument.uri
  end
  return next(edit.changes or {})
end
local function wrap_apply(handler)
  local typed = false
  return function(err, params, ctx, config)
    local spec = env("M21_TYPE_BEFORE_APPLY")
    if spec and not typed and params and params.edit then
      typed = true
      local edit = vim.fn.json_decode(spec)
      local bufnr = vim.uri_to_bufnr(edit_uri(params.edit))
      local stop = edit.replace and edit.line + 1 or edit.line
      api.nvim_buf_set_lines(bufnr, edit.line, stop, false, { edit.text })
      result.typed_before_apply = api.nvim_buf_get_changedtick(bufnr)
      result.edit_versions = {}
      for _, change in ipairs(params.edit.documentChanges or {}) do
        table.insert(result.edit_versions, change.textDocument.version)
      end
    end
    local response = handler(err, params, ctx, config)
    table.insert(result.apply_responses, response)
    return response
  end
end
if plain then
  vim.lsp.handlers["workspace/applyEdit"] = wrap_apply(vim.lsp.handlers["workspace/applyEdit"])
else
  m21._apply_edit = wrap_apply(m21._apply_edit)
end

-- The plugin's edit previews: each answered with the next key, and recorded.
result.previews = {}
local preview_keys = vim.split(env("M21_PREVIEW_KEYS") or "a", ",", { plain = true })
local answered = nil
uv.new_timer():start(20, 20, vim.schedule_wrap(function()
  local shown = m21.state.preview
  if shown and shown ~= answered then
    answered = shown
    local key = table.remove(preview_keys, 1) or "a"
    table.insert(result.previews, { lines = shown.lines, key = key })
    api.nvim_input(key)
  end
end))

local function client_ready(bufnr)
  local client = m21.get_client(bufnr)
  return client ~= nil and client.initialized ~= false and client.server_capabilities ~= nil
    and next(client.server_capabilities) ~= nil
end

local function pick(title)
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for i, item in ipairs(items) do
      local label = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(result.menu, label)
      if label == title and not chosen then
        chosen = i
      end
    end
    if chosen then
      on_choice(items[chosen], chosen)
    else
      result.missing_action = title
      on_choice(nil, nil)
    end
  end
end

local function run_code_action(first, last, title)
  select_lines(first, last)
  pick(title or env("M21_ACTION"))
  local before = #result.commands
  if vim.lsp.buf.range_code_action then
    vim.lsp.buf.range_code_action()
  else
    -- 0.10+ (no range_code_action): the same lines as mark-indexed {row, col} positions.
    local last_line = api.nvim_buf_get_lines(0, last - 1, last, false)[1] or ""
    vim.lsp.buf.code_action({ range = { start = { first, 0 }, ["end"] = { last, #last_line } } })
  end
  return before
end

local function flush_and_ping(bufnr)
  -- Any request flushes pending didChange first; a code action also proves the server still
  -- answers while the refactor waits for the model.
  local client = m21.get_client(bufnr)
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = {} }
  local responses
  if vim.fn.has("nvim-0.11") == 1 then
    responses = client:request_sync("textDocument/codeAction", params, WAIT_MS, bufnr)
  else
    responses = client.request_sync("textDocument/codeAction", params, WAIT_MS, bufnr)
  end
  result.ping_actions = responses and responses.result and #responses.result or vim.NIL
end

-- Tells the test `say` over TCP; when `reply` is given, also waits until the test sends it.
local function handshake(port, say, reply)
  local done, heard = false, ""
  local tcp = uv.new_tcp()
  tcp:connect("127.0.0.1", port, function(err)
    assert(not err, err)
    tcp:write(say .. "\n", function()
      if not reply then
        tcp:shutdown(function()
          tcp:close()
          done = true
        end)
        return
      end
      tcp:read_start(function(rerr, chunk)
        assert(not rerr, rerr)
        heard = heard .. (chunk or "")
        if chunk == nil or heard:find(reply, 1, true) then
          tcp:read_stop()
          tcp:close()
          done = true
        end
      end)
    end)
  end)
  wait_for("the handshake with the test", function()
    return done
  end)
  if reply and not heard:find(reply, 1, true) then
    error("the test closed the handshake without saying " .. reply, 0)
  end
end

-- The first floating window that is not a live view (m21.live's floats come and go while
-- the model writes; the answer's window is the one that stays).
local function answer_float()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= "" and not require("m21.live").is_live(win) then
      return win
    end
  end
  return nil
end

local function live_text(kind)
  local lines = require("m21.live").lines(kind)
  return lines and table.concat(lines, "\n") or nil
end

-- The live view: the model stalls mid-reply (the test holds it); the floats must show what
-- was written so far before the command answers, without touching the buffer; then the
-- test releases the model and the usual answer follows (the confirm diff, the edit, the
-- explanation window) with the live floats gone.
local function live(bufnr)
  local port = tonumber(env("M21_HANDSHAKE_PORT"))
  local first, last = lines_of(env("M21_RANGE"))
  select_lines(first, last)
  vim.cmd(string.format("%d,%dM21Refactor", first, last))
  wait_for("the live view of the refactor", function()
    local text = live_text("refactor")
    return text and text:find(env("M21_LIVE_MARKER"), 1, true)
  end)
  step("refactor live")
  result.live_refactor = require("m21.live").lines("refactor")
  result.live_refactor_answered = m21.state.last_result ~= nil
  result.live_modified = vim.bo[bufnr].modified
  result.live_buffer = table.concat(api.nvim_buf_get_lines(bufnr, 0, -1, false), "\n") .. "\n"
  result.live_focus_kept = api.nvim_get_current_buf() == bufnr
  handshake(port, "refactor-live", "go")
  wait_for("the refactor's answer", function()
    return m21.state.last_result ~= nil
  end)
  result.refactor_result = m21.state.last_result
  result.live_refactor_after = require("m21.live").lines("refactor") or vim.NIL
  m21.state.last_result = nil
  vim.cmd("write")
  step("refactored")

  local efirst, elast = lines_of(env("M21_EXPLAIN_RANGE"))
  select_lines(efirst, elast)
  vim.cmd(string.format("%d,%dM21Explain", efirst, elast))
  wait_for("the live explanation", function()
    local text = live_text("explain")
    return text and text:find(env("M21_EXPLAIN_PARTIAL"), 1, true)
  end)
  step("explain live")
  result.live_explain = require("m21.live").lines("explain")
  result.live_explain_answered = m21.state.last_result ~= nil
  handshake(port, "explain-live", "go")
  wait_for("the explanation's answer", function()
    return m21.state.last_result ~= nil
  end)
  local float
  wait_for("the explanation's floating window", function()
    float = answer_float()
    return float ~= nil
  end)
  result.float_lines = api.nvim_buf_get_lines(api.nvim_win_get_buf(float), 0, -1, false)
  result.live_explain_after = require("m21.live").lines("explain") or vim.NIL
  step("explained")
end

local function tell_test(port)
  handshake(port, "edited")
end

local function refactor_explain(bufnr)
  local first, last = lines_of(env("M21_RANGE"))
  local before = run_code_action(first, last)
  step("code action chosen")
  wait_for("the refactor command's answer", function()
    return #result.commands > before
  end)
  result.refactor_result = result.commands[#result.commands].result
  result.modified = vim.bo[bufnr].modified
  vim.cmd("write")
  step("written")

  local efirst, elast = lines_of(env("M21_EXPLAIN_RANGE"))
  select_lines(efirst, elast)
  vim.cmd(string.format("%d,%dM21Explain", efirst, elast))
  local float
  wait_for("the explanation's floating window", function()
    float = answer_float()
    return float ~= nil
  end)
  local fbuf = api.nvim_win_get_buf(float)
  result.float_lines = api.nvim_buf_get_lines(fbuf, 0, -1, false)
  -- 0.7 renders markdown with syntax regions (no 'filetype'); record that it is the plugin's
  -- float, which was given the reply as markdown.
  local shown = m21.state.last_explanation or {}
  result.float_is_plugins = shown.winid == float
  result.float_markdown = shown.markdown
  result.explain_result = m21.state.last_result
  step("explained")

  -- K over the same code: the server answers hover from its cache, no model call.
  local client = m21.get_client(bufnr)
  local line = api.nvim_buf_get_lines(bufnr, efirst, efirst + 1, false)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = efirst, character = #line:match("^%s*") },
  }
  local hovers = vim.lsp.buf_request_sync(bufnr, "textDocument/hover", params, WAIT_MS) or {}
  local hover = hovers[client.id] and hovers[client.id].result
  result.hover = hover and hover.contents and (hover.contents.value or hover.contents) or vim.NIL

  -- :'<,'>M21Refactor with an instruction, on another function.
  local cfirst, clast = lines_of(env("M21_COMMAND_RANGE"))
  select_lines(cfirst, clast)
  m21.state.last_result = nil
  vim.cmd(string.format("%d,%dM21Refactor %s", cfirst, clast, env("M21_INSTRUCTION")))
  wait_for("the :M21Refactor command's answer", function()
    return m21.state.last_result ~= nil
  end)
  result.command_result = m21.state.last_result
  vim.cmd("write")
  step("refactored by command")

  -- "Explain with m2-1" picked from Neovim's code action menu: the plugin's client-side
  -- handler for m21.explain runs it on the server and opens the same floating window.
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= "" then
      api.nvim_win_close(win, true)
    end
  end
  local afirst, alast = lines_of(env("M21_ACTION_EXPLAIN_RANGE"))
  run_code_action(afirst, alast, "Explain with m2-1")
  local afloat
  wait_for("the explain action's floating window", function()
    afloat = answer_float()
    return afloat ~= nil
  end)
  result.action_float_lines = api.nvim_buf_get_lines(api.nvim_win_get_buf(afloat), 0, -1, false)
  step("explained by action")
end

local function concurrent_edit(bufnr)
  local first, last = lines_of(env("M21_RANGE"))
  local before = run_code_action(first, last)
  step("code action chosen")
  -- The model is held by the test: edit elsewhere while it "thinks".
  wait_for("the refactor's progress to begin", function()
    for _, p in ipairs(result.progress) do
      if p.kind == "begin" then
        return true
      end
    end
    return false
  end)
  -- The user's edit: {line = 0-based, text = ..., replace = bool} (insert before `line`).
  local edit = vim.fn.json_decode(env("M21_USER_EDIT"))
  local stop = edit.replace and edit.line + 1 or edit.line
  api.nvim_buf_set_lines(bufnr, edit.line, stop, false, { edit.text })
  flush_and_ping(bufnr)
  step("user edit flushed")
  tell_test(tonumber(env("M21_HANDSHAKE_PORT")))
  wait_for("the refactor command's answer", function()
    return #result.commands > before
  end)
  result.refactor_result = result.commands[#result.commands].result
  vim.cmd("write")
  step("written")
end

local function cancel(bufnr)
  local first, last = lines_of(env("M21_RANGE"))
  select_lines(first, last)
  vim.cmd(string.format("%d,%dM21Refactor", first, last))
  step("refactor started")
  -- The test holds the model; it says "go" once the request reached it.
  handshake(tonumber(env("M21_HANDSHAKE_PORT")), "ready", "go")
  result.cancelled_tokens = m21.cancel()
  step("cancel sent")
  wait_for("the cancelled refactor's answer", function()
    return m21.state.last_result ~= nil
  end)
  result.refactor_result = m21.state.last_result
  result.modified = vim.bo[bufnr].modified
  step("answered")
end

local function refactor_only(bufnr)
  local first, last = lines_of(env("M21_RANGE"))
  local before = run_code_action(first, last)
  step("code action chosen")
  wait_for("the refactor command's answer", function()
    if result.missing_action then
      error("no code action " .. result.missing_action .. " in the menu: " .. table.concat(result.menu, " | "), 0)
    end
    return #result.commands > before
  end)
  result.refactor_result = result.commands[#result.commands].result
  result.modified = vim.bo[bufnr].modified
  -- M21_WRITE_ALL=1: also the buffers the edit created (an action with a target file).
  vim.cmd(env("M21_WRITE_ALL") == "1" and "wall" or "write")
  step("written")
end

local function missing_server(bufnr)
  -- Opening a second Python file must not repeat the message; an explicit command does.
  result.after_open = vim.fn.execute("messages")
  vim.cmd("split " .. vim.fn.fnameescape(env("M21_SECOND_FILE")))
  result.second_filetype = vim.bo.filetype
  result.after_second = vim.fn.execute("messages")
  vim.cmd("M21Explain")
  result.after_command = vim.fn.execute("messages")
  result.clients = #(vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients())
  step("checked")
end

local scenarios = {
  refactor_explain = refactor_explain,
  concurrent_edit = concurrent_edit,
  cancel = cancel,
  refactor_only = refactor_only,
  live = live,
}

local function main()
  vim.cmd("edit " .. vim.fn.fnameescape(env("M21_FILE")))
  local bufnr = api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype
  if env("M21_SCENARIO") == "missing_server" then
    return missing_server(bufnr)
  end
  if plain then
    start_plain(bufnr)
  end
  local seen = false
  wait_for("the m21 client to attach and initialize", function()
    local client = m21.get_client(bufnr)
    if client then
      seen = true
    elseif seen then
      error("the language server exited during start-up (its stderr is in lsp.log)", 0)
    end
    return client_ready(bufnr)
  end)
  local client = m21.get_client(bufnr)
  result.offset_encoding = client.offset_encoding
  step("attached")
  local scenario = scenarios[env("M21_SCENARIO")]
  if not scenario then
    error("unknown scenario " .. tostring(env("M21_SCENARIO")), 0)
  end
  scenario(bufnr)
end

api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    vim.schedule(function()
      local ok, err = xpcall(main, debug.traceback)
      finish(ok, not ok and tostring(err) or nil)
    end)
  end,
})
