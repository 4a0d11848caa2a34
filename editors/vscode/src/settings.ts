/**
 * The `m21` settings as the server sees them.
 *
 * Everything under `m21` is forwarded except the editor-only parts (`server.*`, `trace.*`)
 * and any `apiKey` someone typed into settings.json: the key is only ever taken from
 * SecretStorage and handed over in the server's environment. Unset (null) values are left
 * out so the server's own layering (defaults, then environment) still applies to them.
 */
import * as vscode from "vscode";

const EDITOR_ONLY = new Set(["server", "trace"]);
const KEY_NAMES = new Set(["apiKey", "key"]);

export function serverSettings(scope?: vscode.Uri): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration(undefined, scope).get<unknown>("m21");
  // Round-trip through JSON: the configuration objects are frozen proxies, the wire wants plain data.
  return sanitize(JSON.parse(JSON.stringify(section ?? {})));
}

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

/** True when a key was put in some settings.json, where it would be ignored (and exposed). */
export function keyInSettings(): boolean {
  const config = vscode.workspace.getConfiguration("m21");
  return [...KEY_NAMES].some((name) => {
    const info = config.inspect(name);
    return Boolean(info?.globalValue ?? info?.workspaceValue ?? info?.workspaceFolderValue);
  });
}
