/**
 * Light-bulb actions whose pick always runs.
 *
 * VS Code keeps a code action's command *with its arguments* only as long as the action list
 * it came from: when a newer light-bulb request replaces that list while its menu is open
 * (the user selects, then presses Ctrl+. before the automatic request has answered), the
 * arguments are released and picking "Refactor with m2-1" from the menu runs nothing ("Actual
 * command not found" in the extension host log). A command *without* arguments is looked up by
 * its id, so it survives. Each server action therefore gets an argument-free command of the
 * extension's own, which runs the server's command with the kept arguments.
 *
 * The newest `keep` pins stay registered (a menu is always one of the last few lists); older
 * ones are disposed, so the extension does not grow as the cursor moves.
 *
 * No `vscode` import here: the extension passes `vscode.commands.registerCommand` and
 * `executeCommand` in, and the unit test passes fakes.
 */

export interface CommandLike {
  title: string;
  command: string;
  tooltip?: string;
  arguments?: unknown[];
}

export interface Disposable {
  dispose(): unknown;
}

export type Register = (id: string, run: () => unknown) => Disposable;
export type Execute = (command: string, ...args: unknown[]) => unknown;

export class CommandPins implements Disposable {
  private count = 0;
  private readonly live: Disposable[] = [];

  constructor(
    private readonly register: Register,
    private readonly execute: Execute,
    private readonly ownCommands: (command: string) => boolean,
    private readonly keep = 200,
  ) {}

  /** The same command as an argument-free one, when it is one of the server's with arguments. */
  pin<T extends CommandLike | undefined>(command: T): T {
    if (!command || !command.arguments?.length || !this.ownCommands(command.command)) {
      return command;
    }
    const target = command.command;
    const args = [...command.arguments];
    const id = `m21.pinned.${++this.count}`;
    this.live.push(this.register(id, () => this.execute(target, ...args)));
    while (this.live.length > this.keep) {
      this.live.shift()?.dispose();
    }
    const pinned: CommandLike = { title: command.title, command: id };
    if (command.tooltip !== undefined) {
      pinned.tooltip = command.tooltip;
    }
    return pinned as T;
  }

  /** Pin every action's command (and every bare command) in a code action result. */
  pinAll<T extends CommandLike | { command?: CommandLike }>(items: T[] | null | undefined): T[] | null | undefined {
    if (!items) {
      return items;
    }
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item.command === "string") {
        items[i] = this.pin(item as CommandLike) as T;
      } else {
        const action = item as { command?: CommandLike };
        action.command = this.pin(action.command);
      }
    }
    return items;
  }

  get registered(): number {
    return this.live.length;
  }

  dispose(): void {
    for (const d of this.live.splice(0)) {
      d.dispose();
    }
  }
}
