/**
 * Owns the language client's lifecycle: finds the server, starts it with the key in its
 * environment, restarts it on demand or when the key or server settings change, and reports a
 * server that cannot start exactly once (until the user asks again). What the client is built
 * from (launch, document selector, initializationOptions, middleware) is clientOptions.ts.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  WorkDoneProgressCancelNotification,
} from "vscode-languageclient/node";
import { buildClientOptions, buildServerOptions, KeySource, serverEnvironment } from "./clientOptions";
import { ExplainPanel } from "./explainPanel";
import { LivePreview, previewCapability } from "./livePreview";
import { PREVIEW_METHOD } from "./preview";
import { CommandPins } from "./pinnedCommands";
import { NotificationProgress } from "./progress";
import { CommandSummary, readSummary } from "./results";
import { versionMismatch } from "./bundledServer";
import { INSTALL_HINT, NoSuitablePython, resolveLaunch, ServerNotFound } from "./serverLaunch";
import { keyInSettings, serverSettings } from "./settings";
import { StatusItem } from "./status";

export const SECRET_KEY = "m21.apiKey";
const MAX_CRASHES = 3;
const RESTART_ON = ["m21.server", "m21.baseUrl", "m21.caBundle"];
const KEY_SOURCES: Record<KeySource, string> = {
  secrets: "from VS Code's secret storage",
  environment: "from the environment (M21_API_KEY / AIMLAPI_KEY)",
  none: 'not set: run "m2-1: Set API Key"',
};

export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private failureShown = false;
  private keyWarningShown = false;
  private crashes = 0;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly progress = new NotificationProgress();
  private restarting: Promise<void> = Promise.resolve();
  private readonly live: LivePreview;
  // The server's light-bulb commands, re-bound so that VS Code cannot drop a pick (see
  // pinnedCommands.ts).
  private readonly pins = new CommandPins(
    (id, run) => vscode.commands.registerCommand(id, run),
    (command, ...args) => vscode.commands.executeCommand(command, ...args),
    (command) => command.startsWith("m21.") && !command.startsWith("m21.pinned."),
  );

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly status: StatusItem,
    private readonly panel: ExplainPanel,
  ) {
    // The explanation and the new code as the model writes them (docs/preview.md).
    this.live = new LivePreview(panel, (params) => explanationTitle([params]));
    this.disposables.push(
      this.live,
      this.pins,
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChanged(event)),
      context.secrets.onDidChange((event) => {
        if (event.key === SECRET_KEY) {
          void this.restart("the API key changed");
        }
      }),
    );
  }

  /** The running client, starting it if needed; undefined when the server cannot start. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.client?.state === State.Running) {
      return this.client;
    }
    if (!this.starting) {
      this.starting = this.start().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  /**
   * Stop and start again. `freshStart` (the user asked, or changed how to start the server)
   * allows the "cannot start" message again: it is about a new attempt, not a repeat.
   */
  restart(reason: string, freshStart = false): Promise<void> {
    // One restart at a time, each after any start in flight: a key saved while the server
    // was still starting must not be lost to that start's older environment.
    this.restarting = this.restarting.catch(() => undefined).then(async () => {
      await this.starting;
      if (freshStart) {
        this.failureShown = false;
      }
      this.output.info(`Restarting the server: ${reason}`);
      await this.stop();
      this.crashes = 0;
      await this.ready();
    });
    return this.restarting;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.progress.clear();
    this.live.closeAll();
    if (client) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.output.warn(`Stopping the server: ${String(error)}`);
      }
      await client.dispose();
    }
    this.status.setState("stopped");
  }

  /** Run one of the server's commands directly, so its summary can be shown. */
  async executeServerCommand(
    command: string,
    args: unknown[],
    token?: vscode.CancellationToken,
  ): Promise<CommandSummary | undefined> {
    const client = await this.ready();
    if (!client) {
      // The reason and the way to install were shown once already; an explicit command still
      // deserves to hear that it did nothing.
      void vscode.window
        .showWarningMessage("m2-1: the language server is not running, so nothing was done.", "Show Output")
        .then((choice) => choice && this.output.show(true));
      return undefined;
    }
    try {
      const result = await this.status.track(
        client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token),
      );
      return await this.afterCommand(command, args, result);
    } finally {
      this.live.commandAnswered();
    }
  }

  private async start(): Promise<LanguageClient | undefined> {
    this.status.setState("starting");
    this.warnAboutKeyInSettings();
    let launch;
    try {
      launch = await resolveLaunch(this.context.extensionPath);
    } catch (error) {
      const tried = error instanceof ServerNotFound ? error.tried : [];
      for (const line of tried) {
        this.output.warn(`Tried ${line}`);
      }
      const noPython = error instanceof NoSuitablePython;
      this.status.setState(noPython ? "nopython" : "missing", String((error as Error).message));
      // The no-Python message already says what to install (a Python, not the server).
      this.reportFailure(String((error as Error).message), noPython ? "" : INSTALL_HINT);
      return undefined;
    }
    this.output.info(`Starting ${launch.command} ${launch.args.join(" ")} (from ${launch.origin})`);

    const { env, keySource } = serverEnvironment(process.env, await this.context.secrets.get(SECRET_KEY));
    this.status.setKeySource(KEY_SOURCES[keySource]);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const serverOptions = buildServerOptions(launch, env, folder?.scheme === "file" ? folder.fsPath : undefined);
    const clientOptions = buildClientOptions({
      output: this.output,
      settings: () => serverSettings(folder),
      initializationFailed: (message) => this.reportFailure(message),
      errored: () => ({ action: ErrorAction.Continue }),
      closed: () => this.onClosed(),
      progress: (token, params, cancel) => this.progress.handle(token, params, cancel),
      cancelProgress: (token) => void client.sendNotification(WorkDoneProgressCancelNotification.type, { token }),
      pinAll: (items) => this.pins.pinAll(items),
      pin: (command) => this.pins.pin(command),
      commandRun: async (command, args, result) => {
        try {
          const value = await this.status.track(result);
          await this.afterCommand(command, args, value);
          return value;
        } finally {
          this.live.commandAnswered();
        }
      },
    });

    const client = new LanguageClient("m21", "m2-1", serverOptions, clientOptions);
    client.registerFeature(previewCapability);
    client.onNotification(PREVIEW_METHOD, (params: unknown) => this.live.handle(params));
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        this.status.setState("running", launch.origin);
      } else if (event.newState === State.Starting) {
        this.status.setState("starting", launch.origin);
      } else {
        this.status.setState("stopped", launch.origin);
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      if (this.client === client) {
        this.client = undefined;
      }
      this.status.setState("stopped", "could not start");
      this.reportFailure(`${launch.origin} did not start: ${String((error as Error)?.message ?? error)}`);
      return undefined;
    }
    this.failureShown = false;
    this.checkVersion(client, launch.origin);
    return client;
  }

  /** The connection closed: restart a few times in a row, then stop and say so. */
  private onClosed(): CloseHandlerResult {
    this.crashes++;
    if (this.crashes <= MAX_CRASHES) {
      this.output.warn(`The server exited; restarting (${this.crashes}/${MAX_CRASHES}).`);
      return { action: CloseAction.Restart, handled: true };
    }
    this.status.setState("stopped", "the server kept exiting");
    this.reportFailure("the server exited several times in a row (see the m2-1 output).");
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  /**
   * A server of another version than the extension (an older install found through a setting
   * or PATH) may lack what the extension asks of it: say so once per version pair, ever, and
   * keep it in the status tooltip and the log.
   */
  private checkVersion(client: LanguageClient, origin: string): void {
    const mine = String(this.context.extension.packageJSON.version ?? "");
    const theirs = client.initializeResult?.serverInfo?.version;
    this.output.info(`Server version ${theirs ?? "unknown"}, extension version ${mine}.`);
    if (!versionMismatch(mine, theirs)) {
      return;
    }
    this.status.setState("running", `${origin}; server ${theirs}, extension ${mine}`);
    const key = `m21.versionMismatchShown:${theirs}:${mine}`;
    if (this.context.globalState.get<boolean>(key)) {
      return;
    }
    void this.context.globalState.update(key, true);
    void vscode.window.showWarningMessage(
      `m2-1: the language server is version ${theirs} but the extension is ${mine} (server from ${origin}); some features may not work. Clear m21.server.path and m21.server.python to use the server that comes with the extension, or install m21-lsp ${mine}.`,
    );
  }

  private async afterCommand(command: string, args: unknown[], result: unknown): Promise<CommandSummary> {
    const summary = readSummary(result);
    this.status.recordResult(command, summary);
    if (command === "m21.explain" && summary.markdown) {
      await this.panel.show(summary.markdown, explanationTitle(args));
    }
    if (summary.message) {
      this.output.info(`${command}: ${summary.message}`);
    }
    return summary;
  }

  private onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (!event.affectsConfiguration("m21")) {
      return;
    }
    // How to start the server, and where the key may go, are fixed at start: the server
    // takes baseUrl only from initializationOptions (a folder's settings could otherwise
    // redirect the key), so those changes restart it. Everything else reaches the running
    // server through the language client's didChangeConfiguration + the server's pull.
    if (RESTART_ON.some((name) => event.affectsConfiguration(name))) {
      void this.restart("the server, baseUrl or caBundle setting changed", true);
      return;
    }
    if (event.affectsConfiguration("m21.apiKey")) {
      this.keyWarningShown = false;
      this.warnAboutKeyInSettings();
    }
  }

  /** Say once, with the way out, why there is no server. */
  private reportFailure(reason: string, hint = INSTALL_HINT): void {
    this.output.error(reason);
    if (this.failureShown) {
      return;
    }
    this.failureShown = true;
    const message = reason.includes("pip install") || !hint ? `m2-1: ${reason}` : `m2-1: ${reason} ${hint}`;
    void vscode.window
      .showErrorMessage(message, "Open Settings", "Show Output", "Show README")
      .then((choice) => {
        if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", "m21.server");
        } else if (choice === "Show Output") {
          this.output.show(true);
        } else if (choice === "Show README") {
          const readme = vscode.Uri.joinPath(this.context.extensionUri, "README.md");
          void vscode.commands.executeCommand("markdown.showPreview", readme);
        }
      });
  }

  private warnAboutKeyInSettings(): void {
    if (this.keyWarningShown || !keyInSettings()) {
      return;
    }
    this.keyWarningShown = true;
    void vscode.window
      .showWarningMessage(
        "m2-1: an API key in settings.json is ignored (settings files are easy to share by mistake). Remove it and use \"m2-1: Set API Key\", which keeps it in VS Code's secret storage.",
        "Set API Key",
      )
      .then((choice) => {
        if (choice) {
          void vscode.commands.executeCommand("m21.setApiKey");
        }
      });
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
    this.progress.dispose();
    void this.stop();
  }
}

/** "app.py:12-30" from the command's first argument, when it has the usual {uri, range}. */
export function explanationTitle(args: unknown[]): string {
  const first = args[0] as { uri?: unknown; range?: { start?: { line?: number }; end?: { line?: number } } } | undefined;
  if (!first || typeof first.uri !== "string") {
    return "Explanation";
  }
  let name = first.uri;
  try {
    name = path.basename(vscode.Uri.parse(first.uri).path);
  } catch {
    // Keep the raw URI.
  }
  const start = first.range?.start?.line;
  const end = first.range?.end?.line;
  if (typeof start === "number" && typeof end === "number") {
    return `Explanation of ${name}:${start + 1}-${end + 1}`;
  }
  return `Explanation of ${name}`;
}
