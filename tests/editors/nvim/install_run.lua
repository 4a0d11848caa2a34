-- Headless driver for tests/editors/test_neovim_install.py, run with -c after the user's own
-- init (the README's init.lua, or the lazy.nvim stand-in): it only acts as the user would
-- (open a file, :'<,'>M21Refactor, :write, :checkhealth m21) and records what it saw in
-- $M21_RESULT as JSON; the Python test decides pass or fail.
--
-- Inputs (environment): M21_FILE, M21_RESULT, M21_RANGE ("first,last"), M21_INSTRUCTION,
-- M21_WAIT_MS.

local api = vim.api
local WAIT_MS = tonumber(os.getenv("M21_WAIT_MS") or "") or 30000
local v = vim.version()
local result = { nvim_version = string.format("%d.%d.%d", v.major, v.minor, v.patch), steps = {} }

local function save()
  local fh = assert(io.open(os.getenv("M21_RESULT"), "w"))
  fh:write(vim.fn.json_encode(result))
  fh:close()
end

local function wait_for(what, condition)
  if not vim.wait(WAIT_MS, condition, 20) then
    error("timed out after " .. WAIT_MS .. " ms waiting for " .. what, 0)
  end
end

local function scenario()
  local m21 = require("m21")
  local install = require("m21.install")
  -- The edit preview (confirmEdits): answered "a" (accept) as a user would.
  local answered = nil
  vim.loop.new_timer():start(20, 20, vim.schedule_wrap(function()
    local shown = m21.state.preview
    if shown and shown ~= answered then
      answered = shown
      api.nvim_input("a")
    end
  end))

  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("M21_FILE")))
  local bufnr = api.nvim_get_current_buf()
  wait_for("the server to attach and initialize", function()
    local client = m21.get_client(bufnr)
    return client ~= nil and client.server_capabilities ~= nil and next(client.server_capabilities) ~= nil
  end)
  table.insert(result.steps, "attached")
  result.server = install.state.server
  result.client_cmd = m21.get_client(bufnr).config.cmd

  local first, last = os.getenv("M21_RANGE"):match("^(%d+),(%d+)$")
  m21.state.last_result = nil
  vim.cmd(string.format("%d,%dM21Refactor %s", first, last, os.getenv("M21_INSTRUCTION")))
  wait_for("the :M21Refactor command's answer", function()
    return m21.state.last_result ~= nil
  end)
  result.command_result = m21.state.last_result
  vim.cmd("write")
  table.insert(result.steps, "refactored")

  vim.cmd("checkhealth m21")
  result.health = api.nvim_buf_get_lines(0, 0, -1, false)
  table.insert(result.steps, "checkhealth")
end

local ok, err = pcall(scenario)
result.ok = ok
result.error = ok and vim.NIL or tostring(err)
result.messages = vim.fn.execute("messages")
save()
vim.cmd(ok and "qall!" or "cquit!")
