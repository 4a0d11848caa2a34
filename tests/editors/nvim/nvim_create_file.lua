-- Headless check of the plugin's workspace/applyEdit handler for an action with a target:
-- a CreateFile followed by a TextDocumentEdit inserting into the new file, as docs/actions.md
-- says the server sends it. No server: the edit is handed to the handler as the server would.
-- Writes JSON to $M21_RESULT.

vim.opt.runtimepath:prepend(os.getenv("M21_REPO") .. "/editors/neovim")
local out = {}
local ok, err = pcall(function()
  local m21 = require("m21")
  m21.setup({ cmd = { "/nonexistent/m21-lsp", "serve", "--stdio" } })
  local uri = vim.uri_from_fname(os.getenv("M21_TARGET"))
  local edit = vim.fn.json_decode(os.getenv("M21_EDIT"))
  -- The test writes the uri as a placeholder; the path is known only here (vim's uri form).
  for _, change in ipairs(edit.documentChanges) do
    if change.uri == "TARGET" then
      change.uri = uri
    end
    if change.textDocument and change.textDocument.uri == "TARGET" then
      change.textDocument.uri = uri
    end
  end
  out.response = m21._apply_edit(nil, { edit = edit }, { client_id = 0 })
  local bufnr = vim.uri_to_bufnr(uri)
  out.buffer = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.exists_before_write = vim.loop.fs_stat(os.getenv("M21_TARGET")) ~= nil
  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd("silent write")
  end)
end)
dofile(os.getenv("M21_REPO") .. "/tests/editors/nvim/result.lua")(out, ok, err)
