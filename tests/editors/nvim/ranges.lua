-- Headless driver for test_neovim.py::test_plugin_ranges: make real selections in a buffer and
-- record the LSP range the plugin computes for each. The test computes the expected ranges in
-- Python, independently.
--
-- Inputs (environment): M21_REPO, M21_FILE, M21_CASES (JSON list), M21_RESULT.
-- A case is { mode = "v" | "V" | "cursor", start = {line, byte}, ["end"] = {line, byte},
-- encoding = "utf-8" | "utf-16" | "utf-32" } with 1-based lines and 0-based byte columns;
-- "end" is the byte of the last selected character (as Vim's '> mark).

local api = vim.api
vim.opt.runtimepath:prepend(os.getenv("M21_REPO") .. "/editors/neovim")
local m21 = require("m21")

local function byte_offset(line, col)
  -- 0-based byte offset in the buffer of (1-based line, 0-based byte column).
  return vim.fn.line2byte(line) - 1 + col
end

local function run()
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("M21_FILE")))
  local out = {}
  for _, case in ipairs(vim.fn.json_decode(os.getenv("M21_CASES"))) do
    local s, e = case.start, case["end"]
    api.nvim_win_set_cursor(0, { s[1], s[2] })
    local opts
    if case.mode == "cursor" then
      opts = { range = 0 }
    else
      -- `go` moves to a byte offset (1-based), so the selection ends exactly on that byte.
      vim.cmd(string.format("normal! %s%dgo\27", case.mode, byte_offset(e[1], e[2]) + 1))
      opts = { range = 2, line1 = s[1], line2 = e[1] }
    end
    table.insert(out, m21.command_range(opts, 0, case.encoding))
  end
  return out
end

vim.schedule(function()
  local ok, res = pcall(run)
  local fh = assert(io.open(os.getenv("M21_RESULT"), "w"))
  fh:write(vim.fn.json_encode({ ok = ok, ranges = ok and res or vim.NIL, error = not ok and tostring(res) or vim.NIL }))
  fh:close()
  vim.cmd(ok and "qall!" or "cquit!")
end)
