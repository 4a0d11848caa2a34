/**
 * The `m21` settings as the server sees them.
 *
 * Everything under `m21` is forwarded except the editor-only parts (`server.*`, `trace.*`)
 * and any `apiKey` someone typed into settings.json: the key is only ever taken from
 * SecretStorage and handed over in the server's environment. The filtering itself lives in
 * sanitize.ts (no `vscode` import, so it is unit-tested).
 */
import * as vscode from "vscode";
import { KEY_NAMES, sanitize } from "./sanitize";

export { sanitize };

export function serverSettings(scope?: vscode.Uri): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration(undefined, scope).get<unknown>("m21");
  // Round-trip through JSON: the configuration objects are frozen proxies, the wire wants plain data.
  return sanitize(JSON.parse(JSON.stringify(section ?? {})));
}

/** True when a key was put in some settings.json, where it would be ignored (and exposed). */
export function keyInSettings(): boolean {
  const config = vscode.workspace.getConfiguration("m21");
  return [...KEY_NAMES].some((name) => {
    const info = config.inspect(name);
    return Boolean(info?.globalValue ?? info?.workspaceValue ?? info?.workspaceFolderValue);
  });
}
