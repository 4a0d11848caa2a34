-- Commands exist as soon as the plugin is on 'runtimepath'; the server itself starts only
-- after require("m21").setup{} (so users choose cmd and settings first).
if vim.g.loaded_m21 then
  return
end
vim.g.loaded_m21 = true
require("m21").define_commands()
