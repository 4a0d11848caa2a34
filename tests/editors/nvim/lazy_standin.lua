-- A stand-in for lazy.nvim (which is not on any package registry this suite may use), used as
-- -u by tests/editors/test_neovim_install.py. It does with the README's spec file what
-- lazy.nvim documents for the keys that spec uses: `dir` (expanded) goes on the runtime path
-- and its plugin/ files are sourced, `build` runs (a ":cmd" string as an Ex command, a function
-- called), then `config` is called. Any other key fails, so the README cannot grow a key the
-- stand-in would silently ignore.

local spec = dofile(vim.fn.expand("~/.config/nvim/lua/plugins/m21.lua"))
local known = { dir = true, build = true, config = true }
for key in pairs(spec) do
  assert(known[key], "the lazy.nvim stand-in does not know the spec key '" .. tostring(key) .. "'")
end
local dir = vim.fn.expand(spec.dir)
assert(vim.fn.isdirectory(dir) == 1, "spec.dir is not a directory: " .. dir)
vim.opt.runtimepath:prepend(dir)
for _, file in ipairs(vim.fn.glob(dir .. "/plugin/**/*.lua", false, true)) do
  vim.cmd("source " .. vim.fn.fnameescape(file))
end
if type(spec.build) == "string" then
  assert(spec.build:sub(1, 1) == ":", "a string build step must be an Ex command (':...')")
  vim.cmd(spec.build:sub(2))
elseif type(spec.build) == "function" then
  spec.build()
end
if spec.config then
  spec.config()
end
