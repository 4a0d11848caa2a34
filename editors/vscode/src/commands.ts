/**
 * The palette commands. They send the server the same arguments its code actions carry
 * ({uri, version, range, instruction}), so both paths exercise one server command.
 */
import * as vscode from "vscode";
import { ServerController, SECRET_KEY, explanationTitle } from "./controller";
import { isSupportedLanguage, LANGUAGES } from "./languages";

interface SelectionArgs {
  uri: string;
  version: number;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  instruction?: string;
}

function selectionArgs(editor: vscode.TextEditor, instruction?: string): SelectionArgs {
  const { start, end } = editor.selection;
  const args: SelectionArgs = {
    uri: editor.document.uri.toString(),
    version: editor.document.version,
    // Plain objects: vscode.Range serialises to an array, not an LSP Range.
    range: {
      start: { line: start.line, character: start.character },
      end: { line: end.line, character: end.character },
    },
  };
  if (instruction) {
    args.instruction = instruction;
  }
  return args;
}

/** The active editor when its language is one the server works in (languages.ts). */
function supportedEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage("m2-1: open a source file and select some code first.");
    return undefined;
  }
  if (!isSupportedLanguage(editor.document.languageId)) {
    void vscode.window.showInformationMessage(
      `m2-1 does not work on ${editor.document.languageId} files; it works on ${LANGUAGES.join(", ")}.`,
    );
    return undefined;
  }
  return editor;
}

function reportError(output: vscode.LogOutputChannel, what: string, error: unknown): void {
  const err = error as { code?: number; message?: string };
  // -32800 RequestCancelled: the user cancelled; the server has already said what happened.
  if (err?.code === -32800) {
    output.info(`${what}: cancelled`);
    return;
  }
  output.error(`${what}: ${err?.message ?? String(error)}`);
  void vscode.window.showErrorMessage(`m2-1: ${what} failed: ${err?.message ?? String(error)}`);
}

export function registerCommands(
  context: vscode.ExtensionContext,
  controller: ServerController,
  output: vscode.LogOutputChannel,
): void {
  const register = (id: string, fn: () => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register("m21.refactorSelection", async () => {
    const editor = supportedEditor();
    if (!editor) {
      return;
    }
    const instruction = await vscode.window.showInputBox({
      title: "m2-1: Refactor Selection",
      prompt: "What should change? Leave empty for a general clean-up that keeps behaviour.",
      placeHolder: "e.g. use pathlib, add type hints, split into smaller functions",
      ignoreFocusOut: true,
    });
    if (instruction === undefined) {
      return; // Escape: the user changed their mind.
    }
    // Read the selection after the input box: the user may have moved it meanwhile.
    const args = selectionArgs(editor, instruction.trim() || undefined);
    try {
      await controller.executeServerCommand("m21.refactor", [args]);
    } catch (error) {
      reportError(output, "Refactor", error);
    }
  });

  register("m21.explainSelection", async () => {
    const editor = supportedEditor();
    if (!editor) {
      return;
    }
    const args = selectionArgs(editor);
    try {
      const summary = await controller.executeServerCommand("m21.explain", [args]);
      if (summary && !summary.markdown) {
        output.warn(`Explain returned no text (${explanationTitle([args])}).`);
      }
    } catch (error) {
      reportError(output, "Explain", error);
    }
  });

  register("m21.restartServer", () => controller.restart("asked from the command palette", true));

  register("m21.showOutput", () => output.show(true));

  register("m21.setApiKey", async () => {
    const key = await vscode.window.showInputBox({
      title: "m2-1: Set API Key",
      prompt: "Your AIMLAPI key. It is kept in VS Code's secret storage and passed to the server in its environment.",
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) =>
        value.trim() === "" ? "Enter a key, or press Escape." : /\s/.test(value.trim()) ? "A key has no spaces." : undefined,
    });
    if (key === undefined) {
      return;
    }
    await context.secrets.store(SECRET_KEY, key.trim());
    void vscode.window.showInformationMessage("m2-1: API key saved in secret storage; the server restarts with it.");
  });

  register("m21.clearApiKey", async () => {
    await context.secrets.delete(SECRET_KEY);
    void vscode.window.showInformationMessage("m2-1: API key removed from secret storage.");
  });
}
