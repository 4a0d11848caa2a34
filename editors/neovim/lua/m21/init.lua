-- m21: Neovim client for the m21-lsp language server (refactor / explain with m2-1).
--
-- Works on Neovim 0.7 and newer. The heavy lifting (model call, validation, safe edits) is
-- the server's; the plugin turns a Vim range into an LSP range, runs the server's commands
-- and shows their results. This file is the public API only; each job has its module:
--
--   m21.config    defaults, checks of setup{}, the merge, the settings sent to the server
--   m21.client    starting the server, attaching buffers, capabilities, root
--   m21.range     Vim range -> LSP range in the client's position encoding
--   m21.ui        messages, progress, the explanation window, the edit preview
--   m21.edit      the workspace/applyEdit handler (stale edits, confirmation)
--   m21.commands  :M21Refactor, :M21Explain, :M21Cancel, :M21Restart
--   m21.install   :M21Install and which m21-lsp to start;  m21.health  :checkhealth m21
--
-- The config and state live here, on the public table, because tests, statuslines and the
-- modules above read them from it; functions a test may wrap (format_progress, _apply_edit)
-- are always called through this table.

local config = require("m21.config")
local client = require("m21.client")
local range = require("m21.range")
local ui = require("m21.ui")
local edit = require("m21.edit")
local commands = require("m21.commands")

local M = {}

M.defaults = config.defaults
M.config = vim.deepcopy(config.defaults)

-- State that tests and statuslines may read.
M.state = {
  clients = {}, -- root_dir -> client id (0.7 path only)
  start_error = nil, -- why the server could not start, shown once
  last_explanation = nil, -- { markdown = string, bufnr = number, winid = number }
  last_result = nil, -- the last command result table from the server
  running = {}, -- progress token -> client id, while the work can still be cancelled
  setup_problems = {}, -- what setup{} was given that is wrong (also shown as an error)
}

--- The m21 client attached to `bufnr`, or nil.
M.get_client = client.get_client
--- Starts (or reuses) the server for `bufnr` and attaches it. Returns the client id.
M.attach = client.attach
M.attach_all = client.attach_all
--- Stops every m21 client and re-attaches the buffers.
M.restart = client.restart

--- LSP range for a command's `opts` (see m21.range.command_range).
M.command_range = range.command_range
--- The argument object of the server's m21.refactor / m21.explain commands.
M.command_arguments = commands.command_arguments

--- Formats one $/progress value for the message area; exposed for tests.
M.format_progress = ui.format_progress
M.show_explanation = ui.show_explanation
M.preview = ui.preview
M._show_explain_result = ui.show_explain_result

M.edit_diff = edit.edit_diff
--- The m21 client's workspace/applyEdit handler. Returns the response.
M._apply_edit = edit.apply_edit

M.refactor = commands.refactor
M.explain = commands.explain
M._explain_action = commands.explain_action
M.cancel = commands.cancel
M.define_commands = commands.define_commands

--- require("m21").setup{ cmd = {...}, settings = {...}, actions = {...}, ... }
function M.setup(opts)
  local problems
  M.config, problems = config.merge(opts)
  M.state.setup_problems = problems
  if #problems > 0 then
    ui.notify(
      "setup{}: " .. table.concat(problems, "; ") .. " (see :h m21-setup)",
      vim.log.levels.ERROR
    )
  end
  -- A cmd that failed its check fell back to the default: resolve it as if none was given.
  M.state.cmd_from_setup = type(opts) == "table" and opts.cmd ~= nil and M.config.cmd == opts.cmd
  M.state.setup_done = true
  M.define_commands()
  local group = vim.api.nvim_create_augroup("m21", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
  })
  M.attach_all()
end

return M
