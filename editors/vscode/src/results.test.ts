/**
 * The status bar and the explanation panel read the server's command summaries; these pin
 * the shape the server documents in server/m21_lsp/lsp/commands.py (camelCase usage,
 * `seconds`, `applied`, `markdown`) and the fallbacks for older or other shapes.
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
  const declined = readSummary({ applied: false, kind: "declined", usage: { prompt_tokens: 5, completion_tokens: 6 } });
  assert.equal(declined.applied, false);
  assert.equal(declined.usage?.totalTokens, 11);
});

test("tolerates results that are not summaries", () => {
  assert.deepEqual(readSummary(null), {});
  assert.deepEqual(readSummary([1, 2]), {});
  assert.equal(readSummary("plain text").markdown, "plain text");
  assert.equal(readSummary({ markdown: { kind: "markdown", value: "v" } }).markdown, "v");
  assert.equal(readSummary({ durationMs: "soon" }).durationMs, undefined);
});
