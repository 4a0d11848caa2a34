-- What every one-shot headless script ends with: its table `out`, with how the checks went
-- (`ok`, `err` from pcall), written as JSON to $M21_RESULT; then Neovim quits.
-- Loaded with dofile($M21_REPO .. "/tests/editors/nvim/result.lua").
return function(out, ok, err)
  out.ok = ok
  out.error = err and tostring(err) or vim.NIL
  local fh = assert(io.open(os.getenv("M21_RESULT"), "w"))
  fh:write(vim.fn.json_encode(out))
  fh:close()
  vim.cmd("qall!")
end
