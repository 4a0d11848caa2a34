-- Headless driver for test_neovim.py::test_documented_plain_config: no plugin at all. Runs a
-- configuration snippet taken verbatim from docs/editors.md, then uses Neovim's own code
-- action menu on whole lines and writes the file. Records what it saw in $M21_RESULT.
--
-- Inputs (environment): M21_SNIPPET (a Lua file), M21_FILE, M21_RANGE ("first,last"),
-- M21_ACTION, M21_RESULT, M21_WAIT_MS.

local api = vim.api
local env = os.getenv
local WAIT_MS = tonumber(env("M21_WAIT_MS") or "") or 30000
local result = { menu = {}, steps = {} }

local function wait_for(what, condition)
  if not vim.wait(WAIT_MS, condition, 20) then
    error("timed out after " .. WAIT_MS .. " ms waiting for " .. what, 0)
  end
end

local function m21_client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = "m21" })[1]
end

local function main()
  dofile(env("M21_SNIPPET"))
  vim.cmd("edit " .. vim.fn.fnameescape(env("M21_FILE")))
  local bufnr = api.nvim_get_current_buf()
  wait_for("the documented config to start m21-lsp", function()
    local client = m21_client(bufnr)
    return client ~= nil and client.initialized == true
  end)
  table.insert(result.steps, "attached")
  -- What the documented capabilities line made Neovim advertise.
  local caps = m21_client(bufnr).capabilities or {}
  result.document_changes = vim.tbl_get(caps, "workspace", "workspaceEdit", "documentChanges")
    or vim.NIL

  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for i, item in ipairs(items) do
      local label = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(result.menu, label)
      if label == env("M21_ACTION") and not chosen then
        chosen = i
      end
    end
    on_choice(chosen and items[chosen] or nil, chosen)
  end
  local first, last = env("M21_RANGE"):match("^(%d+),(%d+)$")
  first, last = tonumber(first), tonumber(last)
  local last_line = api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1]
  vim.lsp.buf.code_action({ range = { start = { first, 0 }, ["end"] = { last, #last_line } } })
  -- The server's workspace/applyEdit marks the buffer modified; the test checks the text.
  wait_for("the refactor's edit", function()
    return vim.bo[bufnr].modified
  end)
  vim.cmd("write")
  table.insert(result.steps, "written")
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    vim.schedule(function()
      local ok, err = xpcall(main, debug.traceback)
      result.ok = ok
      result.error = not ok and tostring(err) or vim.NIL
      result.messages_history = vim.fn.execute("messages")
      local fh = assert(io.open(env("M21_RESULT"), "w"))
      fh:write(vim.fn.json_encode(result))
      fh:close()
      vim.cmd(ok and "qall!" or "cquit!")
    end)
  end,
})
