-- m21.install: puts the server into a private venv under Neovim's data directory, and finds it.
--
-- Why a private venv: the server needs Python 3.10+ and four packages; installing them into
-- whatever Python is on PATH clashes with projects, and asking users for a pipx step is one
-- more thing to get wrong. :M21Install makes stdpath("data")/m21/venv and pip-installs the
-- server there; the plugin then uses that server before any m21-lsp on PATH.
--
-- Works on Neovim 0.7+ (jobstart, vim.wait; no vim.system, which is 0.10+).

local M = {}

local is_windows = vim.fn.has("win32") == 1

M.state = {
  running = false,
  ok = nil, -- true/false once an install has finished
  message = nil, -- what the last install said to the user
  log = {}, -- pip's output of the last install, for :checkhealth and errors
  server = nil, -- { cmd = {...}, how = "..." }: the server the plugin last started
}

local function notify(msg, level)
  vim.notify("m21: " .. msg, level or vim.log.levels.INFO)
end

--- The private venv: stdpath("data")/m21/venv.
function M.venv_dir()
  return vim.fn.stdpath("data") .. "/m21/venv"
end

local function venv_bin(name)
  if is_windows then
    return M.venv_dir() .. "/Scripts/" .. name .. ".exe"
  end
  return M.venv_dir() .. "/bin/" .. name
end

--- The m21-lsp of the private venv (it may not exist yet).
function M.server_path()
  return venv_bin("m21-lsp")
end

--- The repository checkout this plugin was loaded from, when it is one: the plugin lives in
--- <checkout>/editors/neovim, so a clone used as the plugin directory installs its own server.
function M.plugin_checkout()
  local here = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = vim.fn.fnamemodify(here, ":p:h:h:h:h:h")
  local pyproject = root .. "/pyproject.toml"
  if vim.fn.filereadable(pyproject) ~= 1 then
    return nil
  end
  for _, line in ipairs(vim.fn.readfile(pyproject, "", 40)) do
    if line:match('^name%s*=%s*"m21%-lsp"') then
      return root
    end
  end
  return nil
end

--- What :M21Install installs without an argument: setup{ install = { source = ... } }, else the
--- plugin's own checkout, else the package m21-lsp from PyPI.
function M.default_source()
  local cfg = (require("m21").config or {}).install or {}
  if cfg.source and cfg.source ~= "" then
    return cfg.source, "setup{ install = { source } }"
  end
  local checkout = M.plugin_checkout()
  if checkout then
    return checkout, "the plugin's checkout"
  end
  return "m21-lsp", "PyPI"
end

local function python()
  local cfg = (require("m21").config or {}).install or {}
  if cfg.python then
    return cfg.python
  end
  for _, candidate in ipairs({ "python3", "python" }) do
    if vim.fn.executable(candidate) == 1 then
      return candidate
    end
  end
  return "python3"
end

--- The server command and how it was found: setup{ cmd } when given, else the private venv's
--- m21-lsp when installed, else m21-lsp on PATH.
function M.resolve(cmd, cmd_from_setup)
  if cmd_from_setup and cmd then
    return cmd, "setup{ cmd }"
  end
  local private = M.server_path()
  if vim.fn.executable(private) == 1 then
    return { private, "serve", "--stdio" }, "the private venv (:M21Install)"
  end
  local on_path = vim.fn.exepath("m21-lsp")
  if on_path ~= "" then
    return { on_path, "serve", "--stdio" }, "PATH"
  end
  return cmd or { "m21-lsp", "serve", "--stdio" }, "not found (run :M21Install)"
end

-- Runs the steps one after another as jobs; calls done(ok, why) at the end.
local function run_steps(steps, done)
  local i = 0
  local function next_step()
    i = i + 1
    local step = steps[i]
    if not step then
      return done(true)
    end
    table.insert(M.state.log, "$ " .. table.concat(step.cmd, " "))
    if step.say then
      vim.api.nvim_echo({ { "m21: " .. step.say } }, false, {})
    end
    local function collect(_, data)
      for _, line in ipairs(data or {}) do
        if line ~= "" then
          table.insert(M.state.log, line)
        end
      end
    end
    local ok, job = pcall(vim.fn.jobstart, step.cmd, {
      on_stdout = collect,
      on_stderr = collect,
      on_exit = function(_, code)
        vim.schedule(function()
          if code ~= 0 then
            return done(false, string.format("`%s` exited with %d", step.cmd[1], code))
          end
          next_step()
        end)
      end,
    })
    if not ok or job <= 0 then
      return done(false, string.format("cannot run `%s`", step.cmd[1]))
    end
  end
  next_step()
end

local function tail(lines, n)
  local out = {}
  for k = math.max(1, #lines - n + 1), #lines do
    table.insert(out, lines[k])
  end
  return table.concat(out, "\n")
end

--- Installs (or upgrades) the server into the private venv.
--- opts.source: a wheel, a directory, a git URL (git+https://...) or a PyPI name;
--- opts.wait: block until done (the default without a UI, e.g. a lazy.nvim build in a script);
--- opts.on_done(ok). Returns true when the install finished and worked (wait), else nil.
function M.install(opts)
  opts = opts or {}
  if M.state.running then
    notify("an install is already running", vim.log.levels.WARN)
    return nil
  end
  local source, from = opts.source, "the argument"
  if not source or source == "" then
    source, from = M.default_source()
  elseif not source:match("^%a[%w+.-]*://") and not source:match("^git%+") then
    local expanded = vim.fn.fnamemodify(vim.fn.expand(source), ":p")
    if vim.fn.filereadable(expanded) == 1 or vim.fn.isdirectory(expanded) == 1 then
      source = expanded:gsub("/$", "")
    end
  end
  local wait = opts.wait
  if wait == nil then
    wait = #vim.api.nvim_list_uis() == 0
  end
  local dir = M.venv_dir()
  local steps = {}
  if vim.fn.executable(venv_bin("python")) ~= 1 then
    vim.fn.mkdir(vim.fn.fnamemodify(dir, ":h"), "p")
    table.insert(steps, { cmd = { python(), "-m", "venv", dir }, say = "creating " .. dir })
  end
  table.insert(steps, {
    cmd = { venv_bin("python"), "-m", "pip", "install", "--upgrade", "--disable-pip-version-check", source },
    say = "installing the server from " .. source .. " (" .. from .. ") ...",
  })
  -- The secret scanner loads (secrets are kept out of prompts with detect-secrets).
  table.insert(steps, {
    cmd = { venv_bin("python"), "-c", "from m21_lsp.pipeline import detect; detect.load()" },
  })
  table.insert(steps, { cmd = { M.server_path(), "--version" } })
  M.state.running, M.state.ok, M.state.log = true, nil, {}
  run_steps(steps, function(ok, why)
    M.state.running, M.state.ok = false, ok
    if ok then
      M.state.message = string.format("installed %s into %s", M.state.log[#M.state.log], dir)
      notify(M.state.message)
      local m21 = require("m21")
      if m21.state.setup_done then
        m21.restart() -- the next start finds the new server
      end
    else
      M.state.message = string.format("install from %s failed: %s\n%s", source, why, tail(M.state.log, 15))
      notify(M.state.message, vim.log.levels.ERROR)
    end
    if opts.on_done then
      opts.on_done(ok)
    end
  end)
  if wait then
    local finished = vim.wait(opts.timeout_ms or 15 * 60 * 1000, function()
      return not M.state.running
    end, 50)
    if not finished then
      notify("the install is still running after the time allowed", vim.log.levels.ERROR)
      return nil
    end
    return M.state.ok
  end
  return nil
end

function M.define_commands()
  vim.api.nvim_create_user_command("M21Install", function(o)
    M.install({ source = o.args ~= "" and o.args or nil })
  end, {
    nargs = "?",
    complete = "file",
    desc = "Install the m21 server into Neovim's data directory (a wheel, a folder, a git URL or a PyPI name)",
  })
end

return M
