-- m21.config: the defaults, the checks on what setup{} was given, and the merge.
--
-- Checked here, once, so that a typo in init.lua says which option is wrong and why, instead
-- of surfacing later as a Lua error deep in a handler or as an action the server ignores.

local C = {}

C.defaults = {
  -- How to start the server. Override with a virtualenv's m21-lsp or `python -m m21_lsp.lsp`.
  -- Without setup{ cmd }, the m21-lsp that :M21Install put under stdpath("data") comes first,
  -- then m21-lsp on PATH (see m21/install.lua).
  cmd = { "m21-lsp", "serve", "--stdio" },
  -- :M21Install's defaults: { source = wheel | folder | git+URL | PyPI name, python = "python3" }.
  install = {},
  -- Extra environment for the server process (e.g. { M21_API_KEY = os.getenv("AIMLAPI_KEY") }).
  cmd_env = nil,
  -- The `m21` settings section, camelCase as in every editor (baseUrl, model, hover, ...).
  settings = {},
  -- Your own code actions: { { title = ..., instruction = ..., kind?, languages?, scope?,
  -- name?, target? } } or built-in names ("docstrings", "defaults"). Sent to the server as the
  -- `actions` key of the `m21` settings (docs/actions.md); nil leaves the key out.
  actions = nil,
  -- Python and the languages whose edits the server checks with tree-sitter. The plugin sends the
  -- filetype as the LSP languageId, but "sh" and "bash" as "shellscript" (:h m21-filetypes).
  filetypes = {
    "python",
    -- checked with tree-sitter (server/m21_lsp/pipeline/syntax.py)
    "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java", "c",
    "cpp", "lua", "json", "toml", "yaml", "sh", "bash",
  },
  root_markers = {
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "package.json",
    "tsconfig.json",
    "go.mod",
    "Cargo.toml",
    ".git",
  },
  name = "m21",
  -- Echo $/progress in the message area.
  progress = true,
  -- Show the explanation and the new code in floats while the model writes (m21/preview).
  live = true,
  -- Options for the explanation's floating window (see :h nvim_open_win).
  float = { border = "rounded", max_width = 100, max_height = 40 },
  -- The diff shown before an edit that needs confirmation (the server's confirmEdits):
  -- keys that accept and reject it, and the floating window's options.
  preview = {
    accept = { "a", "y", "\r" },
    reject = { "r", "n", "q", "\27" },
    float = { border = "rounded", max_width = 120, max_height = 30 },
  },
  on_attach = nil,
  capabilities = nil,
}

-- Lists replace, they do not merge index by index.
local LIST_KEYS = { "cmd", "filetypes", "root_markers", "actions" }

-- An action's keys and what each must be (the server's `actions` setting, issue 11).
local ACTION_SCOPES = { selection = true, ["function"] = true, file = true }
local ACTION_KEYS = {
  title = true,
  instruction = true,
  kind = true,
  languages = true,
  scope = true,
  name = true,
  target = true,
}
local KNOWN_KEYS = "instruction, kind, languages, name, scope, target, title"

local function is_list(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  for i = 1, n do
    if t[i] == nil then
      return false
    end
  end
  return true
end

local function is_string_list(t)
  if not is_list(t) then
    return false
  end
  for _, v in ipairs(t) do
    if type(v) ~= "string" or v == "" then
      return false
    end
  end
  return true
end

local function non_empty_string(v)
  return type(v) == "string" and v:match("%S") ~= nil
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys)
  return keys
end

--- Checks setup{ actions = ... }. Returns the valid actions (a list, possibly empty) and the
--- problems, one message per wrong field, each naming the action by index and title.
function C.validate_actions(actions)
  if actions == nil then
    return nil, {}
  end
  if not is_list(actions) then
    return {}, { "actions must be a list of { title = ..., instruction = ... } tables" }
  end
  local valid, problems = {}, {}
  local titles = {}
  for i, action in ipairs(actions) do
    local where = string.format("actions[%d]", i)
    if type(action) == "string" then
      -- A built-in's name ("type-hints", "docstrings", ...) or "defaults"; the server knows
      -- which exist and says so about an unknown one.
      if action:match("^[a-z0-9][a-z0-9_-]*$") then
        table.insert(valid, action)
      else
        table.insert(problems, where .. ': a string names a built-in action, e.g. "docstrings" or "defaults"')
      end
    elseif type(action) ~= "table" then
      table.insert(problems, where .. " must be a table { title = ..., instruction = ... } or a built-in's name, not a " .. type(action))
    else
      if non_empty_string(action.title) then
        where = string.format("actions[%d] (%q)", i, action.title)
      end
      local before = #problems
      local function bad(msg)
        table.insert(problems, where .. ": " .. msg)
      end
      if not non_empty_string(action.title) then
        bad("title must be a non-empty string (the label in the code action menu)")
      elseif titles[action.title] then
        bad("title repeats actions[" .. titles[action.title] .. "]; titles must be unique")
      end
      if not non_empty_string(action.instruction) then
        bad("instruction must be a non-empty string (what the model is asked to do)")
      end
      local kind = action.kind
      if
        kind ~= nil
        and not (
          type(kind) == "string"
          and kind:match("^[%w_.-]+$")
          and (kind:match("^refactor") or kind:match("^source") or kind:match("^quickfix"))
        )
      then
        bad('kind must be a code action kind under refactor, source or quickfix, e.g. "refactor.rewrite"')
      end
      if action.name ~= nil and not (type(action.name) == "string" and action.name:match("^[a-z0-9][a-z0-9_-]*$")) then
        bad('name must be lower-case letters, digits, "-" or "_", e.g. "add-docs"')
      end
      local target = action.target
      if target ~= nil then
        if type(target) ~= "table" or not non_empty_string(target.file) then
          bad('target must be { file = "tests/test_{stem}.py", mode = "append" }')
        elseif target.mode ~= nil and target.mode ~= "append" then
          bad('target.mode must be "append" (the only mode)')
        else
          for key in pairs(target) do
            if key ~= "file" and key ~= "mode" then
              bad("target has an unknown key " .. tostring(key) .. " (known: file, mode)")
            end
          end
        end
      end
      if action.languages ~= nil and not is_string_list(action.languages) then
        bad('languages must be a list of language ids such as { "python", "typescript" }')
      end
      if action.scope ~= nil and not ACTION_SCOPES[action.scope] then
        bad('scope must be "selection", "function" or "file"')
      end
      for _, key in ipairs(sorted_keys(action)) do
        if not ACTION_KEYS[key] then
          bad(string.format("unknown key %s (known: %s)", tostring(key), KNOWN_KEYS))
        end
      end
      if #problems == before then
        titles[action.title] = i
        table.insert(valid, vim.deepcopy(action))
      end
    end
  end
  return valid, problems
end

-- type checks for the other options: key -> { test, what it must be }
local CHECKS = {
  cmd = { is_string_list, "a non-empty list of strings" },
  filetypes = { is_string_list, "a list of filetype names" },
  root_markers = { is_string_list, "a list of file names" },
  settings = { function(v) return type(v) == "table" end, "a table (the server's m21 settings)" },
  cmd_env = { function(v) return type(v) == "table" end, "a table of environment variables" },
  install = { function(v) return type(v) == "table" end, "a table { source = ..., python = ... }" },
  name = { non_empty_string, "a non-empty string" },
  progress = { function(v) return type(v) == "boolean" end, "true or false" },
  live = { function(v) return type(v) == "boolean" end, "true or false" },
  float = { function(v) return type(v) == "table" end, "a table of nvim_open_win options" },
  preview = { function(v) return type(v) == "table" end, "a table { accept, reject, float }" },
  on_attach = { function(v) return type(v) == "function" end, "a function(client, bufnr)" },
  capabilities = { function(v) return type(v) == "table" end, "a table of client capabilities" },
}

--- The effective config for setup(opts): defaults, then opts (lists replace). Returns the
--- config and the problems found; a wrong option keeps its default, a wrong action is left out.
function C.merge(opts)
  local problems = {}
  opts = opts or {}
  if type(opts) ~= "table" then
    return vim.deepcopy(C.defaults), { "setup() takes a table, not a " .. type(opts) }
  end
  local clean = {}
  for key, value in pairs(opts) do
    local check = CHECKS[key]
    if check and value ~= nil and not check[1](value) then
      table.insert(problems, string.format("%s must be %s", key, check[2]))
    elseif key ~= "actions" then
      clean[key] = value
    end
  end
  local config = vim.tbl_deep_extend("force", vim.deepcopy(C.defaults), clean)
  for _, key in ipairs(LIST_KEYS) do
    if clean[key] then
      config[key] = clean[key]
    end
  end
  -- setup{ actions } and setup{ settings = { actions } } are the same setting; the first wins.
  local raw = opts.actions
  if raw == nil and type(config.settings) == "table" then
    raw = config.settings.actions
  end
  local actions, action_problems = C.validate_actions(raw)
  vim.list_extend(problems, action_problems)
  config.actions = actions
  return config, problems
end

--- The `m21` settings section sent to the server: setup{ settings } with the actions in it.
function C.server_settings(config)
  local settings = vim.deepcopy(config.settings or {})
  if config.actions ~= nil then
    settings.actions = vim.deepcopy(config.actions)
  end
  if next(settings) == nil then
    settings = vim.empty_dict() -- an object on the wire, not an empty list
  end
  return settings
end

return C
