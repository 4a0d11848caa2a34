/**
 * The pins that keep a light-bulb pick working after VS Code released its action list: the
 * command VS Code sees has no arguments, and running it runs the server's command with the
 * arguments the server sent.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CommandPins } from "./pinnedCommands";

function fakeVscode() {
  const commands = new Map<string, () => unknown>();
  const executed: unknown[][] = [];
  const pins = new CommandPins(
    (id, run) => {
      assert.ok(!commands.has(id), `${id} registered twice`);
      commands.set(id, run);
      return { dispose: () => commands.delete(id) };
    },
    (command, ...args) => executed.push([command, ...args]),
    (command) => command.startsWith("m21.") && !command.startsWith("m21.pinned."),
    3,
  );
  return { commands, executed, pins };
}

const ARGS = { uri: "file:///shop.py", version: 4, range: { start: { line: 5, character: 0 }, end: { line: 13, character: 0 } } };

test("an action's command becomes argument-free and still runs the server's command", () => {
  const { commands, executed, pins } = fakeVscode();
  const actions = pins.pinAll([
    { title: "Refactor with m2-1", kind: "refactor.rewrite", command: { title: "Refactor with m2-1", command: "m21.refactor", arguments: [ARGS] } },
    { title: "Explain with m2-1", kind: "refactor.explain", command: { title: "Explain with m2-1", command: "m21.explain", arguments: [ARGS] } },
  ]);
  assert.ok(actions);
  const [refactor, explain] = actions.map((a) => a.command);
  assert.equal(refactor?.arguments, undefined);
  assert.equal(explain?.arguments, undefined);
  assert.notEqual(refactor?.command, explain?.command);
  assert.equal(refactor?.title, "Refactor with m2-1");
  commands.get(explain!.command)!();
  commands.get(refactor!.command)!();
  assert.deepEqual(executed, [
    ["m21.explain", ARGS],
    ["m21.refactor", ARGS],
  ]);
});

test("bare commands are pinned too; foreign, argument-free and already pinned ones are left alone", () => {
  const { commands, pins } = fakeVscode();
  const foreign = { title: "Organize imports", command: "python.sortImports", arguments: [1] };
  const plain = { title: "Restart", command: "m21.restartServer" };
  const items = pins.pinAll([{ title: "Fix with m2-1: E501", command: "m21.fix", arguments: [ARGS] }, foreign, plain]);
  assert.ok(items);
  assert.match(items[0].command, /^m21\.pinned\.\d+$/);
  assert.equal(items[1], foreign);
  assert.equal(items[2], plain);
  // Resolving hands the pinned command back: it must not be wrapped again.
  assert.equal(pins.pin(items[0]), items[0]);
  assert.equal(commands.size, 1);
});

test("only the newest pins stay registered", () => {
  const { commands, pins } = fakeVscode();
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push(pins.pin({ title: "Refactor with m2-1", command: "m21.refactor", arguments: [{ ...ARGS, version: i }] }).command);
  }
  assert.equal(new Set(ids).size, 5);
  assert.deepEqual([...commands.keys()], ids.slice(2));
  pins.dispose();
  assert.equal(commands.size, 0);
});
