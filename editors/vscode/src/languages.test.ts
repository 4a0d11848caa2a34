/**
 * package.json has to repeat what the code knows (VS Code reads it before any code runs):
 * these check that activation, the menus and the `m21.actions` schema agree with languages.ts
 * and with the server's action contract (docs/actions.md).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isSupportedLanguage, LANGUAGES } from "./languages";

// npm test runs from the extension's folder.
const manifest = JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8"));

test("the extension activates on exactly the languages it works in", () => {
  assert.deepEqual(manifest.activationEvents, LANGUAGES.map((id) => `onLanguage:${id}`));
  for (const id of ["python", "typescript", "go", "rust", "java", "c", "cpp", "lua", "yaml", "shellscript"]) {
    assert.ok(isSupportedLanguage(id), id);
  }
  assert.ok(!isSupportedLanguage("plaintext"));
});

function langRegex(when: string): RegExp {
  const match = /editorLangId =~ \/(.+?)\/(?:\s|$)/.exec(when);
  assert.ok(match, `no editorLangId regex in ${when}`);
  return new RegExp(match[1]);
}

test("the palette and editor context menu offer the commands in those languages only", () => {
  const menus = manifest.contributes.menus;
  const entries = [...menus.commandPalette, ...menus["editor/context"]];
  assert.equal(entries.length, 4);
  for (const entry of entries) {
    const regex = langRegex(entry.when);
    for (const id of LANGUAGES) {
      assert.ok(regex.test(id), `${entry.command} (${entry.when}) misses ${id}`);
    }
    for (const id of ["plaintext", "markdown", "pythonx", "xgo", "c++"]) {
      assert.ok(!regex.test(id), `${entry.command} matches ${id}`);
    }
  }
  for (const entry of menus["editor/context"]) {
    assert.match(entry.when, /&& editorHasSelection$/);
  }
});

test("m21.actions: a list of built-in names or {title, instruction, kind?, languages?, scope?, name?, target?}", () => {
  const setting = manifest.contributes.configuration.properties["m21.actions"];
  assert.deepEqual(setting.type, ["array", "null"]);
  assert.equal(setting.default, null, "unset, so the server's defaults and M21_ACTIONS still apply");
  const [names, object] = setting.items.anyOf;
  assert.ok(names.enum.includes("defaults"));
  assert.equal(names.enum.length, names.enumDescriptions.length);
  assert.equal(object.type, "object");
  assert.deepEqual(object.required, ["title", "instruction"]);
  assert.equal(object.additionalProperties, false);
  assert.deepEqual(Object.keys(object.properties).sort(), ["instruction", "kind", "languages", "name", "scope", "target", "title"]);
  assert.deepEqual(object.properties.scope.enum, ["selection", "function", "file"]);
  assert.equal(object.properties.kind.default, "refactor.rewrite");
  const kind = new RegExp(object.properties.kind.pattern);
  for (const ok of ["refactor.rewrite", "refactor", "source.fixAll.m21", "quickfix"]) {
    assert.ok(kind.test(ok), ok);
  }
  for (const bad of ["rewrite", "refactor.", "refactorx"]) {
    assert.ok(!kind.test(bad), bad);
  }
  const name = new RegExp(object.properties.name.pattern);
  assert.ok(name.test("add-logging_2") && !name.test("-x") && !name.test("Add"));
  assert.deepEqual(object.properties.target.required, ["file"]);
  assert.deepEqual(object.properties.target.properties.mode.enum, ["append"]);
});

test("a workspace cannot define actions in an untrusted folder", () => {
  assert.ok(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations.includes("m21.actions"));
});
