/**
 * Shows `m21/preview` (docs/preview.md) while the model writes.
 *
 * - Explain: the explanation panel fills in with each snapshot (the server throttles them to
 *   about ten a second), titled "… (writing…)" until the model is done.
 * - Refactor: a read-only diff beside the editor, the selection as it is on the left and the
 *   new code as it is written on the right (virtual documents of the `m21-live` scheme, so
 *   nothing can be typed into them and the file is never touched). It closes on `cleared`
 *   (cancel, failure, no change) and when the command answers (after the edit, or after the
 *   user discarded it in the Refactor Preview); the edit itself still arrives only through
 *   the server's `workspace/applyEdit` and its confirm step.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { ExplainPanel } from "./explainPanel";
import { fillPreviewCapability, finishedViews, liveTitle, PreviewParams, readPreview } from "./preview";

export const LIVE_SCHEME = "m21-live";

interface View {
  original: string;
  text: string;
  state: PreviewParams["state"];
  right: vscode.Uri;
  opened: Thenable<unknown>;
}

/** The client feature that asks the server for `m21/preview` (capabilities.experimental). */
export const previewCapability = {
  fillClientCapabilities: (capabilities: { experimental?: unknown }) => fillPreviewCapability(capabilities),
  initialize: () => undefined,
  getState: () => ({ kind: "static" as const }),
  clear: () => undefined,
};

export class LivePreview implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly views = new Map<string, View>();
  private readonly registration: vscode.Disposable;
  // The explanation the panel is filling in, if any: a `cleared` for it closes the panel, so
  // that a cancelled or failed explanation is not left looking unfinished ("writing…").
  private explaining: string | undefined;

  constructor(
    private readonly panel: ExplainPanel,
    private readonly explainTitle: (params: PreviewParams) => string,
  ) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(LIVE_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const query = new URLSearchParams(uri.query);
    const view = this.views.get(query.get("id") ?? "");
    if (!view) {
      return "";
    }
    return query.get("side") === "old" ? view.original : view.text;
  }

  /** One `m21/preview` notification; anything not in the documented shape is ignored. */
  handle(raw: unknown): void {
    const params = readPreview(raw);
    if (!params) {
      return;
    }
    if (params.kind === "explain") {
      if (params.state === "cleared") {
        if (this.explaining === params.id) {
          this.explaining = undefined;
          this.panel.dispose();
        }
      } else if (params.text) {
        this.explaining = params.state === "streaming" ? params.id : undefined;
        const writing = params.state === "streaming" ? " (writing…)" : "";
        void this.panel.show(params.text, `${this.explainTitle(params)}${writing}`);
      }
      return;
    }
    if (params.state === "cleared") {
      void this.close(params.id);
      return;
    }
    const view = this.views.get(params.id);
    if (view) {
      view.text = params.text;
      view.state = params.state;
      this.changed.fire(view.right);
      return;
    }
    this.open(params);
  }

  /** A refactor command answered: its view (done or cleared by now) goes. */
  commandAnswered(): void {
    const states = new Map([...this.views].map(([id, view]) => [id, view.state]));
    for (const id of finishedViews(states)) {
      void this.close(id);
    }
  }

  closeAll(): void {
    for (const id of [...this.views.keys()]) {
      void this.close(id);
    }
  }

  private open(params: PreviewParams): void {
    const source = vscode.Uri.parse(params.uri);
    const name = path.posix.basename(source.path) || "code";
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === source.toString());
    const { start, end } = params.range;
    const original = document
      ? document.getText(new vscode.Range(start.line, start.character, end.line, end.character))
      : "";
    const side = (which: string) =>
      vscode.Uri.from({ scheme: LIVE_SCHEME, path: `/${name}`, query: `id=${encodeURIComponent(params.id)}&side=${which}` });
    const left = side("old");
    const right = side("new");
    const view: View = { original, text: params.text, state: params.state, right, opened: Promise.resolve() };
    this.views.set(params.id, view);
    view.opened = vscode.commands.executeCommand("vscode.diff", left, right, liveTitle(name, params.range), {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
      preview: true,
    });
  }

  private async close(id: string): Promise<void> {
    const view = this.views.get(id);
    if (!view) {
      return;
    }
    this.views.delete(id);
    try {
      await view.opened;
    } catch {
      // It never opened: nothing to close.
    }
    const wanted = view.right.toString();
    const tabs = vscode.window.tabGroups.all.flatMap((group) =>
      group.tabs.filter((tab) => tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === wanted),
    );
    if (tabs.length) {
      await vscode.window.tabGroups.close(tabs, true);
    }
  }

  dispose(): void {
    this.closeAll();
    this.registration.dispose();
    this.changed.dispose();
  }
}
