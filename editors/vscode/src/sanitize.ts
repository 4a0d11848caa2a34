/**
 * Which parts of the `m21` settings section the server may see, as plain data.
 *
 * Kept free of the `vscode` module so the unit tests (plain Node) can check it: settings.ts
 * reads the configuration and hands it here.
 */
const EDITOR_ONLY = new Set(["server", "trace"]);
export const KEY_NAMES: ReadonlySet<string> = new Set(["apiKey", "key"]);

/**
 * Everything under `m21` except the editor-only parts (`server.*`, `trace.*`) and any key
 * typed into settings.json; unset (null) values are left out so the server's own layering
 * (defaults, then environment) still applies to them.
 */
export function sanitize(section: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    return out;
  }
  for (const [name, value] of Object.entries(section)) {
    if (EDITOR_ONLY.has(name) || KEY_NAMES.has(name) || value === null || value === undefined) {
      continue;
    }
    out[name] = value;
  }
  return out;
}
