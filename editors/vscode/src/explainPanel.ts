/**
 * Shows an explanation as rendered markdown in a side panel.
 *
 * Rendering goes through the built-in markdown extension (`markdown.api.render`) so the
 * panel looks like VS Code's own preview without bundling a markdown parser. The text
 * comes from a model, so the webview runs no scripts and its CSP allows only styles.
 */
import * as vscode from "vscode";

export class ExplainPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private shown = 0;

  /** Show `markdown`; called for each snapshot while the model writes, so a render that
   * finishes after a newer call started is dropped (the newer text wins). */
  async show(markdown: string, title: string): Promise<void> {
    const call = ++this.shown;
    const html = await renderMarkdown(markdown);
    if (call !== this.shown) {
      return;
    }
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        "m21.explanation",
        "m2-1: Explanation",
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true, retainContextWhenHidden: false },
      );
      this.panel.onDidDispose(() => (this.panel = undefined));
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    this.panel.title = `m2-1: ${title}`;
    this.panel.webview.html = page(this.panel.webview.cspSource, title, html);
  }

  dispose(): void {
    this.shown++; // a render still in flight must not reopen it
    this.panel?.dispose();
  }
}

async function renderMarkdown(markdown: string): Promise<string> {
  try {
    const html = await vscode.commands.executeCommand<string>("markdown.api.render", markdown);
    if (typeof html === "string") {
      return html;
    }
  } catch {
    // The markdown extension is disabled: fall back to plain preformatted text.
  }
  return `<pre>${escapeHtml(markdown)}</pre>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

function page(cspSource: string, title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${cspSource} https: data:; style-src ${cspSource} 'unsafe-inline';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: var(--vscode-markdown-font-family, var(--vscode-font-family)); font-size: var(--vscode-markdown-font-size, 14px); line-height: 1.6; padding: 0 20px 20px; color: var(--vscode-foreground); }
  code { font-family: var(--vscode-editor-font-family); font-size: 0.95em; }
  pre { background: var(--vscode-textCodeBlock-background); padding: 10px 14px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
  h1, h2, h3 { font-weight: 600; }
  .m21-source { color: var(--vscode-descriptionForeground); font-size: 0.9em; border-bottom: 1px solid var(--vscode-panel-border); padding-bottom: 6px; }
</style>
</head>
<body>
<p class="m21-source">${escapeHtml(title)}</p>
<main id="m21-explanation">${body}</main>
</body>
</html>`;
}
