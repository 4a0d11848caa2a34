// Drives a real VS Code (code-server in Debian's chromium, through playwright-core) the way a
// user would: keyboard and mouse only, waiting on what the screen shows, never on the clock.
//
//   node e2e/run.mjs scenario.json
//
// scenario.json: {url, folder, file, outDir, chromium, logsDir, apiKey, selection: {first,
// last}, instruction, steps: a list of names from `steps` below ("set_key", "refactor_cancel",
// "refactor_discard", "refactor_apply", "explain", "missing_server", "no_python", "relabel",
// "pick_apply" with picks: [{title, selection, marker}]),
// expect: {...}}.
// Writes outDir/result.json: {ok, error, steps: [{name, ...facts}], screenshots: [...]}.
// The pytest wrapper (tests/editors/test_vscode.py) owns the assertions; this script only
// fails on its own when the editor never reaches a state it waits for.
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium } from "playwright-core";

const scenario = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const WAIT = scenario.waitMs ?? 60_000;
const outDir = scenario.outDir;
fs.mkdirSync(outDir, { recursive: true });
const result = { ok: false, error: null, steps: [], screenshots: [], console: [], lostPicks: [], emptyMenus: [] };
let current = "open";
let shotIndex = 0;

function save() {
  fs.writeFileSync(path.join(outDir, "result.json"), JSON.stringify(result, null, 2));
}

async function shot(page, name) {
  shotIndex += 1;
  const file = path.join(outDir, `${String(shotIndex).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(file);
  return file;
}

function readDisk() {
  return fs.readFileSync(scenario.file, "utf8");
}

// ---------------------------------------------------------------------------- workbench
async function openWorkbench(page) {
  const url = `${scenario.url}/?folder=${encodeURIComponent(scenario.folder)}`;
  await page.goto(url, { timeout: WAIT });
  await page.locator(".monaco-workbench").waitFor({ timeout: WAIT });
  await page.locator(".part.statusbar").waitFor({ timeout: WAIT });
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: WAIT });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: WAIT });
  await page.keyboard.press("Enter");
}

/** The file's own active tab: the live view's diff tab ("name:6-13 ↔ m2-1 (live)") is
 * active in the group beside it and carries the file's name too. */
function fileTab(page, name) {
  return page.locator(".tab.active", { hasText: name, hasNotText: "↔" });
}

async function openFile(page) {
  const name = path.basename(scenario.file);
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: WAIT });
  await input.fill(name);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first().waitFor({ timeout: WAIT });
  await page.keyboard.press("Enter");
  await fileTab(page, name).waitFor({ timeout: WAIT });
  await editor(page).locator(".view-lines").waitFor({ timeout: WAIT });
}

function editor(page) {
  return page.locator(".editor-group-container.active .monaco-editor").first();
}

function statusItem(page) {
  return page.locator('.statusbar-item[id$=".m21.status"]');
}

/** Wait until the extension's status item says the server runs (no state word after "m2-1"). */
async function waitServerRunning(page) {
  const item = statusItem(page);
  await item.waitFor({ timeout: WAIT });
  await page.waitForFunction(
    () => {
      const el = document.querySelector('.statusbar-item[id$=".m21.status"]');
      const text = (el?.textContent ?? "").trim();
      return /m2-1( ·.*)?$/.test(text) && !/starting|stopped|missing/.test(text);
    },
    null,
    { timeout: WAIT },
  );
  return (await item.textContent()).trim();
}

async function editorText(page) {
  // The DOM holds only rendered lines: the file is small enough to be rendered whole.
  return page.evaluate(() => {
    const lines = [...document.querySelectorAll(".editor-group-container.active .monaco-editor .view-lines .view-line")];
    const top = (el) => parseFloat(el.style.top || "0");
    return lines
      .sort((a, b) => top(a) - top(b))
      .map((el) => el.textContent.replace(/\u00a0/g, " "))
      .join("\n");
  });
}

/** Select whole lines first..last (1-based) with the keyboard, as a user would. */
async function selectLines(page, first, last) {
  await editor(page).locator(".view-lines").click();
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input.input");
  await input.waitFor({ state: "visible", timeout: WAIT });
  await input.fill(`:${first}`);
  await page.keyboard.press("Enter");
  // Keys typed before the editor has focus back would be lost: wait for the cursor first.
  const indicator = page.locator('.statusbar-item[id="status.editor.selection"]');
  await input.waitFor({ state: "hidden", timeout: WAIT });
  await indicator.filter({ hasText: new RegExp(`^\\s*Ln ${first}, Col`) }).waitFor({ timeout: WAIT });
  await page.keyboard.press("Home");
  await page.keyboard.press("Home"); // twice: the first goes to the indentation
  await indicator.filter({ hasText: new RegExp(`^\\s*Ln ${first}, Col 1\\s*$`) }).waitFor({ timeout: WAIT });
  for (let i = first; i <= last; i++) {
    await page.keyboard.press("Shift+ArrowDown");
  }
  // "Ln 14, Col 1 (228 selected)": the whole lines first..last are selected.
  await indicator.filter({ hasText: new RegExp(`Ln ${last + 1}, Col 1 \\(\\d+ selected\\)`) }).waitFor({ timeout: WAIT });
  return (await indicator.textContent()).trim();
}

// VS Code 1.100 can show a Code Action menu whose actions were already released (a newer
// automatic light-bulb request replaced them while the menu opened); picking one then only
// logs "Actual command not found" in the extension host log and nothing else happens. That is
// a failure the user sees (their pick did nothing), so every one is recorded in
// result.lostPicks for the test to judge; the driver then presses Ctrl+. again, as the user
// would, at most twice, so that the rest of the run still reports what it saw.
const LOST_ACTION = "Actual command not found";

function extHostLogText() {
  let text = "";
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.name === "remoteexthost.log") {
        text += fs.readFileSync(full, "utf8");
      }
    }
  };
  if (scenario.logsDir && fs.existsSync(scenario.logsDir)) {
    walk(scenario.logsDir);
  }
  return text;
}

function lostActions() {
  return extHostLogText().split(LOST_ACTION).length - 1;
}

/** Resolves "started" when `started` shows, "lost" when the picked action was lost. */
function startedOrLost(started, lostBefore) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, value) => {
      if (!settled) {
        settled = true;
        watcher?.close();
        fn(value);
      }
    };
    const watcher = scenario.logsDir
      ? fs.watch(scenario.logsDir, { recursive: true }, () => {
          if (lostActions() > lostBefore) {
            finish(resolve, "lost");
          }
        })
      : undefined;
    started.waitFor({ state: "visible", timeout: WAIT }).then(
      () => finish(resolve, "started"),
      (error) => finish(reject, error),
    );
    // The loss may have been logged before the watcher was attached: no event would follow.
    if (lostActions() > lostBefore) {
      finish(resolve, "lost");
    }
  });
}

/** Ctrl+. on the selection, then the action's row in the Code Action menu, until it runs. */
async function lightBulbPick(page, title, started, shotName) {
  let retries = 0;
  for (;;) {
    const picked = await lightBulbPickOnce(page, title, shotName && retries === 0 ? shotName : undefined);
    const outcome = await startedOrLost(started, picked.lostBefore);
    if (outcome === "started") {
      return { ...picked, retries };
    }
    result.lostPicks.push({ step: current, title, attempt: retries + 1 });
    save();
    if (retries >= 2) {
      throw new Error(`VS Code dropped the picked "${title}" ${retries + 1} times in a row`);
    }
    retries += 1;
  }
}

/**
 * Ctrl+. until the Code Action menu shows rows. VS Code sometimes answers Ctrl+. with "No code
 * actions available" although the server offers actions for the selection (seen under load,
 * with a light-bulb request cancelled in flight); a user presses Ctrl+. again, and so does the
 * driver, at most twice, recording each in result.emptyMenus for the test to judge.
 */
async function openCodeActionMenu(page) {
  const widget = page.locator(".action-widget");
  const rows = widget.locator(".monaco-list-row");
  const empty = page.locator(".monaco-editor-overlaymessage", { hasText: "No code actions available" });
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("Control+.");
    await rows.first().or(empty.first()).waitFor({ state: "visible", timeout: WAIT });
    if (await rows.first().isVisible()) {
      return widget;
    }
    result.emptyMenus.push({ step: current, attempt });
    save();
    if (attempt >= 3) {
      throw new Error(`Ctrl+. showed "No code actions available" ${attempt} times in a row`);
    }
    // The message goes away on its own or with the next key; wait until it has.
    await page.keyboard.press("Escape");
    await empty.first().waitFor({ state: "hidden", timeout: WAIT });
  }
}

async function lightBulbPickOnce(page, title, shotName) {
  const widget = await openCodeActionMenu(page);
  const row = widget.locator(".monaco-list-row", { hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: WAIT });
  const menu = await widget.locator(".monaco-list-row").allTextContents();
  const file = shotName ? await shot(page, shotName) : undefined;
  // Arrow keys onto the row, then Enter (the menu blocks the pointer while it opens).
  for (let i = 0; i <= menu.length; i++) {
    const focused = await widget.locator(".monaco-list-row.focused").getAttribute("aria-label");
    if (focused === title) {
      break;
    }
    await page.keyboard.press("ArrowDown");
  }
  await widget.locator(".monaco-list-row.focused", { hasText: title }).waitFor({ timeout: WAIT });
  const lostBefore = lostActions();
  await page.keyboard.press("Enter");
  await widget.waitFor({ state: "hidden", timeout: WAIT });
  return { menu, screenshot: file, lostBefore };
}

// ---------------------------------------------------------------------------- refactor preview
function previewPanel(page) {
  return page.locator(".bulk-edit-panel");
}

async function waitPreview(page) {
  const panel = previewPanel(page);
  await panel.waitFor({ state: "visible", timeout: WAIT });
  await panel.locator(".monaco-list-row").first().waitFor({ timeout: WAIT });
  return panel;
}

/** How many change checkboxes in the Refactor Preview are ticked (the `checked` property). */
async function checkedCount(page) {
  return page.evaluate(
    () => [...document.querySelectorAll(".bulk-edit-panel input.edit-checkbox")].filter((box) => box.checked).length,
  );
}

async function previewButton(panel, label) {
  const button = panel.locator(".buttons .monaco-button", { hasText: label }).first();
  await button.waitFor({ state: "visible", timeout: WAIT });
  return button;
}

async function waitPreviewClosed(page) {
  await page.waitForFunction(
    () => {
      const panel = document.querySelector(".bulk-edit-panel");
      return !panel || panel.offsetParent === null || !panel.querySelector(".monaco-list-row");
    },
    null,
    { timeout: WAIT },
  );
}

/** Resolve once the file on disk satisfies `predicate`, watching the folder for writes. */
function waitDisk(predicate, what) {
  return new Promise((resolve, reject) => {
    let watcher;
    const check = () => {
      let text;
      try {
        text = readDisk();
      } catch {
        return false; // Mid-rename by an atomic save: the next event comes.
      }
      if (predicate(text)) {
        clearTimeout(timer);
        watcher?.close();
        resolve(text);
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => {
      watcher?.close();
      reject(new Error(`the file on disk never ${what}`));
    }, WAIT);
    watcher = fs.watch(path.dirname(scenario.file), () => check());
    check();
  });
}

/** VS Code saves refactored files itself (files.refactoring.autoSave); save if it did not. */
async function waitSaved(page, marker) {
  const name = path.basename(scenario.file);
  await fileTab(page, name).waitFor({ timeout: WAIT });
  if ((await page.locator(".tab.active.dirty", { hasText: name, hasNotText: "↔" }).count()) > 0) {
    await page.keyboard.press("Control+S");
  }
  return waitDisk((text) => text.includes(marker), `contained ${JSON.stringify(marker)}`);
}

// ---------------------------------------------------------------------------- steps
const steps = {
  async set_key(page) {
    await runCommand(page, "m2-1: Set API Key");
    const input = page.locator(".quick-input-widget input.input");
    await page.locator(".quick-input-widget input[type=password]").waitFor({ timeout: WAIT });
    await input.fill(scenario.apiKey);
    await page.keyboard.press("Enter");
    // The extension restarts the server with the key in its environment.
    await page.locator(".notifications-toasts", { hasText: "API key saved" }).waitFor({ timeout: WAIT });
    // The server restarts with the key in its environment; the status item says so.
    await page.waitForFunction(
      () =>
        (document.querySelector('.statusbar-item[id$=".m21.status"]')?.getAttribute("aria-label") ?? "").includes(
          "API key: from VS Code's secret storage",
        ),
      null,
      { timeout: WAIT },
    );
    const status = await waitServerRunning(page);
    // Clear the toast so it does not cover the later screenshots.
    await runCommand(page, "Notifications: Clear All Notifications");
    await page.locator(".notifications-toasts .notification-toast").first().waitFor({ state: "detached", timeout: WAIT });
    return { status };
  },

  async refactor_cancel(page) {
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    // The model streams a little of its thinking, then stalls: the progress notification stays
    // until the user cancels.
    const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "Refactor with m2-1" }).first();
    const { retries } = await lightBulbPick(page, "Refactor with m2-1", toast);
    await toast.waitFor({ state: "visible", timeout: WAIT });
    const cancel = toast.locator(".monaco-button", { hasText: "Cancel" }).first();
    await cancel.waitFor({ state: "visible", timeout: WAIT });
    // Cancel once the model is seen thinking, as the user does. Clicking as soon as the
    // notification shows can beat the request itself (a fresh server's first call imports the
    // pipeline and builds its TLS context first): nothing would reach the model, and the
    // reply scripted for this request would go to the next one.
    await toast.filter({ hasText: "thinking…" }).waitFor({ state: "visible", timeout: WAIT });
    const notification = (await toast.locator(".notification-list-item-message").textContent()).trim();
    const screenshot = await shot(page, "refactor-progress");
    await cancel.click();
    const outcome = await waitStatusTooltip(page, "cancelled");
    await toast.waitFor({ state: "detached", timeout: WAIT });
    return { selection, retries, notification, screenshot, outcome, disk: readDisk(), editor: await editorText(page) };
  },

  async refactor_discard(page) {
    const before = readDisk();
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    // The palette command this time, with an instruction typed into its input box.
    await runCommand(page, "m2-1: Refactor Selection");
    const box = page.locator(".quick-input-widget", { hasText: "m2-1: Refactor Selection" });
    await box.waitFor({ state: "visible", timeout: WAIT });
    await page.locator(".quick-input-widget input.input").fill(scenario.instruction);
    const prompt = (await box.locator(".quick-input-message").textContent()).trim();
    await page.keyboard.press("Enter");
    const panel = await waitPreview(page);
    const preview = await shot(page, "discard-preview");
    const discard = await previewButton(panel, "Discard");
    await discard.click();
    await waitPreviewClosed(page);
    const outcome = await waitStatusTooltip(page, "not applied");
    await shot(page, "discarded");
    return { selection, prompt, preview, diskBefore: before, diskAfter: readDisk(), editor: await editorText(page), outcome };
  },

  async refactor_apply(page) {
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    const { menu, screenshot, retries } = await lightBulbPick(page, "Refactor with m2-1", previewPanel(page), "lightbulb-menu");
    const panel = await waitPreview(page);
    const checkedBeforeTick = await checkedCount(page);
    await shot(page, "refactor-preview-unticked");
    // The change starts unticked: Home then Space ticks the file's edits.
    await panel.locator(".monaco-list-row").first().click();
    await page.keyboard.press("Home");
    await page.keyboard.press("Space");
    await page.waitForFunction(
      () => [...document.querySelectorAll(".bulk-edit-panel input.edit-checkbox")].some((box) => box.checked),
      null,
      { timeout: WAIT },
    );
    const checkedAfterTick = await checkedCount(page);
    const preview = await shot(page, "refactor-preview");
    const apply = await previewButton(panel, "Apply");
    await apply.click();
    await waitPreviewClosed(page);
    await page.waitForFunction(
      (marker) => document.querySelector(".editor-group-container.active .monaco-editor .view-lines")?.textContent.replace(/\u00a0/g, " ").includes(marker),
      scenario.expect.appliedMarker,
      { timeout: WAIT },
    );
    const disk = await waitSaved(page, scenario.expect.appliedMarker);
    const outcome = await waitStatusTooltip(page, "applied");
    const applied = await shot(page, "refactor-applied");
    return {
      selection,
      retries,
      menu,
      menuScreenshot: screenshot,
      checkedBeforeTick,
      checkedAfterTick,
      preview,
      applied,
      disk,
      editor: await editorText(page),
      status: (await statusItem(page).textContent()).trim(),
      outcome,
    };
  },

  // Each of scenario.picks: {title, selection: {first, last}, marker}: select the lines, pick
  // the light bulb's row with that title, and wait for the edit (a line only the model's code
  // has) in the editor and on disk. Run with m21.confirmEdits off: the edit applies at once.
  async pick_apply(page) {
    const picks = [];
    for (const pick of scenario.picks) {
      const selection = await selectLines(page, pick.selection.first, pick.selection.last);
      const edited = editor(page).locator(".view-line", { hasText: pick.marker }).first();
      const { menu, screenshot, retries } = await lightBulbPick(page, pick.title, edited, `pick-${picks.length + 1}`);
      const disk = await waitSaved(page, pick.marker);
      const outcome = await waitStatusTooltip(page, "applied");
      const applied = await shot(page, `picked-${picks.length + 1}`);
      picks.push({ title: pick.title, selection, menu, menuScreenshot: screenshot, retries, disk, outcome, applied });
    }
    return { picks, editor: await editorText(page) };
  },

  async missing_server(page) {
    const item = statusItem(page);
    await item.filter({ hasText: "m2-1 missing" }).waitFor({ timeout: WAIT });
    const status = (await item.textContent()).trim();
    await page.locator(".notifications-toasts", { hasText: "pip install m21-lsp" }).waitFor({ timeout: WAIT });
    const toast = await shot(page, "server-missing");
    // A second start attempt, from an explicit command: no second install message.
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    await runCommand(page, "m2-1: Explain Selection");
    await page.locator(".notifications-toasts", { hasText: "not running, so nothing was done" }).waitFor({ timeout: WAIT });
    const installMessages = await notificationsWith(page, "pip install m21-lsp");
    // The user clears the wrong path in the Settings editor; the server starts at once.
    const settingsShot = await editSetting(page, scenario.fixSetting, "settings");
    const fixedStatus = await waitServerRunning(page);
    const fixedStatusTooltip = await statusItem(page).getAttribute("aria-label");
    await shot(page, "server-started");
    return { status, toast, selection, installMessages, fixedStatus, fixedStatusTooltip, settingsShot };
  },

  async no_python(page) {
    // No Python 3.10+ on this machine: the status item says so and one message says what to
    // install.
    const item = statusItem(page);
    await item.filter({ hasText: "needs Python 3.10+" }).waitFor({ timeout: WAIT });
    const status = (await item.textContent()).trim();
    const tooltip = await item.getAttribute("aria-label");
    await page.locator(".notifications-toasts", { hasText: "needs Python 3.10 or newer" }).waitFor({ timeout: WAIT });
    const toast = await shot(page, "no-python");
    // An explicit command tries to start the server again: still one message about Python.
    await selectLines(page, scenario.selection.first, scenario.selection.last);
    await runCommand(page, "m2-1: Explain Selection");
    await page.locator(".notifications-toasts", { hasText: "not running, so nothing was done" }).waitFor({ timeout: WAIT });
    const messages = await notificationsWith(page, "needs Python 3.10 or newer");
    return { status, tooltip, toast, messages };
  },

  async relabel(page) {
    // A setting changed while the server runs reaches it without a restart: the action
    // titles carry the new label.
    await editSetting(page, scenario.relabel);
    await runCommand(page, "View: Open Previous Editor");
    await fileTab(page, path.basename(scenario.file)).waitFor({ timeout: WAIT });
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    const wanted = `Refactor with ${scenario.relabel.value}`;
    const widget = page.locator(".action-widget");
    const deadline = Date.now() + WAIT;
    let menu = [];
    // Each round asks the server again (Ctrl+.); the new label shows once it has pulled the
    // changed settings.
    while (!menu.includes(wanted)) {
      if (Date.now() > deadline) {
        throw new Error(`the menu never offered ${JSON.stringify(wanted)}: ${JSON.stringify(menu)}`);
      }
      await openCodeActionMenu(page);
      menu = await widget.locator(".monaco-list-row").allTextContents();
      if (!menu.includes(wanted)) {
        await page.keyboard.press("Escape");
        await widget.waitFor({ state: "hidden", timeout: WAIT });
      }
    }
    const screenshot = await shot(page, "relabelled-menu");
    await page.keyboard.press("Escape");
    await widget.waitFor({ state: "hidden", timeout: WAIT });
    // The light bulb's Explain, under its new name, opens the same side panel as the palette
    // command.
    const tab = page.locator(".tab", { hasText: "m2-1: Explanation" }).first();
    const { retries } = await lightBulbPick(page, `Explain with ${scenario.relabel.value}`, tab);
    const explanation = await webviewText(page, "#m21-explanation", scenario.expect.explanationSentence);
    const explanationShot = await shot(page, "lightbulb-explanation");
    return { selection, menu, screenshot, retries, explanation, explanationShot };
  },

  // The live view (docs/preview.md): the model stalls mid-reply (scenario.releaseUrl lets
  // it go); the new code must be on screen, in a read-only diff beside the file, while the
  // file and the editor are untouched and before the Refactor Preview exists. Then the edit
  // goes through the Refactor Preview as always, and the live view closes.
  async refactor_live(page) {
    const selection = await selectLines(page, scenario.selection.first, scenario.selection.last);
    const live = page.locator(".tab", { hasText: "m2-1 (live)" }).first();
    const { retries } = await lightBulbPick(page, "Refactor with m2-1", live);
    const marker = scenario.expect.liveMarker;
    await page.waitForFunction(
      (m) =>
        [...document.querySelectorAll(".monaco-diff-editor .view-lines")].some((el) =>
          el.textContent.replace(/\u00a0/g, " ").includes(m),
        ),
      marker,
      { timeout: WAIT },
    );
    const liveText = await page.evaluate(() =>
      [...document.querySelectorAll(".monaco-diff-editor .view-lines")]
        .map((el) => el.textContent.replace(/\u00a0/g, " "))
        .join("\n"),
    );
    const liveTab = (await live.textContent()).trim();
    const previewWhileLive = await previewPanel(page).isVisible();
    const diskWhileLive = readDisk();
    const editorWhileLive = await editorText(page);
    const screenshot = await shot(page, "refactor-live");
    const released = await globalThis.fetch(scenario.releaseUrl, { method: "POST" });
    const panel = await waitPreview(page);
    await panel.locator(".monaco-list-row").first().click();
    await page.keyboard.press("Home");
    await page.keyboard.press("Space");
    await page.waitForFunction(
      () => [...document.querySelectorAll(".bulk-edit-panel input.edit-checkbox")].some((box) => box.checked),
      null,
      { timeout: WAIT },
    );
    const apply = await previewButton(panel, "Apply");
    await apply.click();
    await waitPreviewClosed(page);
    // The command answers once the edit landed; the live view goes with it.
    await live.waitFor({ state: "detached", timeout: WAIT });
    const disk = await waitSaved(page, scenario.expect.appliedMarker);
    const outcome = await waitStatusTooltip(page, "applied");
    return {
      selection,
      retries,
      liveTab,
      liveText,
      previewWhileLive,
      diskWhileLive,
      editorWhileLive,
      screenshot,
      releaseStatus: released.status,
      liveTabsAfter: await page.locator(".tab", { hasText: "m2-1 (live)" }).count(),
      disk,
      outcome,
    };
  },

  // The explanation panel fills in while the model writes: the model stalls after the first
  // words; the panel must show them (titled "writing…"), then the rest once released.
  async explain_live(page) {
    const selection = await selectLines(page, scenario.expect.explainSelection.first, scenario.expect.explainSelection.last);
    await runCommand(page, "m2-1: Explain Selection");
    const writing = page.locator(".tab", { hasText: "writing…" }).first();
    await writing.waitFor({ timeout: WAIT });
    const partial = await webviewText(page, "#m21-explanation", scenario.expect.explainPartial);
    const tabWhileWriting = (await writing.textContent()).trim();
    const screenshot = await shot(page, "explanation-live");
    const released = await globalThis.fetch(scenario.releaseUrl, { method: "POST" });
    const text = await webviewText(page, "#m21-explanation", scenario.expect.explanationSentence);
    await writing.waitFor({ state: "detached", timeout: WAIT });
    const tab = page.locator(".tab", { hasText: "m2-1: Explanation" }).first();
    return { selection, partial, tabWhileWriting, screenshot, releaseStatus: released.status, text, tab: (await tab.textContent()).trim() };
  },

  async explain(page) {
    const selection = await selectLines(page, scenario.expect.explainSelection.first, scenario.expect.explainSelection.last);
    await runCommand(page, "m2-1: Explain Selection");
    const tab = page.locator(".tab", { hasText: "m2-1: Explanation" }).first();
    await tab.waitFor({ timeout: WAIT });
    const text = await webviewText(page, "#m21-explanation", scenario.expect.explanationSentence);
    const screenshot = await shot(page, "explanation");
    // The server keeps the explanation: hovering the explained code shows it again.
    const word = editor(page).locator(".view-line", { hasText: scenario.expect.hoverLineText }).first();
    await word.locator("span", { hasText: scenario.expect.hoverWord }).last().hover();
    const hover = page.locator(".monaco-hover:not(.hidden)", { hasText: scenario.expect.explanationSentence }).first();
    await hover.waitFor({ state: "visible", timeout: WAIT });
    const hoverText = (await hover.innerText()).trim();
    const hoverShot = await shot(page, "explanation-hover");
    return { selection, tab: (await tab.textContent()).trim(), text, screenshot, hoverText, hoverShot };
  },
};

/** Change one setting the way a user does: Settings editor, search, type, Tab. */
async function editSetting(page, { id, title, value, tab }, shotName) {
  if (!(await page.locator(".settings-editor").isVisible())) {
    await runCommand(page, "Preferences: Open User Settings");
  }
  const search = page.locator(".settings-editor .suggest-input-container textarea, .settings-editor .settings-header input").first();
  await search.waitFor({ state: "visible", timeout: WAIT });
  if (tab) {
    // Machine-scoped settings of a remote window (code-server) live in the Remote tab, the
    // others in the User tab.
    await page.locator(".settings-editor .settings-tabs-widget .action-label", { hasText: tab }).first().click();
  }
  await search.fill(id);
  const setting = page.locator(".settings-editor .setting-item", { hasText: title }).first();
  const input = setting.locator("input.input").first();
  await input.waitFor({ state: "visible", timeout: WAIT });
  const file = shotName ? await shot(page, shotName) : undefined;
  await input.fill(value);
  await page.keyboard.press("Tab");
  return file;
}

/** Notifications (toasts and the center's history) whose text contains `needle`. */
async function notificationsWith(page, needle) {
  await runCommand(page, "Notifications: Show Notifications");
  const center = page.locator(".notifications-center");
  await center.waitFor({ state: "visible", timeout: WAIT });
  const texts = await center.locator(".notification-list-item-message").allTextContents();
  await page.keyboard.press("Escape");
  return texts.filter((t) => t.includes(needle));
}

/** The status item's tooltip records the last command's outcome; wait for `word` in it. */
async function waitStatusTooltip(page, word) {
  const handle = await page.waitForFunction(
    (w) => {
      const el = document.querySelector('.statusbar-item[id$=".m21.status"]');
      const label = el?.getAttribute("aria-label") ?? "";
      const tip = el?.querySelector("a")?.getAttribute("aria-label") ?? "";
      const all = `${label}\n${tip}`;
      return new RegExp(`· ${w}($|[^a-z])`).test(all) ? all : false;
    },
    word,
    { timeout: WAIT },
  );
  return handle.jsonValue();
}

/**
 * Text of `selector` inside the webview that renders it, once it contains `needle`. A VS Code
 * webview is an iframe (iframe.webview) whose document holds the content in another iframe
 * (#active-frame); playwright's locator waits for the element and text to appear in it.
 */
async function webviewText(page, selector, needle) {
  const content = page
    .frameLocator("iframe.webview")
    .first()
    .frameLocator("#active-frame")
    .locator(selector, { hasText: needle })
    .first();
  try {
    await content.waitFor({ state: "visible", timeout: WAIT });
  } catch (error) {
    throw new Error(`no webview showed ${selector} containing ${JSON.stringify(needle)}: ${error.message}`);
  }
  return content.innerText();
}

// ---------------------------------------------------------------------------- main
const browser = await chromium.launch({
  executablePath: scenario.chromium,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
  ],
});
const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
const page = await context.newPage();
page.on("console", (msg) => {
  if (msg.type() === "error" || msg.text().includes("m2-1")) {
    result.console.push(`${msg.type()}: ${msg.text().slice(0, 400)}`);
  }
});
try {
  const began = Date.now();
  await openWorkbench(page);
  const workbench = (Date.now() - began) / 1000;
  await openFile(page);
  const status = scenario.serverMissing ? "" : await waitServerRunning(page);
  const seconds = (Date.now() - began) / 1000;
  result.steps.push({ name: "open", seconds, workbench, status, editor: await editorText(page) });
  await shot(page, "opened");
  for (const name of scenario.steps) {
    current = name;
    const began = Date.now();
    const facts = await steps[name](page);
    result.steps.push({ name, seconds: (Date.now() - began) / 1000, ...facts });
    save();
  }
  result.ok = true;
} catch (error) {
  result.error = `${current}: ${error?.stack ?? error}`;
  try {
    // What was on screen, for whoever reads the failure: the panel and any notifications.
    result.dom = await page.evaluate(() =>
      [".bulk-edit-panel", ".notifications-toasts", ".action-widget", ".quick-input-widget"].map(
        (sel) => `${sel}: ${(document.querySelector(sel)?.outerHTML ?? "none").slice(0, 6000)}`,
      ),
    );
    await shot(page, `failed-${current}`);
  } catch {
    // The page is gone.
  }
} finally {
  save();
  await browser.close();
}
process.exit(result.ok ? 0 : 1);
