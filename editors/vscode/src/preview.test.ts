/** The m21/preview params as the extension reads them, and the capability it sends. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fillPreviewCapability, finishedViews, liveTitle, readPreview } from "./preview";

const range = { start: { line: 8, character: 0 }, end: { line: 16, character: 0 } };
const params = { id: "m21-preview-1", kind: "refactor", uri: "file:///p/shop.py", range, text: "def f():\n", state: "streaming" };

test("a notification in the documented shape is read as is", () => {
  assert.deepEqual(readPreview(params), params);
  assert.deepEqual(readPreview({ ...params, kind: "explain", state: "done" })?.state, "done");
});

test("anything else is ignored, never guessed", () => {
  for (const bad of [
    null,
    "text",
    { ...params, kind: "fix" },
    { ...params, state: "partial" },
    { ...params, text: undefined },
    { ...params, range: { start: { line: 1 } } },
    { ...params, id: 3 },
  ]) {
    assert.equal(readPreview(bad), undefined, JSON.stringify(bad));
  }
});

test("the capability is added next to other experimental ones", () => {
  const caps: { experimental?: unknown } = { experimental: { other: 1 } };
  fillPreviewCapability(caps);
  assert.deepEqual(caps.experimental, { other: 1, m21Preview: true });
  const bare: { experimental?: unknown } = {};
  fillPreviewCapability(bare);
  assert.deepEqual(bare.experimental, { m21Preview: true });
});

test("the title names the selected lines (a selection ending at a line start ends before it)", () => {
  assert.equal(liveTitle("shop.py", range), "shop.py:9-16 ↔ m2-1 (live)");
  const midLine = { start: { line: 8, character: 4 }, end: { line: 9, character: 3 } };
  assert.equal(liveTitle("shop.py", midLine), "shop.py:9-10 ↔ m2-1 (live)");
});

test("a command's answer closes finished views only", () => {
  const states = new Map([
    ["a", "done"],
    ["b", "streaming"],
    ["c", "cleared"],
  ] as const);
  assert.deepEqual(finishedViews(states), ["a", "c"]);
});
