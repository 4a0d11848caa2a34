-- Headless check of setup{}: what the plugin makes of the given actions (the problems it
-- reports, the settings it would send) without starting a server. Writes JSON to $M21_RESULT.

vim.opt.runtimepath:prepend(os.getenv("M21_REPO") .. "/editors/neovim")
local messages = {}
vim.notify = function(msg, level)
  table.insert(messages, { msg = msg, level = level })
end

local out = {}
local ok, err = pcall(function()
  local m21 = require("m21")
  m21.setup({
    cmd = { "/nonexistent/m21-lsp", "serve", "--stdio" },
    settings = { modelLabel = "X" },
    actions = vim.fn.json_decode(os.getenv("M21_ACTIONS")),
  })
  out.problems = m21.state.setup_problems
  out.messages = messages
  out.filetypes = m21.config.filetypes
  local config = require("m21.client").make_config(vim.api.nvim_get_current_buf())
  out.init_options = config.init_options
  out.settings = config.settings
  out.language_ids = {}
  for _, filetype in ipairs({ "sh", "bash", "python", "typescriptreact", "cpp" }) do
    out.language_ids[filetype] = config.get_language_id(0, filetype)
  end
end)
dofile(os.getenv("M21_REPO") .. "/tests/editors/nvim/result.lua")(out, ok, err)
