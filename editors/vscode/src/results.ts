/**
 * Reads the summaries that the server's `m21.refactor` / `m21.explain` commands return.
 *
 * The server owns the exact shape; this module only looks for the few facts the editor
 * shows (tokens used, whether an edit was applied, the explanation text) and tolerates
 * camelCase or snake_case so a field rename on the server degrades the status bar, not the
 * command.
 */

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

function pick(obj: Json, ...names: string[]): unknown {
  for (const name of names) {
    if (obj[name] !== undefined && obj[name] !== null) {
      return obj[name];
    }
  }
  return undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function readUsage(value: unknown): Usage | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  const usage: Usage = {
    promptTokens: num(pick(value, "promptTokens", "prompt_tokens", "prompt")),
    completionTokens: num(pick(value, "completionTokens", "completion_tokens", "completion")),
    totalTokens: num(pick(value, "totalTokens", "total_tokens", "total")),
  };
  if (usage.totalTokens === undefined && usage.promptTokens !== undefined && usage.completionTokens !== undefined) {
    usage.totalTokens = usage.promptTokens + usage.completionTokens;
  }
  return usage.totalTokens === undefined && usage.promptTokens === undefined && usage.completionTokens === undefined
    ? undefined
    : usage;
}

export function readSummary(result: unknown): CommandSummary {
  if (typeof result === "string") {
    return { markdown: result };
  }
  if (!isObject(result)) {
    return {};
  }
  const summary: CommandSummary = {};
  summary.usage = readUsage(pick(result, "usage", "tokens"));
  if (summary.usage === undefined) {
    const total = num(pick(result, "totalTokens", "total_tokens", "tokens"));
    if (total !== undefined) {
      summary.usage = { totalTokens: total };
    }
  }
  const applied = pick(result, "applied");
  summary.applied = typeof applied === "boolean" ? applied : undefined;
  const cancelled = pick(result, "cancelled", "canceled");
  summary.cancelled = typeof cancelled === "boolean" ? cancelled : undefined;
  summary.durationMs =
    num(pick(result, "durationMs", "duration_ms")) ??
    (num(pick(result, "duration", "seconds", "durationS", "duration_s")) ?? NaN) * 1000;
  if (Number.isNaN(summary.durationMs)) {
    summary.durationMs = undefined;
  }
  const markdown = pick(result, "markdown", "explanation", "text", "contents");
  if (typeof markdown === "string") {
    summary.markdown = markdown;
  } else if (isObject(markdown) && typeof markdown.value === "string") {
    summary.markdown = markdown.value;
  }
  const message = pick(result, "message", "outcome", "summary");
  summary.message = typeof message === "string" ? message : undefined;
  return summary;
}

export function formatTokens(usage: Usage | undefined): string | undefined {
  if (!usage || usage.totalTokens === undefined) {
    return undefined;
  }
  return `${usage.totalTokens.toLocaleString("en-US")} tokens`;
}
