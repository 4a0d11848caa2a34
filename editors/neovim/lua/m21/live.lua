-- m21.live: the work as it arrives (docs/preview.md), for Neovim 0.7 and newer.
--
-- The server sends `m21/preview` to clients that declare experimental.m21Preview (this plugin
-- does unless setup{ live = false }): full snapshots, about ten a second at most, then `done`
-- or `cleared`. This module shows them in floating windows that never take the focus:
--
--   explain   the markdown so far, in a float beside the cursor; on `done` it closes and the
--             usual explanation window (m21.ui) opens with the final text;
--   refactor  the new code so far, in a float beside the selection (over it when the window
--             is too narrow), titled "m2-1 is writing…"; closed on `done` (the confirm diff
--             and the edit follow through workspace/applyEdit, as always) or `cleared`.
--
-- Nothing here touches the buffer: the floats show scratch buffers of their own.

local L = {}

local api = vim.api

local function m21()
  return require("m21")
end

-- id -> { kind, bufnr (the float's), winid, source (the edited buffer) }
L.views = {}

local function close(id)
  local view = L.views[id]
  if not view then
    return
  end
  L.views[id] = nil
  if view.winid and api.nvim_win_is_valid(view.winid) then
    pcall(api.nvim_win_close, view.winid, true)
  end
  if view.bufnr and api.nvim_buf_is_valid(view.bufnr) then
    pcall(api.nvim_buf_delete, view.bufnr, { force = true })
  end
end

function L.close_all()
  for id in pairs(L.views) do
    close(id)
  end
end

local function split_lines(text)
  local lines = vim.split((text:gsub("\r\n?", "\n")), "\n", { plain = true })
  if #lines > 1 and lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

local function source_buffer(uri)
  local ok, bufnr = pcall(vim.uri_to_bufnr, uri)
  if ok and api.nvim_buf_is_loaded(bufnr) then
    return bufnr
  end
  return nil
end

-- Where the float goes: beside the selection in the window showing it, else over it, else
-- centred in the editor (the buffer is not on screen).
local function placement(params, width, height)
  local source = source_buffer(params.uri)
  local winid = source and vim.fn.bufwinid(source) or -1
  local float = m21().config.float or {}
  local border = float.border or "rounded"
  if winid ~= -1 then
    local first = params.range.start.line
    local last = math.max(first, params.range["end"].line - 1)
    local widest = 0
    for _, line in ipairs(api.nvim_buf_get_lines(source, first, last + 1, false)) do
      widest = math.max(widest, vim.fn.strdisplaywidth(line))
    end
    local win_width = api.nvim_win_get_width(winid)
    local col = widest + 4
    if col + width + 2 > win_width then
      col = 0
      width = math.min(width, math.max(win_width - 2, 20))
    end
    return {
      relative = "win",
      win = winid,
      bufpos = { first, 0 },
      row = 0,
      col = col,
      width = width,
      height = height,
      style = "minimal",
      border = border,
      focusable = false,
      zindex = 45,
    }
  end
  return {
    relative = "editor",
    row = 1,
    col = math.max(0, vim.o.columns - width - 4),
    width = width,
    height = height,
    style = "minimal",
    border = border,
    focusable = false,
    zindex = 45,
  }
end

local function show(params, lines, filetype)
  local float = m21().config.float or {}
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width, float.max_width or 100, math.max(vim.o.columns - 4, 20))
  local height = math.max(1, math.min(#lines, float.max_height or 40, math.max(vim.o.lines - 4, 1)))
  local view = L.views[params.id]
  if not view then
    local bufnr = api.nvim_create_buf(false, true)
    vim.bo[bufnr].bufhidden = "wipe"
    view = { kind = params.kind, bufnr = bufnr, source = source_buffer(params.uri) }
    L.views[params.id] = view
  end
  vim.bo[view.bufnr].modifiable = true
  api.nvim_buf_set_lines(view.bufnr, 0, -1, false, lines)
  vim.bo[view.bufnr].modifiable = false
  -- 'syntax', not 'filetype': a filetype would fire FileType autocmds, and the plugin's own
  -- would attach the language server to this scratch buffer.
  if vim.bo[view.bufnr].syntax ~= filetype then
    vim.bo[view.bufnr].syntax = filetype
  end
  local opts = placement(params, width, height)
  if view.winid and api.nvim_win_is_valid(view.winid) then
    api.nvim_win_set_config(view.winid, opts)
  else
    view.winid = api.nvim_open_win(view.bufnr, false, opts)
    vim.wo[view.winid].wrap = params.kind == "explain"
  end
  -- The newest line in sight while the model writes.
  pcall(api.nvim_win_set_cursor, view.winid, { #lines, 0 })
end

--- The `m21/preview` handler (a notification: the return value is ignored).
function L.handle(_, params)
  if type(params) ~= "table" or type(params.id) ~= "string" or type(params.text) ~= "string" then
    return
  end
  if type(params.range) ~= "table" or type(params.range.start) ~= "table" then
    return
  end
  if params.state ~= "streaming" then
    -- done: the answer (explanation window, confirm diff, edit) follows at once;
    -- cleared: cancel, failure or no change.
    close(params.id)
    return
  end
  if params.text == "" then
    return
  end
  local lines = split_lines(params.text)
  if params.kind == "refactor" then
    local source = source_buffer(params.uri)
    local filetype = source and vim.bo[source].filetype or ""
    table.insert(lines, 1, "m2-1 is writing… (not applied yet)")
    show(params, lines, filetype)
  elseif params.kind == "explain" then
    show(params, lines, "markdown")
  end
  m21().state.live = { id = params.id, kind = params.kind, lines = lines }
end

--- True when `winid` is one of the live floats (so tests can tell them from the answer's).
function L.is_live(winid)
  for _, view in pairs(L.views) do
    if view.winid == winid then
      return true
    end
  end
  return false
end

--- The lines a live float shows now (tests and statuslines), or nil.
function L.lines(kind)
  for _, view in pairs(L.views) do
    if view.kind == kind and api.nvim_buf_is_valid(view.bufnr) then
      return api.nvim_buf_get_lines(view.bufnr, 0, -1, false)
    end
  end
  return nil
end

return L
