/** Entry point: wires the status item, the explanation panel, the server and the commands. */
import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { ServerController } from "./controller";
import { ExplainPanel } from "./explainPanel";
import { StatusItem } from "./status";

let controller: ServerController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("m2-1", { log: true });
  const status = new StatusItem();
  const panel = new ExplainPanel();
  controller = new ServerController(context, output, status, panel);
  context.subscriptions.push(output, status, panel, controller);
  registerCommands(context, controller, output);
  void controller.ready();
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
