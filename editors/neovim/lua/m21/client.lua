-- m21.client: starting the server and attaching buffers to it.
--
-- Works on Neovim 0.7 and newer. 0.7 has no vim.lsp.start, so this starts one client per root
-- directory with vim.lsp.start_client and attaches buffers itself; on 0.8+ it hands the same
-- config to vim.lsp.start, which does the reuse for us.

local K = {}

local api = vim.api

local has_start = type(vim.lsp.start) == "function"
local method_calls = vim.fn.has("nvim-0.11") == 1

local function m21()
  return require("m21")
end

local notify = function(...)
  return require("m21.ui").notify(...)
end

-- Client methods became `client:request()` in 0.11; older versions only have `client.request()`.
function K.request(client, method, params, handler, bufnr)
  if method_calls then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function K.notify(client, method, params)
  if method_calls then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

local function buf_clients(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  return vim.lsp.buf_get_clients(bufnr)
end

--- The m21 client attached to `bufnr`, or nil.
function K.get_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  for _, client in pairs(buf_clients(bufnr)) do
    if client.name == m21().config.name then
      return client
    end
  end
  return nil
end

local function find_root(bufnr)
  local markers = m21().config.root_markers
  local path = api.nvim_buf_get_name(bufnr)
  local start = path ~= "" and vim.fn.fnamemodify(path, ":p:h") or vim.fn.getcwd()
  if vim.fs and vim.fs.find then
    local found = vim.fs.find(markers, { upward = true, path = start })[1]
    if found then
      return vim.fn.fnamemodify(found, ":h")
    end
    return start
  end
  -- 0.7: walk up by hand.
  local dir = start
  while dir and dir ~= "" do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

-- Capabilities: what Neovim already does (versioned documentChanges) or what this plugin
-- adds (change annotations, shown by the preview), declared so the server uses them.
local function with_edit_capabilities(capabilities)
  capabilities = vim.deepcopy(capabilities)
  capabilities.workspace = capabilities.workspace or {}
  local we = capabilities.workspace.workspaceEdit or {}
  we.documentChanges = true
  we.changeAnnotationSupport = we.changeAnnotationSupport or { groupsOnLabel = false }
  capabilities.workspace.workspaceEdit = we
  capabilities.workspace.applyEdit = true
  -- This plugin's applyEdit handler refuses a stale edit and reports a rejected preview, so its
  -- "applied" is true: the server need not wait for the didChange to believe it.
  capabilities.experimental = capabilities.experimental or {}
  capabilities.experimental.m21 = { truthfulApplyEdit = true }
  return capabilities
end

-- The live view (m21.live, docs/preview.md): ask the server for m21/preview.
local function with_live_capability(capabilities, live)
  if live then
    capabilities.experimental = capabilities.experimental or {}
    capabilities.experimental.m21Preview = true
  end
  return capabilities
end

-- Neovim sends the 'filetype' as the LSP languageId; where the two names differ, send the LSP
-- one, so that the server (its tree-sitter check, an action's `languages`) sees the same id
-- from every editor.
K.language_ids = { sh = "shellscript", bash = "shellscript" }

local function get_language_id(_, filetype)
  return K.language_ids[filetype] or filetype
end

--- The client config for `bufnr`: cmd, root, capabilities, settings and handlers.
function K.make_config(bufnr)
  local cfg = m21().config
  local settings = require("m21.config").server_settings(cfg)
  local capabilities = with_live_capability(
    with_edit_capabilities(cfg.capabilities or vim.lsp.protocol.make_client_capabilities()),
    cfg.live
  )
  local install = require("m21.install")
  local cmd, how = install.resolve(cfg.cmd, m21().state.cmd_from_setup)
  install.state.server = { cmd = cmd, how = how }
  return {
    name = cfg.name,
    cmd = cmd,
    cmd_env = cfg.cmd_env,
    root_dir = find_root(bufnr),
    -- Settings go both ways: initializationOptions for the first request, and the `m21`
    -- section for workspace/configuration (answered from `settings` by Neovim itself).
    init_options = settings,
    settings = { m21 = settings },
    capabilities = capabilities,
    handlers = {
      ["$/progress"] = function(...)
        return require("m21.ui").progress_handler(...)
      end,
      ["m21/preview"] = function(...)
        return require("m21.live").handle(...)
      end,
      -- Through the public module, so that a wrapper set on it (tests do) is the one called.
      ["workspace/applyEdit"] = function(err, params, ctx, config)
        return m21()._apply_edit(err, params, ctx, config)
      end,
    },
    commands = {
      ["m21.explain"] = function(command, ctx)
        m21()._explain_action(command, ctx)
      end,
    },
    on_attach = cfg.on_attach,
    get_language_id = get_language_id,
    flags = { debounce_text_changes = 80 },
  }
end

-- Says once why the server cannot start and how to fix it; later buffers stay quiet.
local function start_failed(config, why)
  local state = m21().state
  state.start_error = string.format(
    "cannot start the server `%s` (%s). Install it with :M21Install (or `pip install m21-lsp` "
      .. "in the Python environment you use, or point require('m21').setup{ cmd = {...} } at its m21-lsp); "
      .. "then run :M21Restart.",
    table.concat(config.cmd, " "),
    why
  )
  notify(state.start_error, vim.log.levels.WARN)
  return nil
end

--- Starts (or reuses) the server for `bufnr` and attaches it. Returns the client id.
function K.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local existing = K.get_client(bufnr)
  if existing then
    return existing.id
  end
  local state = m21().state
  if state.start_error then
    return nil -- said once already; :M21Restart tries again
  end
  local config = K.make_config(bufnr)
  if vim.fn.executable(config.cmd[1]) ~= 1 then
    return start_failed(config, "it is not an executable on PATH")
  end
  if has_start then
    local id
    api.nvim_buf_call(bufnr, function()
      id = vim.lsp.start(config)
    end)
    if not id then
      return start_failed(config, "see :LspLog")
    end
    return id
  end
  local id = state.clients[config.root_dir]
  if id then
    local client = vim.lsp.get_client_by_id(id)
    if not client or client.is_stopped() then
      id = nil
    end
  end
  if not id then
    id = vim.lsp.start_client(config)
    if not id then
      return start_failed(config, "see :lua vim.cmd('edit ' .. vim.lsp.get_log_path())")
    end
    state.clients[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- The client for `bufnr`, starting it when needed; nil (and a message) when there is none.
function K.ensure(bufnr)
  local client = K.get_client(bufnr)
  if client then
    return client
  end
  local state = m21().state
  if state.start_error then
    notify(state.start_error, vim.log.levels.WARN)
    return nil
  end
  K.attach(bufnr)
  client = K.get_client(bufnr)
  if not client and not state.start_error then
    notify(
      "the m21 server is not attached to this buffer (filetype '"
        .. vim.bo[bufnr].filetype
        .. "'); see :h m21",
      vim.log.levels.WARN
    )
  end
  return client
end

local function wanted(bufnr)
  return vim.tbl_contains(m21().config.filetypes, vim.bo[bufnr].filetype)
end

--- Attaches every loaded buffer of one of the configured filetypes.
function K.attach_all()
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and wanted(bufnr) then
      m21().attach(bufnr)
    end
  end
end

--- Stops every m21 client and re-attaches the buffers.
function K.restart()
  local name = m21().config.name
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ name = name })
    or vim.tbl_filter(function(c)
      return c.name == name
    end, vim.lsp.get_active_clients())
  for _, client in ipairs(clients) do
    if method_calls then
      client:stop()
    else
      client.stop()
    end
  end
  local state = m21().state
  state.clients = {}
  state.start_error = nil
  vim.defer_fn(m21().attach_all, 500)
end

return K
