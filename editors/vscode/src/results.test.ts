/**
 * The status bar and the explanation panel read the server's command results; these pin
 * the shape the server documents in server/m21_lsp/lsp/results.py (camelCase usage,
 * `seconds`, `applied`, `markdown`) and that nothing else is read: aliases the server never
 * sends (snake_case usage, `durationMs`, `explanation`, a bare string) give nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTokens, readSummary } from "./results";

test("reads the server's refactor summary", () => {
  const summary = readSummary({
    applied: true,
    cancelled: false,
    kind: "applied",
    reason: null,
    message: "Applied (3 lines changed).",
    seconds: 1.25,
    usage: { promptTokens: 1200, completionTokens: 34, reasoningTokens: 20, creditsUsed: 3 },
    warnings: [],
  });
  assert.equal(summary.applied, true);
  assert.equal(summary.cancelled, false);
  assert.equal(summary.durationMs, 1250);
  assert.deepEqual(summary.usage, { promptTokens: 1200, completionTokens: 34, totalTokens: 1234 });
  assert.equal(formatTokens(summary.usage), "1,234 tokens");
  assert.equal(summary.message, "Applied (3 lines changed).");
});

test("reads an explanation and a declined edit", () => {
  const explained = readSummary({ kind: "explained", markdown: "## Hi", usage: null, seconds: 0.5 });
  assert.equal(explained.markdown, "## Hi");
  assert.equal(explained.usage, undefined);
  assert.equal(formatTokens(explained.usage), undefined);
  const declined = readSummary({ applied: false, kind: "declined", usage: { promptTokens: 5, completionTokens: 6 } });
  assert.equal(declined.applied, false);
  assert.equal(declined.usage?.totalTokens, 11);
  const unreported = readSummary({
    kind: "applied",
    usage: { promptTokens: null, completionTokens: null, reasoningTokens: null, creditsUsed: null, reported: false },
  });
  assert.equal(unreported.usage, undefined);
});

test("tolerates results that are not summaries", () => {
  assert.deepEqual(readSummary(null), {});
  assert.deepEqual(readSummary([1, 2]), {});
  assert.deepEqual(readSummary("plain text"), {});
  assert.equal(readSummary({ seconds: "soon" }).durationMs, undefined);
});

test("reads no alias the server never sends", () => {
  const summary = readSummary({
    explanation: "e",
    text: "t",
    value: "v",
    contents: { value: "c" },
    durationMs: 5,
    duration: 1,
    durationS: 1,
    usage: { prompt_tokens: 5, completion_tokens: 6, total: 11 },
    tokens: 11,
    canceled: true,
    outcome: "o",
  });
  assert.equal(summary.markdown, undefined);
  assert.equal(summary.durationMs, undefined);
  assert.equal(summary.usage, undefined);
  assert.equal(summary.cancelled, undefined);
  assert.equal(summary.message, undefined);
  assert.equal(readSummary({ markdown: { kind: "markdown", value: "v" } }).markdown, undefined);
});

test("a user action's target result is summarized by its message", () => {
  const summary = readSummary({
    ...{ applied: false, cancelled: false, kind: "wouldCreate", reason: null, warnings: [] },
    message: "Would create tests/test_shop.py (120 bytes).",
    seconds: 0.5,
    usage: null,
    targetUri: "file:///ws/tests/test_shop.py",
    targetPath: "tests/test_shop.py",
    bytes: 120,
    existed: false,
    text: "def test_total(): ...\n",
  });
  assert.equal(summary.applied, false);
  assert.equal(summary.message, "Would create tests/test_shop.py (120 bytes).");
  assert.equal(summary.markdown, undefined, "the would-be file is not an explanation");
});
