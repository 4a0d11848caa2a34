-- :checkhealth m21 — which server the plugin starts, how it found it, and whether it runs.
--
-- The question users have when nothing happens is "which m21-lsp is this, and does it work?",
-- so this answers that first, then what `m21-lsp doctor` says about the settings and the
-- endpoint (bounded, since doctor makes one HTTP request).

local M = {}

local DOCTOR_MS = 8000

-- Neovim 0.7-0.9 have require("health").report_*; 0.10+ have vim.health.start/ok/...
local function reporter()
  local h = vim.health
  if h and h.start then
    return h
  end
  local old = require("health")
  return {
    start = old.report_start,
    ok = old.report_ok,
    warn = old.report_warn,
    error = old.report_error,
    info = old.report_info,
  }
end

-- Runs cmd with env added, at most timeout_ms; returns exit code (nil on timeout) and output.
local function run(cmd, env, timeout_ms)
  local lines, code = {}, nil
  local function collect(_, data)
    for _, line in ipairs(data or {}) do
      if line ~= "" then
        table.insert(lines, line)
      end
    end
  end
  local ok, job = pcall(vim.fn.jobstart, cmd, {
    env = env,
    on_stdout = collect,
    on_stderr = collect,
    on_exit = function(_, c)
      code = c
    end,
  })
  if not ok or job <= 0 then
    return -1, { "cannot run " .. cmd[1] }
  end
  if not vim.wait(timeout_ms, function()
    return code ~= nil
  end, 20) then
    vim.fn.jobstop(job)
    return nil, lines
  end
  return code, lines
end

function M.check()
  local health = reporter()
  local m21 = require("m21")
  local install = require("m21.install")
  local cfg = m21.config

  health.start("m21: the server")
  local cmd, how = install.resolve(cfg.cmd, m21.state.cmd_from_setup)
  local exe = cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    health.error(
      string.format("no server: `%s` is not executable (%s)", exe, how),
      { "run :M21Install, or pip install m21-lsp and put its m21-lsp on PATH, or setup{ cmd = {...} }" }
    )
  else
    health.ok(string.format("server: %s (found via %s)", table.concat(cmd, " "), how))
    local code, out = run({ exe, "--version" }, cfg.cmd_env, 5000)
    if code == 0 then
      health.ok("version: " .. (out[1] or "?"))
    else
      health.warn(string.format("`%s --version` failed: %s", exe, table.concat(out, " ")))
    end
  end
  if m21.state.start_error then
    health.error(m21.state.start_error)
  end
  local running = install.state.server
  if running and running.cmd[1] ~= exe then
    health.info("the running server was started as: " .. table.concat(running.cmd, " "))
  end
  if #(m21.state.setup_problems or {}) > 0 then
    for _, problem in ipairs(m21.state.setup_problems) do
      health.error("setup{}: " .. problem, { "see :h m21-setup" })
    end
  end
  health.info("filetypes: " .. table.concat(cfg.filetypes or {}, ", "))
  local titles = {}
  for _, action in ipairs(cfg.actions or {}) do
    table.insert(titles, type(action) == "string" and action or action.title)
  end
  if #titles > 0 then
    health.info("your actions (sent as the m21 setting `actions`): " .. table.concat(titles, ", "))
  end
  local source, from = install.default_source()
  health.info(string.format("private venv: %s; :M21Install installs from %s (%s)", install.venv_dir(), source, from))
  if install.state.message then
    health.info("last :M21Install: " .. install.state.message)
  end

  health.start("m21: m21-lsp doctor (settings and endpoint)")
  if vim.fn.executable(exe) ~= 1 or cmd[2] ~= "serve" then
    health.info("skipped: the server command is not an m21-lsp executable")
    return
  end
  health.info("doctor reads the environment and cmd_env, not setup{ settings }")
  local code, out = run({ exe, "doctor" }, cfg.cmd_env, DOCTOR_MS)
  -- Everything doctor prints: its verdicts one per line, the effective settings (indented
  -- lines, "name: value", the key only as set/unset) gathered into one line.
  local effective = {}
  for _, line in ipairs(out) do
    if line:match("^%s") then
      table.insert(effective, vim.trim(line))
    else
      health.info(line)
    end
  end
  if #effective > 0 then
    health.info("effective settings (environment and cmd_env): " .. table.concat(effective, "; "))
  end
  if code == nil then
    health.warn(string.format("doctor did not finish within %d ms", DOCTOR_MS))
  elseif code == 0 then
    health.ok("doctor: the settings are valid and the endpoint answers")
  else
    health.warn("doctor exited " .. code .. ": see above (the key is never shown)")
  end
end

return M
