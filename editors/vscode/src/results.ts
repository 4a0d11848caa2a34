/**
 * Reads the results that the server's `m21.refactor` / `m21.fix` / `m21.explain` commands
 * return.
 *
 * Their shape is documented once, in server/m21_lsp/lsp/results.py (`CommandResult` and the
 * kinds that add keys), and a server test checks that real results have exactly those keys.
 * `ServerResult` mirrors it; this module reads those keys and no aliases, so a result that
 * is not in that shape yields an empty summary rather than a guess.
 */

/** `UsageResult` in results.py: counts are null (never 0) when the endpoint sent none. */
export interface ServerUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  reasoningTokens: number | null;
  cachedTokens: number | null; // prompt tokens served from the endpoint's prompt cache
  creditsUsed: number | null;
  reported: boolean;
}

/** `CommandResult` in results.py, with the keys its kinds add. */
export interface ServerResult {
  applied: boolean;
  cancelled: boolean;
  kind: string;
  reason: string | null;
  message: string;
  seconds: number;
  usage: ServerUsage | null;
  warnings: string[];
  markdown?: string; // kind "explained"
  // kinds "created" / "wouldCreate" (an action with a target, docs/actions.md); the editor
  // shows their `message`, which names the path and size.
  targetUri?: string;
  targetPath?: string;
  bytes?: number;
  existed?: boolean;
  text?: string; // kind "wouldCreate"
}

export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
}

export interface CommandSummary {
  usage?: Usage;
  applied?: boolean;
  cancelled?: boolean;
  durationMs?: number;
  markdown?: string;
  message?: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function bool(value: unknown): boolean | undefined {
  return typeof value === "boolean" ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function readUsage(value: unknown): Usage | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  const promptTokens = num(value.promptTokens);
  const completionTokens = num(value.completionTokens);
  if (promptTokens === undefined && completionTokens === undefined) {
    return undefined;
  }
  const usage: Usage = { promptTokens, completionTokens };
  if (promptTokens !== undefined && completionTokens !== undefined) {
    usage.totalTokens = promptTokens + completionTokens;
  }
  return usage;
}

export function readSummary(result: unknown): CommandSummary {
  if (!isObject(result)) {
    return {};
  }
  const summary: CommandSummary = {};
  summary.usage = readUsage(result.usage);
  summary.applied = bool(result.applied);
  summary.cancelled = bool(result.cancelled);
  const seconds = num(result.seconds);
  summary.durationMs = seconds === undefined ? undefined : seconds * 1000;
  summary.markdown = str(result.markdown);
  summary.message = str(result.message);
  return summary;
}

export function formatTokens(usage: Usage | undefined): string | undefined {
  if (!usage || usage.totalTokens === undefined) {
    return undefined;
  }
  return `${usage.totalTokens.toLocaleString("en-US")} tokens`;
}
