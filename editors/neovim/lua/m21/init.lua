-- m21: Neovim client for the m21-lsp language server (refactor / explain with m2-1).
--
-- Works on Neovim 0.7 and newer. 0.7 has no vim.lsp.start, so the plugin starts one client
-- per root directory with vim.lsp.start_client and attaches buffers itself; on 0.8+ it hands
-- the same config to vim.lsp.start, which does the reuse for us.
--
-- The heavy lifting (model call, validation, safe edits) is the server's. This file only
-- turns a Vim range into an LSP range, runs the server's commands and shows their results.

local M = {}

local api = vim.api
local util = vim.lsp.util

M.defaults = {
  -- How to start the server. Override with a virtualenv's m21-lsp or `python -m m21_lsp.lsp`.
  -- Without setup{ cmd }, the m21-lsp that :M21Install put under stdpath("data") comes first,
  -- then m21-lsp on PATH (see m21/install.lua).
  cmd = { "m21-lsp", "serve", "--stdio" },
  -- :M21Install's defaults: { source = wheel | folder | git+URL | PyPI name, python = "python3" }.
  install = {},
  -- Extra environment for the server process (e.g. { M21_API_KEY = os.getenv("AIMLAPI_KEY") }).
  cmd_env = nil,
  -- The `m21` settings section, camelCase as in every editor (baseUrl, model, hover, ...).
  settings = {},
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git" },
  name = "m21",
  -- Echo $/progress in the message area.
  progress = true,
  -- Options for the explanation's floating window (see :h nvim_open_win).
  float = { border = "rounded", max_width = 100, max_height = 40 },
  -- The diff shown before an edit that needs confirmation (the server's confirmEdits):
  -- keys that accept and reject it, and the floating window's options.
  preview = {
    accept = { "a", "y", "\r" },
    reject = { "r", "n", "q", "\27" },
    float = { border = "rounded", max_width = 120, max_height = 30 },
  },
  on_attach = nil,
  capabilities = nil,
}

M.config = vim.deepcopy(M.defaults)

-- State that tests and statuslines may read.
M.state = {
  clients = {}, -- root_dir -> client id (0.7 path only)
  start_error = nil, -- why the server could not start, shown once
  last_explanation = nil, -- { markdown = string, bufnr = number, winid = number }
  last_result = nil, -- the last command result table from the server
}

local has_start = type(vim.lsp.start) == "function"
local method_calls = vim.fn.has("nvim-0.11") == 1

local function notify(msg, level)
  vim.notify("m21: " .. msg, level or vim.log.levels.INFO)
end

-- Client methods became `client:request()` in 0.11; older versions only have `client.request()`.
local function client_request(client, method, params, handler, bufnr)
  if method_calls then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function buf_clients(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  return vim.lsp.buf_get_clients(bufnr)
end

--- The m21 client attached to `bufnr`, or nil.
function M.get_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  for _, client in pairs(buf_clients(bufnr)) do
    if client.name == M.config.name then
      return client
    end
  end
  return nil
end

local function find_root(bufnr)
  local path = api.nvim_buf_get_name(bufnr)
  local start = path ~= "" and vim.fn.fnamemodify(path, ":p:h") or vim.fn.getcwd()
  if vim.fs and vim.fs.find then
    local found = vim.fs.find(M.config.root_markers, { upward = true, path = start })[1]
    if found then
      return vim.fn.fnamemodify(found, ":h")
    end
    return start
  end
  -- 0.7: walk up by hand.
  local dir = start
  while dir and dir ~= "" do
    for _, marker in ipairs(M.config.root_markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

-- Progress --------------------------------------------------------------------------------

local progress_titles = {}

local function echo(text, history)
  -- Keep it on one screen line so the user never gets a hit-enter prompt for a progress tick.
  local width = math.max(vim.o.columns - 12, 20)
  text = text:gsub("[\r\n]+", " ")
  if #text > width and not history then
    text = text:sub(1, width - 1) .. "…"
  end
  api.nvim_echo({ { text } }, history, {})
end

--- Formats one $/progress value for the message area; exposed for tests.
function M.format_progress(token, value)
  if type(value) ~= "table" then
    return nil
  end
  if value.kind == "begin" then
    progress_titles[token] = value.title
  end
  local title = progress_titles[token] or "m2-1"
  local parts = { "[" .. M.config.name .. "] " .. title }
  if value.message and value.message ~= "" then
    table.insert(parts, ": " .. value.message)
  end
  if value.percentage then
    table.insert(parts, string.format(" (%d%%)", value.percentage))
  end
  if value.kind == "end" then
    progress_titles[token] = nil
  end
  return table.concat(parts)
end

-- Work that can still be cancelled: token -> client id (from begin until end).
M.state.running = {}

local function track(result, ctx)
  local value = result.value
  if type(value) ~= "table" then
    return
  end
  if value.kind == "begin" and value.cancellable then
    M.state.running[result.token] = ctx.client_id
  elseif value.kind == "report" and value.cancellable == false then
    M.state.running[result.token] = nil -- past the point of no return (applying the edit)
  elseif value.kind == "end" then
    M.state.running[result.token] = nil
  end
end

local function progress_handler(err, result, ctx, config)
  -- Keep whatever the user (or Neovim) does with progress, then echo ours.
  local default = vim.lsp.handlers["$/progress"]
  if default then
    pcall(default, err, result, ctx, config)
  end
  if result then
    track(result, ctx)
  end
  if not M.config.progress or not result then
    return
  end
  local text = M.format_progress(result.token, result.value)
  if text then
    -- Only the outcome goes to :messages; the ticks would flood it.
    echo(text, type(result.value) == "table" and result.value.kind == "end")
  end
end

-- Applying the server's edits ------------------------------------------------------------------
--
-- Neovim's own workspace/applyEdit handler skips a TextDocumentEdit for an older version of
-- the buffer but still answers applied = true, checks only the first edit of a list, and
-- never checks version 0. This one checks every edit before changing anything, answers
-- applied = false with the reason when the buffer is newer, and shows the change as a diff
-- first when the server asks for confirmation (its confirmEdits setting).

-- The version Neovim sends in didChange (b:changedtick), or nil for a buffer not attached.
local function lsp_version(bufnr)
  local v = util.buf_versions and util.buf_versions[bufnr]
  if type(v) == "number" then
    return v
  end
  return nil
end

local function text_document_edits(edit)
  local out = {}
  if edit.documentChanges then
    for _, change in ipairs(edit.documentChanges) do
      if change.kind then
        return nil, "m21 takes no file operations (" .. tostring(change.kind) .. ")"
      end
      table.insert(out, change)
    end
  elseif edit.changes then
    for uri, edits in pairs(edit.changes) do
      table.insert(out, { textDocument = { uri = uri }, edits = edits })
    end
  end
  return out
end

-- The edits without annotation ids, so that Neovim's apply_text_edits does not ask again.
local function plain_edits(edits)
  local out = {}
  for _, e in ipairs(edits) do
    table.insert(out, { range = e.range, newText = e.newText })
  end
  return out
end

local function needs_confirmation(edit, doc_edits)
  local annotations = edit.changeAnnotations or {}
  for _, de in ipairs(doc_edits) do
    for _, e in ipairs(de.edits) do
      local a = e.annotationId and annotations[e.annotationId]
      if a and a.needsConfirmation then
        return a
      end
    end
  end
  return nil
end

local function stale(doc_edits)
  for _, de in ipairs(doc_edits) do
    local version = de.textDocument.version
    if type(version) == "number" then
      local bufnr = vim.uri_to_bufnr(de.textDocument.uri)
      local current = lsp_version(bufnr)
      if current and current > version then
        return string.format(
          "the buffer changed after the edit was made (buffer version %d, edit for %d)",
          current,
          version
        )
      end
    end
  end
  return nil
end

local function buffer_lines(bufnr)
  if not api.nvim_buf_is_loaded(bufnr) then
    vim.fn.bufload(bufnr)
  end
  return api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

-- The buffer's lines after `edits`, computed on a scratch copy.
local function lines_after(bufnr, edits, encoding)
  local scratch = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(scratch, 0, -1, false, buffer_lines(bufnr))
  util.apply_text_edits(plain_edits(edits), scratch, encoding)
  local lines = api.nvim_buf_get_lines(scratch, 0, -1, false)
  api.nvim_buf_delete(scratch, { force = true })
  return lines
end

local text_diff = (vim.text and vim.text.diff) or vim.diff

--- The diff lines of `doc_edits` (a list of TextDocumentEdit), one file after another.
function M.edit_diff(doc_edits, encoding)
  local out = {}
  for _, de in ipairs(doc_edits) do
    local bufnr = vim.uri_to_bufnr(de.textDocument.uri)
    local old = buffer_lines(bufnr)
    local new = lines_after(bufnr, de.edits, encoding)
    local name = vim.fn.fnamemodify(vim.uri_to_fname(de.textDocument.uri), ":~:.")
    table.insert(out, "--- " .. name)
    table.insert(out, "+++ " .. name)
    local diff = text_diff(table.concat(old, "\n") .. "\n", table.concat(new, "\n") .. "\n", { ctxlen = 3 })
    for _, line in ipairs(vim.split(diff, "\n", { plain = true })) do
      if line ~= "" then
        table.insert(out, line)
      end
    end
  end
  return out
end

local function key_in(key, keys)
  for _, k in ipairs(keys) do
    if key == k then
      return true
    end
  end
  return false
end

--- Shows `lines` (a diff) in a floating window and waits for a key: true to accept.
--- Modal on purpose: Neovim 0.7 answers a server request with the handler's return value,
--- so the answer cannot wait for a later keypress; and the buffer cannot change meanwhile.
function M.preview(lines, title)
  local cfg = M.config.preview or M.defaults.preview
  local accept = cfg.accept or M.defaults.preview.accept
  local reject = cfg.reject or M.defaults.preview.reject
  local hint = string.format(
    "%s: %s accept, %s reject, j/k scroll",
    title,
    accept[1],
    reject[1]
  )
  local shown = { hint, "" }
  vim.list_extend(shown, lines)
  local fopts = cfg.float or {}
  local width = 20
  for _, l in ipairs(shown) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width, fopts.max_width or 120, vim.o.columns - 4)
  local height = math.min(#shown, fopts.max_height or 30, vim.o.lines - 4)
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, shown)
  vim.bo[buf].filetype = "diff"
  vim.bo[buf].modifiable = false
  local win = api.nvim_open_win(buf, true, {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = "minimal",
    border = fopts.border or "rounded",
  })
  M.state.preview = { bufnr = buf, winid = win, lines = shown, decided = nil }
  local decision
  while decision == nil do
    vim.cmd("redraw")
    local ok, c = pcall(vim.fn.getchar)
    local key = ok and (type(c) == "number" and vim.fn.nr2char(c) or c) or "\27"
    if key_in(key, accept) then
      decision = true
    elseif key_in(key, reject) or not ok then
      decision = false
    elseif key == "j" or key == "k" or key == "\4" or key == "\21" then
      local cmd = ({ j = "\5", k = "\25", ["\4"] = "\4", ["\21"] = "\21" })[key]
      pcall(api.nvim_win_call, win, function()
        vim.cmd("normal! " .. cmd)
      end)
    end
  end
  pcall(api.nvim_win_close, win, true)
  pcall(api.nvim_buf_delete, buf, { force = true })
  M.state.preview = nil
  M.state.last_preview = { lines = shown, accepted = decision }
  return decision
end

-- Sends the buffer's pending didChange now, so that the server, told that the edit is stale,
-- already has the newer text to move the edit onto. Neovim flushes pending changes before
-- any other notification; $/setTrace with the client's own trace level changes nothing.
local function flush_changes(client)
  if not client then
    return
  end
  local params = { value = (client.config and client.config.trace) or "off" }
  if method_calls then
    client:notify("$/setTrace", params)
  else
    client.notify("$/setTrace", params)
  end
end

--- The m21 client's workspace/applyEdit handler (see above). Returns the response.
function M._apply_edit(_, params, ctx)
  if type(params) ~= "table" or type(params.edit) ~= "table" then
    return { applied = false, failureReason = "workspace/applyEdit without an edit" }
  end
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or "utf-16"
  local doc_edits, why = text_document_edits(params.edit)
  if not doc_edits then
    return { applied = false, failureReason = why }
  end
  local reason = stale(doc_edits)
  if reason then
    flush_changes(client)
    return { applied = false, failureReason = reason }
  end
  local annotation = needs_confirmation(params.edit, doc_edits)
  if annotation then
    if M.state.preview then
      return { applied = false, failureReason = "another m21 preview is still open" }
    end
    local ok, accepted = pcall(function()
      return M.preview(M.edit_diff(doc_edits, encoding), annotation.label or params.label or "m21")
    end)
    if not ok then
      M.state.preview = nil
      return { applied = false, failureReason = "the preview failed: " .. tostring(accepted) }
    end
    if not accepted then
      return { applied = false, failureReason = "rejected in the preview" }
    end
    reason = stale(doc_edits)
    if reason then
      flush_changes(client)
      return { applied = false, failureReason = reason }
    end
  end
  for _, de in ipairs(doc_edits) do
    local bufnr = vim.uri_to_bufnr(de.textDocument.uri)
    local ok, err = pcall(util.apply_text_edits, plain_edits(de.edits), bufnr, encoding)
    if not ok then
      return { applied = false, failureReason = tostring(err) }
    end
  end
  return { applied = true }
end

-- Capabilities: what Neovim already does (versioned documentChanges) or what this plugin
-- adds (change annotations, shown by the preview), declared so the server uses them.
local function with_edit_capabilities(capabilities)
  capabilities = vim.deepcopy(capabilities)
  capabilities.workspace = capabilities.workspace or {}
  local we = capabilities.workspace.workspaceEdit or {}
  we.documentChanges = true
  we.changeAnnotationSupport = we.changeAnnotationSupport or { groupsOnLabel = false }
  capabilities.workspace.workspaceEdit = we
  capabilities.workspace.applyEdit = true
  return capabilities
end

-- Starting the server ------------------------------------------------------------------------

local function make_config(bufnr)
  local cfg = M.config
  local settings = vim.deepcopy(cfg.settings or {})
  if next(settings) == nil then
    settings = vim.empty_dict() -- an object on the wire, not an empty list
  end
  local capabilities =
    with_edit_capabilities(cfg.capabilities or vim.lsp.protocol.make_client_capabilities())
  local install = require("m21.install")
  local cmd, how = install.resolve(cfg.cmd, M.state.cmd_from_setup)
  install.state.server = { cmd = cmd, how = how }
  return {
    name = cfg.name,
    cmd = cmd,
    cmd_env = cfg.cmd_env,
    root_dir = find_root(bufnr),
    -- Settings go both ways: initializationOptions for the first request, and the `m21`
    -- section for workspace/configuration (answered from `settings` by Neovim itself).
    init_options = settings,
    settings = { m21 = settings },
    capabilities = capabilities,
    handlers = {
      ["$/progress"] = progress_handler,
      ["workspace/applyEdit"] = function(err, params, ctx, config)
        return M._apply_edit(err, params, ctx, config)
      end,
    },
    commands = {
      ["m21.explain"] = function(command, ctx)
        M._explain_action(command, ctx)
      end,
    },
    on_attach = cfg.on_attach,
    flags = { debounce_text_changes = 80 },
  }
end

-- Says once why the server cannot start and how to fix it; later buffers stay quiet.
local function start_failed(config, why)
  M.state.start_error = string.format(
    "cannot start the server `%s` (%s). Install it with :M21Install (or `pip install m21-lsp` "
      .. "in the Python environment you use, or point require('m21').setup{ cmd = {...} } at its m21-lsp); "
      .. "then run :M21Restart.",
    table.concat(config.cmd, " "),
    why
  )
  notify(M.state.start_error, vim.log.levels.WARN)
  return nil
end

--- Starts (or reuses) the server for `bufnr` and attaches it. Returns the client id.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local existing = M.get_client(bufnr)
  if existing then
    return existing.id
  end
  if M.state.start_error then
    return nil -- said once already; :M21Restart tries again
  end
  local config = make_config(bufnr)
  if vim.fn.executable(config.cmd[1]) ~= 1 then
    return start_failed(config, "it is not an executable on PATH")
  end
  if has_start then
    local id
    api.nvim_buf_call(bufnr, function()
      id = vim.lsp.start(config)
    end)
    if not id then
      return start_failed(config, "see :LspLog")
    end
    return id
  end
  local id = M.state.clients[config.root_dir]
  if id then
    local client = vim.lsp.get_client_by_id(id)
    if not client or client.is_stopped() then
      id = nil
    end
  end
  if not id then
    id = vim.lsp.start_client(config)
    if not id then
      return start_failed(config, "see :lua vim.cmd('edit ' .. vim.lsp.get_log_path())")
    end
    M.state.clients[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

-- Ranges --------------------------------------------------------------------------------------

-- Byte column -> character column in the client's position encoding.
local function encode_col(line, byte_col, encoding)
  if byte_col <= 0 then
    return 0
  end
  if byte_col > #line then
    byte_col = #line
  end
  if encoding == "utf-8" then
    return byte_col
  end
  if method_calls then
    -- 0.11 takes the encoding as an argument (the old form is deprecated there).
    return vim.str_utfindex(line, encoding, byte_col, false)
  end
  local utf32, utf16 = vim.str_utfindex(line, byte_col)
  if encoding == "utf-32" then
    return utf32
  end
  return utf16
end

local function get_line(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

--- LSP range for a command invoked with `opts` (from nvim_create_user_command).
---
--- No range: the cursor (an empty range, which the server widens to the enclosing statement,
--- function or class). A range that matches the last charwise visual selection: exactly that
--- text. Any other range: whole lines, from the first line's start to the last line's end.
function M.command_range(opts, bufnr, encoding)
  bufnr = bufnr or api.nvim_get_current_buf()
  encoding = encoding or "utf-16"
  if not opts or (opts.range or 0) == 0 then
    local cursor = api.nvim_win_get_cursor(0)
    local row = cursor[1] - 1
    local pos = { line = row, character = encode_col(get_line(bufnr, row), cursor[2], encoding) }
    return { start = pos, ["end"] = pos }
  end
  local line1, line2 = opts.line1, opts.line2
  local vstart = api.nvim_buf_get_mark(bufnr, "<")
  local vend = api.nvim_buf_get_mark(bufnr, ">")
  if vim.fn.visualmode() == "v" and vstart[1] == line1 and vend[1] == line2 then
    local srow, erow = line1 - 1, line2 - 1
    local sline, eline = get_line(bufnr, srow), get_line(bufnr, erow)
    -- '> points at the first byte of the last selected character; the LSP end is exclusive.
    local ecol = vend[2]
    if ecol < #eline then
      local lead = eline:byte(ecol + 1)
      local char_len = lead < 0x80 and 1 or lead < 0xE0 and 2 or lead < 0xF0 and 3 or 4
      ecol = ecol + char_len
    end
    return {
      start = { line = srow, character = encode_col(sline, vstart[2], encoding) },
      ["end"] = { line = erow, character = encode_col(eline, ecol, encoding) },
    }
  end
  local last = get_line(bufnr, line2 - 1)
  return {
    start = { line = line1 - 1, character = 0 },
    ["end"] = { line = line2 - 1, character = encode_col(last, #last, encoding) },
  }
end

local function buf_version(bufnr)
  local v = util.buf_versions and util.buf_versions[bufnr]
  if type(v) == "number" then
    return v
  end
  return api.nvim_buf_get_changedtick(bufnr)
end

-- Commands ------------------------------------------------------------------------------------

--- The argument object of the server's m21.refactor / m21.explain commands.
function M.command_arguments(bufnr, range, instruction)
  local args = {
    uri = vim.uri_from_bufnr(bufnr),
    version = buf_version(bufnr),
    range = range,
  }
  if instruction and instruction ~= "" then
    args.instruction = instruction
  end
  return args
end

local function with_client(bufnr)
  local client = M.get_client(bufnr)
  if client then
    return client
  end
  if M.state.start_error then
    notify(M.state.start_error, vim.log.levels.WARN)
    return nil
  end
  M.attach(bufnr)
  client = M.get_client(bufnr)
  if not client and not M.state.start_error then
    notify("the m21 server is not attached to this buffer (filetype '" ..
      vim.bo[bufnr].filetype .. "'); see :h m21", vim.log.levels.WARN)
  end
  return client
end

local function execute(bufnr, command, args, on_result, arguments)
  local client = with_client(bufnr)
  if not client then
    return
  end
  local params = { command = command, arguments = arguments or { args } }
  client_request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      -- The server already showed a message saying what to do; keep the detail here.
      notify(command .. " failed: " .. tostring(err.message or err), vim.log.levels.ERROR)
      return
    end
    M.state.last_result = result
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

-- Command results have the keys of server/m21_lsp/lsp/results.py and no others (a test
-- checks the server's real results against it): message, applied, reason, markdown...
local function summary(result)
  if type(result) ~= "table" then
    return nil
  end
  if type(result.message) == "string" and result.message ~= "" then
    return result.message
  end
  if result.applied == true then
    return "refactor applied"
  elseif result.applied == false then
    return "refactor not applied" .. (result.reason and (": " .. result.reason) or "")
  end
  return nil
end

--- :M21Refactor [instruction] — refactor the range (or the code under the cursor).
function M.refactor(opts)
  local bufnr = api.nvim_get_current_buf()
  local client = with_client(bufnr)
  if not client then
    return
  end
  local range = M.command_range(opts, bufnr, client.offset_encoding)
  local args = M.command_arguments(bufnr, range, opts and opts.args)
  execute(bufnr, "m21.refactor", args, function(result)
    -- With progress on, its end message already said how it went (and failures come as a
    -- message from the server): only say it here when progress is off.
    local text = summary(result)
    if text and not M.config.progress then
      notify(text)
    end
  end)
end

-- An explained result carries its text under `markdown` (results.py's ExplainedResult).
local function explanation_text(result)
  if type(result) == "table" and type(result.markdown) == "string" and result.markdown ~= "" then
    return result.markdown
  end
  return nil
end

--- Shows markdown in a floating window next to the cursor; returns its buffer and window.
function M.show_explanation(markdown)
  local lines = vim.split((markdown:gsub("\r\n?", "\n")), "\n", { plain = true })
  while #lines > 0 and lines[1]:match("^%s*$") do
    table.remove(lines, 1)
  end
  while #lines > 0 and lines[#lines]:match("^%s*$") do
    table.remove(lines)
  end
  if #lines == 0 then
    lines = { "(empty explanation)" }
  end
  local opts = vim.tbl_extend("force", { focus_id = "m21_explanation" }, M.config.float or {})
  local fbuf, fwin = util.open_floating_preview(lines, "markdown", opts)
  M.state.last_explanation = { markdown = markdown, bufnr = fbuf, winid = fwin }
  return fbuf, fwin
end

--- :M21Explain — explain the range (or the code under the cursor) in a floating window.
function M.explain(opts)
  local bufnr = api.nvim_get_current_buf()
  local client = with_client(bufnr)
  if not client then
    return
  end
  local range = M.command_range(opts, bufnr, client.offset_encoding)
  local args = M.command_arguments(bufnr, range, nil)
  execute(bufnr, "m21.explain", args, function(result)
    M._show_explain_result(bufnr, result)
  end)
end

--- The "Explain with m2-1" code action lands here (a client-side command handler), so that
--- picking it from vim.lsp.buf.code_action() opens the same floating window as :M21Explain.
function M._explain_action(command, ctx)
  local bufnr = ctx and ctx.bufnr or api.nvim_get_current_buf()
  execute(bufnr, "m21.explain", nil, function(result)
    M._show_explain_result(bufnr, result)
  end, command.arguments)
end

function M._show_explain_result(bufnr, result)
  local text = explanation_text(result)
  if not text then
    -- Failures were shown by the server already; anything else deserves a word.
    if type(result) ~= "table" or not result.reason then
      local why = summary(result)
      notify("no explanation" .. (why and (": " .. why) or ""), vim.log.levels.WARN)
    end
    return
  end
  -- The reply arrives asynchronously: show it where the user is now, if still in that buffer.
  if api.nvim_get_current_buf() ~= bufnr then
    notify("explanation ready: hover the selection (K) in " .. api.nvim_buf_get_name(bufnr))
    M.state.last_explanation = { markdown = text }
    return
  end
  M.show_explanation(text)
end

--- :M21Cancel — cancel every refactor or explanation still waiting for the model.
function M.cancel()
  local n = 0
  for token, client_id in pairs(M.state.running) do
    local client = vim.lsp.get_client_by_id(client_id)
    if client then
      local params = { token = token }
      if method_calls then
        client:notify("window/workDoneProgress/cancel", params)
      else
        client.notify("window/workDoneProgress/cancel", params)
      end
      n = n + 1
    end
    M.state.running[token] = nil
  end
  if n == 0 then
    notify("nothing to cancel")
  end
  return n
end

function M.define_commands()
  api.nvim_create_user_command("M21Refactor", function(opts)
    M.refactor(opts)
  end, { range = true, nargs = "?", desc = "Refactor the selection with m2-1" })
  api.nvim_create_user_command("M21Explain", function(opts)
    M.explain(opts)
  end, { range = true, nargs = 0, desc = "Explain the selection with m2-1" })
  api.nvim_create_user_command("M21Cancel", function()
    M.cancel()
  end, { nargs = 0, desc = "Cancel the running m2-1 requests" })
  api.nvim_create_user_command("M21Restart", function()
    M.restart()
  end, { nargs = 0, desc = "Restart the m21 language server" })
  require("m21.install").define_commands()
end

--- Stops every m21 client and re-attaches the Python buffers.
function M.restart()
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ name = M.config.name })
    or vim.tbl_filter(function(c)
      return c.name == M.config.name
    end, vim.lsp.get_active_clients())
  for _, client in ipairs(clients) do
    if method_calls then
      client:stop()
    else
      client.stop()
    end
  end
  M.state.clients = {}
  M.state.start_error = nil
  vim.defer_fn(M.attach_all, 500)
end

local function wanted(bufnr)
  return vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
end

function M.attach_all()
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and wanted(bufnr) then
      M.attach(bufnr)
    end
  end
end

--- require("m21").setup{ cmd = {...}, settings = {...}, ... }
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- Lists replace, they do not merge index by index.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts and opts[key] then
      M.config[key] = opts[key]
    end
  end
  M.state.cmd_from_setup = opts ~= nil and opts.cmd ~= nil
  M.state.setup_done = true
  M.define_commands()
  local group = api.nvim_create_augroup("m21", { clear = true })
  api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
  })
  M.attach_all()
end

return M
