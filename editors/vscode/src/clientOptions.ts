/**
 * What the language client is built from: how the server is launched and what the client
 * asks of it (document selector, initializationOptions, middleware).
 *
 * Separate from the controller's lifecycle (start/stop/restart/state) so that each piece can
 * be read and unit-tested alone: this module imports `vscode` and `vscode-languageclient`
 * for types only, and everything with side effects (progress UI, pins, status, crash
 * counting) comes in through `ClientHooks`.
 */
import type * as vscode from "vscode";
import type {
  CloseHandlerResult,
  ErrorHandlerResult,
  LanguageClientOptions,
  ProgressToken,
  ServerOptions,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { LANGUAGES } from "./languages";
import { sanitize } from "./sanitize";

/** How to run the server (serverLaunch.ts resolves it). */
export interface Launch {
  command: string;
  args: string[];
}

/** Where the key the server will use comes from, for the status tooltip. */
export type KeySource = "secrets" | "environment" | "none";

/**
 * The server's environment: the extension host's, plus the key from secret storage when
 * there is one (it wins over an inherited M21_API_KEY). The key goes nowhere else.
 */
export function serverEnvironment(
  base: NodeJS.ProcessEnv,
  secretKey: string | undefined,
): { env: NodeJS.ProcessEnv; keySource: KeySource } {
  const env: NodeJS.ProcessEnv = { ...base };
  if (secretKey) {
    env.M21_API_KEY = secretKey;
    return { env, keySource: "secrets" };
  }
  if (env.M21_API_KEY?.trim() || env.AIMLAPI_KEY?.trim()) {
    return { env, keySource: "environment" };
  }
  return { env, keySource: "none" };
}

/** The server process: the resolved launch, run in the first workspace folder when local. */
export function buildServerOptions(launch: Launch, env: NodeJS.ProcessEnv, cwd: string | undefined): ServerOptions {
  return { command: launch.command, args: launch.args, options: { env, cwd } };
}

/** One entry per language the extension works in (languages.ts). */
export function documentSelector(): { language: string }[] {
  return LANGUAGES.map((language) => ({ language }));
}

type ProgressParams = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;
type Pinnable = vscode.Command | vscode.CodeAction;

/** What the options call back into; the controller provides these. */
export interface ClientHooks {
  output: vscode.LogOutputChannel;
  /** The `m21` settings for initializationOptions (read when the client initializes). */
  settings: () => Record<string, unknown>;
  initializationFailed: (message: string) => void;
  /** The connection closed: restart or not (the controller counts crashes). */
  closed: () => CloseHandlerResult;
  /** A transport error: carry on. */
  errored: () => ErrorHandlerResult;
  /** A progress notification from the server; `cancel` asks the server to stop that work. */
  progress: (token: ProgressToken, params: ProgressParams, cancel: () => void) => void;
  /** Send `window/workDoneProgress/cancel` for this token. */
  cancelProgress: (token: ProgressToken) => void;
  pinAll: <T extends Pinnable>(items: T[] | null | undefined) => T[] | null | undefined;
  pin: (command: vscode.Command | undefined) => vscode.Command | undefined;
  /** A server command run through VS Code (a light-bulb pick) and its result. */
  commandRun: (command: string, args: unknown[], result: Promise<unknown>) => Promise<unknown>;
}

export function buildClientOptions(hooks: ClientHooks): LanguageClientOptions {
  return {
    documentSelector: documentSelector(),
    outputChannel: hooks.output,
    initializationOptions: () => hooks.settings(),
    initializationFailedHandler: (error) => {
      hooks.initializationFailed(`the server failed to initialize: ${String(error?.message ?? error)}`);
      return false;
    },
    errorHandler: { error: () => hooks.errored(), closed: () => hooks.closed() },
    middleware: {
      // Our own cancellable notification instead of the client's status-bar progress. The
      // client's part still sees "end", so it cleans up after itself.
      handleWorkDoneProgress: (token, params, next) => {
        hooks.progress(token, params, () => hooks.cancelProgress(token));
        if (params.kind === "end") {
          next(token, params);
        }
      },
      workspace: {
        // The server registers for `m21` changes and then pulls the section itself. Send the
        // notification without the settings payload, so the only copy it reads is the
        // sanitized answer below (a key typed into settings.json never travels).
        didChangeConfiguration: (_sections, next) => next(undefined),
        // The server pulls section `m21`; never let a key from settings.json reach it.
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return result.map((value, i) => (params.items[i]?.section === "m21" ? sanitize(value) : value));
        },
      },
      // Each action's command becomes an argument-free one VS Code cannot release while the
      // menu is open; resolving hands back the server's command again, so pin that too.
      provideCodeActions: async (document, range, context, token, next) =>
        hooks.pinAll(await next(document, range, context, token)),
      resolveCodeAction: async (item, token, next) => {
        const resolved = await next(item, token);
        if (resolved) {
          resolved.command = hooks.pin(resolved.command);
        }
        return resolved;
      },
      // Light-bulb actions run the server's commands through VS Code; read their results too.
      executeCommand: (command, args, next) => hooks.commandRun(command, args, Promise.resolve(next(command, args))),
    },
  };
}
