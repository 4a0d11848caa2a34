-- m21.range: a Vim range (visual selection, command range or cursor) as an LSP range, with
-- columns in the client's position encoding (UTF-16 on 0.7, often UTF-8 on current Neovim).
--
-- Vim columns are bytes; the server counts characters in the negotiated encoding, so a
-- selection after "é" or an emoji is only right when every column goes through encode_col.

local R = {}

local api = vim.api
local util = vim.lsp.util

local new_utfindex = vim.fn.has("nvim-0.11") == 1

--- Byte column -> character column in `encoding` ("utf-8", "utf-16" or "utf-32").
function R.encode_col(line, byte_col, encoding)
  if byte_col <= 0 then
    return 0
  end
  if byte_col > #line then
    byte_col = #line
  end
  if encoding == "utf-8" then
    return byte_col
  end
  if new_utfindex then
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
function R.command_range(opts, bufnr, encoding)
  bufnr = bufnr or api.nvim_get_current_buf()
  encoding = encoding or "utf-16"
  local encode_col = R.encode_col
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

--- The version the server knows `bufnr` by: the one Neovim sent in didChange, else the
--- changedtick (a buffer not attached yet).
function R.buf_version(bufnr)
  local v = R.lsp_version(bufnr)
  if v then
    return v
  end
  return api.nvim_buf_get_changedtick(bufnr)
end

--- The version Neovim sent in didChange (b:changedtick), or nil for a buffer not attached.
function R.lsp_version(bufnr)
  local v = util.buf_versions and util.buf_versions[bufnr]
  if type(v) == "number" then
    return v
  end
  return nil
end

return R
