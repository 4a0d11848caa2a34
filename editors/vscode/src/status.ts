/** The status-bar item: server state at a glance, and the tokens the last request used. */
import * as vscode from "vscode";
import { CommandSummary, formatTokens } from "./results";

/** "nopython": the extension carries the server but found no Python 3.10+ to run it. */
export type ServerState = "starting" | "running" | "stopped" | "missing" | "nopython" | "busy";

const ICONS: Record<ServerState, string> = {
  starting: "$(loading~spin)",
  running: "$(sparkle)",
  busy: "$(loading~spin)",
  stopped: "$(circle-slash)",
  missing: "$(warning)",
  nopython: "$(warning)",
};

const LABELS: Partial<Record<ServerState, string>> = { running: "", nopython: " needs Python 3.10+" };

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: ServerState = "stopped";
  private detail = "";
  private last: string | undefined;
  private lastTooltip: string | undefined;
  private busy = 0;
  private keySource = "";

  constructor() {
    this.item = vscode.window.createStatusBarItem("m21.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "m2-1";
    this.item.command = "m21.showOutput";
    this.render();
    this.item.show();
  }

  setState(state: ServerState, detail = ""): void {
    this.state = state;
    this.detail = detail;
    this.render();
  }

  /** Where the running server's key came from, fixed when it starts. */
  setKeySource(source: string): void {
    this.keySource = source;
    this.render();
  }

  /** Wrap a request so the item spins while it runs. */
  async track<T>(work: Promise<T>): Promise<T> {
    this.busy++;
    this.render();
    try {
      return await work;
    } finally {
      this.busy--;
      this.render();
    }
  }

  recordResult(command: string, summary: CommandSummary): void {
    const tokens = formatTokens(summary.usage);
    if (tokens) {
      this.last = tokens;
    }
    const parts = [`Last request (${command}): ${tokens ?? "no token count"}`];
    const u = summary.usage;
    if (u?.promptTokens !== undefined && u.completionTokens !== undefined) {
      parts.push(`prompt ${u.promptTokens.toLocaleString("en-US")}, completion ${u.completionTokens.toLocaleString("en-US")}`);
    }
    if (summary.durationMs !== undefined) {
      parts.push(`${(summary.durationMs / 1000).toFixed(1)} s`);
    }
    if (summary.cancelled) {
      parts.push("cancelled");
    } else if (summary.applied !== undefined) {
      parts.push(summary.applied ? "applied" : "not applied");
    }
    this.lastTooltip = parts.join(" · ");
    this.render();
  }

  private render(): void {
    const state: ServerState = this.busy > 0 && this.state === "running" ? "busy" : this.state;
    const label = LABELS[state] ?? ` ${state}`;
    const tokens = this.last && (state === "running" || state === "busy") ? ` · ${this.last}` : "";
    this.item.text = `${ICONS[state]} m2-1${label}${tokens}`;
    const lines = [`m2-1 server: ${state}${this.detail ? ` — ${this.detail}` : ""}`];
    if (this.keySource && state !== "missing" && state !== "nopython") {
      lines.push(`API key: ${this.keySource}`);
    }
    if (this.lastTooltip) {
      lines.push(this.lastTooltip);
    }
    lines.push("Click to show the server output.");
    this.item.tooltip = lines.join("\n");
    this.item.backgroundColor =
      state === "missing" || state === "nopython" ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
