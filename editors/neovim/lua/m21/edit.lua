-- m21.edit: applying the server's workspace edits.
--
-- Neovim's own workspace/applyEdit handler skips a TextDocumentEdit for an older version of
-- the buffer but still answers applied = true, checks only the first edit of a list, and
-- never checks version 0. This one checks every edit before changing anything, answers
-- applied = false with the reason when the buffer is newer, and shows the change as a diff
-- first when the server asks for confirmation (its confirmEdits setting).

local E = {}

local api = vim.api
local util = vim.lsp.util

local method_calls = vim.fn.has("nvim-0.11") == 1

local function m21()
  return require("m21")
end

-- The edit's TextDocumentEdits, and its CreateFile operations (an action with a `target`
-- writes to a new file: CreateFile, then a TextDocumentEdit that inserts into it). The server
-- sends no rename or delete; one that came would be refused, not half-applied.
local function text_document_edits(edit)
  local out, creates = {}, {}
  if edit.documentChanges then
    for _, change in ipairs(edit.documentChanges) do
      if change.kind == "create" and type(change.uri) == "string" then
        table.insert(creates, change)
      elseif change.kind then
        return nil, "m21 takes no file operations but create (" .. tostring(change.kind) .. ")"
      else
        table.insert(out, change)
      end
    end
  elseif edit.changes then
    for uri, edits in pairs(edit.changes) do
      table.insert(out, { textDocument = { uri = uri }, edits = edits })
    end
  end
  return out, nil, creates
end

-- Creates the files of CreateFile operations (empty, as the LSP says; the text comes in the
-- TextDocumentEdit that follows). An existing file is kept unless `overwrite` is set.
local function create_files(creates)
  for _, op in ipairs(creates) do
    local path = vim.uri_to_fname(op.uri)
    local options = op.options or {}
    local bufnr = vim.fn.bufadd(path)
    local missing = vim.loop.fs_stat(path) == nil
    -- A buffer already open on a file not written yet stands for it: writing the file under it
    -- would make its next :write fail with E13, so it is filled and written by the user.
    if (missing and not api.nvim_buf_is_loaded(bufnr)) or (options.overwrite and not missing) then
      vim.fn.mkdir(vim.fn.fnamemodify(path, ":h"), "p")
      local fh, err = io.open(path, "w")
      if not fh then
        return "cannot create " .. path .. ": " .. tostring(err)
      end
      fh:close()
    end
    vim.fn.bufload(bufnr)
    vim.bo[bufnr].buflisted = true
  end
  return nil
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
  local lsp_version = require("m21.range").lsp_version
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

-- The buffer's lines, loading it when needed; a file that does not exist yet (an action's
-- target, before CreateFile) is one empty line and stays unloaded, so that creating it
-- later leaves a buffer that knows the file is there.
local function buffer_lines(bufnr)
  if not api.nvim_buf_is_loaded(bufnr) then
    if vim.loop.fs_stat(api.nvim_buf_get_name(bufnr)) == nil then
      return { "" }
    end
    vim.fn.bufload(bufnr)
  end
  return api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

-- Whether `edits` add text ending in a newline at the very end of the buffer: after its last
-- line, or into an empty file (a target action appends so). Vim keeps the file's final newline
-- outside the lines, so such text leaves one empty line too many, which Neovim 0.11's
-- apply_text_edits does not remove for an insert after the last line (0.7's does).
local function appends_at_end(bufnr, edits)
  local lines = buffer_lines(bufnr)
  local count = #lines
  local unchanged = not api.nvim_buf_is_loaded(bufnr) or not vim.bo[bufnr].modified
  local empty_file = count == 1 and lines[1] == "" and unchanged
    and vim.fn.getfsize(api.nvim_buf_get_name(bufnr)) <= 0
  if lines[count] == "" and not empty_file then
    return false -- the file ends with a blank line of its own; leave it as it is
  end
  for _, e in ipairs(edits) do
    local ends_nl = type(e.newText) == "string" and e.newText:sub(-1) == "\n"
    if ends_nl and (e.range.start.line >= count or empty_file) then
      return true
    end
  end
  return false
end

local function drop_extra_last_line(bufnr)
  local count = api.nvim_buf_line_count(bufnr)
  local last = api.nvim_buf_get_lines(bufnr, count - 1, count, false)[1]
  local eol = vim.bo[bufnr].eol or (vim.bo[bufnr].fixeol and not vim.bo[bufnr].binary)
  if count > 1 and last == "" and eol then
    api.nvim_buf_set_lines(bufnr, count - 1, count, false, {})
  end
end

-- The buffer's lines after `edits`, computed on a scratch copy.
local function lines_after(bufnr, edits, encoding)
  local scratch = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(scratch, 0, -1, false, buffer_lines(bufnr))
  local appends = appends_at_end(bufnr, edits)
  util.apply_text_edits(plain_edits(edits), scratch, encoding)
  if appends then
    drop_extra_last_line(scratch)
  end
  local lines = api.nvim_buf_get_lines(scratch, 0, -1, false)
  api.nvim_buf_delete(scratch, { force = true })
  return lines
end

local text_diff = (vim.text and vim.text.diff) or vim.diff

--- The diff lines of `doc_edits` (a list of TextDocumentEdit), one file after another.
function E.edit_diff(doc_edits, encoding)
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
function E.apply_edit(_, params, ctx)
  if type(params) ~= "table" or type(params.edit) ~= "table" then
    return { applied = false, failureReason = "workspace/applyEdit without an edit" }
  end
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or "utf-16"
  local doc_edits, why, creates = text_document_edits(params.edit)
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
    local state = m21().state
    if state.preview then
      return { applied = false, failureReason = "another m21 preview is still open" }
    end
    local ok, accepted = pcall(function()
      return m21().preview(m21().edit_diff(doc_edits, encoding), annotation.label or params.label or "m21")
    end)
    if not ok then
      state.preview = nil
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
  local failed = create_files(creates)
  if failed then
    return { applied = false, failureReason = failed }
  end
  for _, de in ipairs(doc_edits) do
    local bufnr = vim.uri_to_bufnr(de.textDocument.uri)
    if not api.nvim_buf_is_loaded(bufnr) then
      vim.fn.bufload(bufnr)
    end
    local appends = appends_at_end(bufnr, de.edits)
    local ok, err = pcall(util.apply_text_edits, plain_edits(de.edits), bufnr, encoding)
    if not ok then
      return { applied = false, failureReason = tostring(err) }
    end
    if appends then
      drop_extra_last_line(bufnr)
    end
  end
  return { applied = true }
end

return E
