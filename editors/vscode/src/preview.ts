/**
 * The `m21/preview` notification (docs/preview.md), read without VS Code: what the server
 * sends while the model writes, and the capability that asks for it.
 *
 * The server sends it only to clients that declare `experimental.m21Preview`; each message is
 * a full snapshot (never a delta) of the explanation's markdown or of the refactor's new code,
 * ending in `done` or `cleared`. livePreview.ts shows it.
 */

export const PREVIEW_METHOD = "m21/preview";

export interface LspRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

export interface PreviewParams {
  id: string;
  kind: "refactor" | "explain";
  uri: string;
  range: LspRange;
  text: string;
  state: "streaming" | "done" | "cleared";
}

function isPosition(value: unknown): value is { line: number; character: number } {
  const v = value as { line?: unknown; character?: unknown } | null;
  return typeof v === "object" && v !== null && typeof v.line === "number" && typeof v.character === "number";
}

/** The params when they have the documented shape, else undefined (ignored, never guessed). */
export function readPreview(value: unknown): PreviewParams | undefined {
  if (typeof value !== "object" || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const range = v.range as { start?: unknown; end?: unknown } | undefined;
  if (
    typeof v.id !== "string" ||
    (v.kind !== "refactor" && v.kind !== "explain") ||
    typeof v.uri !== "string" ||
    typeof v.text !== "string" ||
    (v.state !== "streaming" && v.state !== "done" && v.state !== "cleared") ||
    !range ||
    !isPosition(range.start) ||
    !isPosition(range.end)
  ) {
    return undefined;
  }
  return v as unknown as PreviewParams;
}

/** Adds `experimental.m21Preview: true` to the capabilities the client sends in `initialize`. */
export function fillPreviewCapability(capabilities: { experimental?: unknown }): void {
  const experimental =
    typeof capabilities.experimental === "object" && capabilities.experimental !== null
      ? (capabilities.experimental as Record<string, unknown>)
      : {};
  capabilities.experimental = { ...experimental, m21Preview: true };
}

/** The live view's title: "shop.py:9-16 ↔ m2-1 (live)"; 1-based lines. */
export function liveTitle(fileName: string, range: LspRange): string {
  const last = range.end.character === 0 && range.end.line > range.start.line ? range.end.line : range.end.line + 1;
  return `${fileName}:${range.start.line + 1}-${last} ↔ m2-1 (live)`;
}

/**
 * Which live views to close when a command answers: those whose command has ended (done or
 * cleared). A view still streaming belongs to another command in flight.
 */
export function finishedViews(states: ReadonlyMap<string, PreviewParams["state"]>): string[] {
  return [...states].filter(([, state]) => state !== "streaming").map(([id]) => id);
}
