-- m21.ui: what the user sees: messages, $/progress in the message area, the explanation's
-- floating window and the modal diff preview that confirms an edit.
--
-- The config and state live on require("m21") (tests and statuslines read them there), and
-- the progress handler calls require("m21").format_progress so that a wrapper set on the
-- public module is the one used.

local U = {}

local api = vim.api
local util = vim.lsp.util

local function m21()
  return require("m21")
end

function U.notify(msg, level)
  vim.notify("m21: " .. msg, level or vim.log.levels.INFO)
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

--- Formats one $/progress value for the message area.
function U.format_progress(token, value)
  if type(value) ~= "table" then
    return nil
  end
  if value.kind == "begin" then
    progress_titles[token] = value.title
  end
  local title = progress_titles[token] or "m2-1"
  local parts = { "[" .. m21().config.name .. "] " .. title }
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

-- Work that can still be cancelled goes to state.running: token -> client id.
local function track(result, ctx)
  local value = result.value
  if type(value) ~= "table" then
    return
  end
  local running = m21().state.running
  if value.kind == "begin" and value.cancellable then
    running[result.token] = ctx.client_id
  elseif value.kind == "report" and value.cancellable == false then
    running[result.token] = nil -- past the point of no return (applying the edit)
  elseif value.kind == "end" then
    running[result.token] = nil
  end
end

--- The m21 client's $/progress handler.
function U.progress_handler(err, result, ctx, config)
  -- Keep whatever the user (or Neovim) does with progress, then echo ours.
  local default = vim.lsp.handlers["$/progress"]
  if default then
    pcall(default, err, result, ctx, config)
  end
  if result then
    track(result, ctx)
  end
  if not m21().config.progress or not result then
    return
  end
  local text = m21().format_progress(result.token, result.value)
  if text then
    -- Only the outcome goes to :messages; the ticks would flood it.
    echo(text, type(result.value) == "table" and result.value.kind == "end")
  end
end

-- Results -----------------------------------------------------------------------------------

-- Command results have the keys of server/m21_lsp/lsp/results.py and no others (a test
-- checks the server's real results against it): message, applied, reason, markdown...
function U.summary(result)
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

-- An explained result carries its text under `markdown` (results.py's ExplainedResult).
local function explanation_text(result)
  if type(result) == "table" and type(result.markdown) == "string" and result.markdown ~= "" then
    return result.markdown
  end
  return nil
end

--- Shows markdown in a floating window next to the cursor; returns its buffer and window.
function U.show_explanation(markdown)
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
  local opts = vim.tbl_extend("force", { focus_id = "m21_explanation" }, m21().config.float or {})
  local fbuf, fwin = util.open_floating_preview(lines, "markdown", opts)
  m21().state.last_explanation = { markdown = markdown, bufnr = fbuf, winid = fwin }
  return fbuf, fwin
end

--- Shows an m21.explain result for `bufnr`: the window, or a word on why there is none.
function U.show_explain_result(bufnr, result)
  local text = explanation_text(result)
  if not text then
    -- Failures were shown by the server already; anything else deserves a word.
    if type(result) ~= "table" or not result.reason then
      local why = U.summary(result)
      U.notify("no explanation" .. (why and (": " .. why) or ""), vim.log.levels.WARN)
    end
    return
  end
  -- The reply arrives asynchronously: show it where the user is now, if still in that buffer.
  if api.nvim_get_current_buf() ~= bufnr then
    U.notify("explanation ready: hover the selection (K) in " .. api.nvim_buf_get_name(bufnr))
    m21().state.last_explanation = { markdown = text }
    return
  end
  m21().show_explanation(text)
end

-- Confirming an edit ------------------------------------------------------------------------

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
function U.preview(lines, title)
  local defaults = m21().defaults.preview
  local cfg = m21().config.preview or defaults
  local accept = cfg.accept or defaults.accept
  local reject = cfg.reject or defaults.reject
  local hint = string.format("%s: %s accept, %s reject, j/k scroll", title, accept[1], reject[1])
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
  local state = m21().state
  state.preview = { bufnr = buf, winid = win, lines = shown, decided = nil }
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
  state.preview = nil
  state.last_preview = { lines = shown, accepted = decision }
  return decision
end

return U
