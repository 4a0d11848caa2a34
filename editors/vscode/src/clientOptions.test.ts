/**
 * The client options the controller starts the language client with, built without VS Code:
 * the languages it asks the server about, the settings it sends, where the key may travel,
 * and that the middleware routes progress, pins and command results to the controller.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LanguageClientOptions, Middleware } from "vscode-languageclient/node";
import { buildClientOptions, buildServerOptions, ClientHooks, documentSelector, serverEnvironment } from "./clientOptions";

interface Calls {
  failed: string[];
  cancelled: unknown[];
  progress: unknown[][];
  pinned: unknown[];
  runs: unknown[][];
}

function build(settings: Record<string, unknown> = {}): { options: LanguageClientOptions; calls: Calls } {
  const calls: Calls = { failed: [], cancelled: [], progress: [], pinned: [], runs: [] };
  const hooks: ClientHooks = {
    output: {} as ClientHooks["output"],
    settings: () => settings,
    initializationFailed: (message) => calls.failed.push(message),
    errored: () => ({ action: 1 }),
    closed: () => ({ action: 1, handled: true }),
    progress: (token, params, cancel) => {
      calls.progress.push([token, params.kind]);
      cancel();
    },
    cancelProgress: (token) => calls.cancelled.push(token),
    pinAll: (items) => {
      calls.pinned.push(...(items ?? []));
      return items;
    },
    pin: (command) => {
      calls.pinned.push(command);
      return command;
    },
    commandRun: async (command, args, result) => {
      const value = await result;
      calls.runs.push([command, args, value]);
      return value;
    },
  };
  return { options: buildClientOptions(hooks), calls };
}

function middleware(options: LanguageClientOptions): Middleware {
  assert.ok(options.middleware);
  return options.middleware;
}

test("the selector asks about Python and the other languages, one entry each", () => {
  const languages = (build().options.documentSelector as { language: string }[]).map((s) => s.language);
  assert.deepEqual(languages, documentSelector().map((s) => s.language));
  for (const id of ["python", "typescript", "typescriptreact", "go", "rust", "shellscript", "jsonc"]) {
    assert.ok(languages.includes(id), id);
  }
  assert.equal(new Set(languages).size, languages.length);
});

test("initializationOptions are the settings as they are when the client initializes", () => {
  const settings: Record<string, unknown> = { modelLabel: "m2-1" };
  const { options } = build(settings);
  const init = options.initializationOptions as () => unknown;
  settings.actions = [{ title: "Add logging", instruction: "Log each branch." }];
  assert.deepEqual(init(), { modelLabel: "m2-1", actions: [{ title: "Add logging", instruction: "Log each branch." }] });
});

test("a failed initialize is reported once and not retried", () => {
  const { options, calls } = build();
  const again = options.initializationFailedHandler?.(new Error("boom") as never);
  assert.equal(again, false);
  assert.deepEqual(calls.failed, ["the server failed to initialize: boom"]);
});

test("the pulled m21 section loses keys and editor-only parts; other sections pass", async () => {
  const { options } = build();
  const configuration = middleware(options).workspace?.configuration;
  assert.ok(configuration);
  const pulled = [
    { apiKey: "sk-secret", key: "sk-2", server: { path: "/x" }, trace: { server: "off" }, model: "m", actions: ["defaults"], caBundle: null },
    { apiKey: "not ours" },
  ];
  const result = await configuration(
    { items: [{ section: "m21" }, { section: "other" }] },
    {} as never,
    async () => pulled,
  );
  assert.deepEqual(result, [{ model: "m", actions: ["defaults"] }, { apiKey: "not ours" }]);
});

test("didChangeConfiguration carries no settings (the server pulls the sanitized copy)", async () => {
  const { options } = build();
  const sent: unknown[] = [];
  await middleware(options).workspace?.didChangeConfiguration?.(["m21"], async (sections) => {
    sent.push(sections);
  });
  assert.deepEqual(sent, [undefined]);
});

test("progress goes to the controller, which can cancel that token; only end reaches the client", () => {
  const { options, calls } = build();
  const forwarded: string[] = [];
  const handle = middleware(options).handleWorkDoneProgress;
  assert.ok(handle);
  handle("t1", { kind: "begin", title: "Refactor with m2-1" }, (_t, p) => forwarded.push(p.kind));
  handle("t1", { kind: "end" }, (_t, p) => forwarded.push(p.kind));
  assert.deepEqual(calls.progress, [["t1", "begin"], ["t1", "end"]]);
  assert.deepEqual(calls.cancelled, ["t1", "t1"]);
  assert.deepEqual(forwarded, ["end"]);
});

test("code actions and resolved actions are pinned; light-bulb commands report their result", async () => {
  const { options, calls } = build();
  const mw = middleware(options);
  const action = { title: "Refactor with m2-1", command: { title: "Refactor with m2-1", command: "m21.refactor", arguments: [1] } };
  const listed = await mw.provideCodeActions?.({} as never, {} as never, {} as never, {} as never, async () => [action as never]);
  assert.deepEqual(listed, [action]);
  const resolved = await mw.resolveCodeAction?.(action as never, {} as never, async (item) => item);
  assert.equal(resolved, action);
  assert.deepEqual(calls.pinned, [action, action.command]);
  const result = await mw.executeCommand?.("m21.action", [{ action: "docstrings" }], async () => ({ applied: true }));
  assert.deepEqual(result, { applied: true });
  assert.deepEqual(calls.runs, [["m21.action", [{ action: "docstrings" }], { applied: true }]]);
});

test("the key from secret storage wins and is the only change to the environment", () => {
  const base = { PATH: "/bin", M21_API_KEY: "from-env" };
  const secret = serverEnvironment(base, "from-secrets");
  assert.equal(secret.keySource, "secrets");
  assert.deepEqual(secret.env, { PATH: "/bin", M21_API_KEY: "from-secrets" });
  assert.equal(base.M21_API_KEY, "from-env", "the extension host's environment is not modified");
  assert.equal(serverEnvironment(base, undefined).keySource, "environment");
  assert.equal(serverEnvironment({ AIMLAPI_KEY: "k" }, "").keySource, "environment");
  assert.equal(serverEnvironment({ M21_API_KEY: "  " }, undefined).keySource, "none");
});

test("the server runs as resolved, in the given folder, with that environment", () => {
  const env = { PATH: "/bin" };
  assert.deepEqual(buildServerOptions({ command: "python3", args: ["-m", "m21_lsp", "serve", "--stdio"] }, env, "/ws"), {
    command: "python3",
    args: ["-m", "m21_lsp", "serve", "--stdio"],
    options: { env, cwd: "/ws" },
  });
});
