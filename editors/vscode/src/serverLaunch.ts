/**
 * Decides how to start m21-lsp, in the order the user is most likely to mean:
 * an explicit executable, an explicit Python, then the server the extension carries
 * (bundledServer.ts) run by the Python extension's interpreter (trusted workspaces only: a
 * cloned repository may pick its own `.venv`) or else `python3`/`python` on PATH. A package
 * built without the server falls back to an installed one: the Python extension's interpreter
 * with m21_lsp in it, then `m21-lsp` on PATH.
 *
 * Each candidate is checked before it is used, so that a missing server produces one
 * message that says which candidate failed and how to install, instead of a spawn error.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { bundledArgs, bundledTags, NO_PYTHON_HINT, probePythonFacts, unsuitable } from "./bundledServer";

export interface Launch {
  command: string;
  args: string[];
  /** Human description for the output channel and status tooltip. */
  origin: string;
}

export class ServerNotFound extends Error {
  constructor(
    message: string,
    /** Every place that was tried, for the output channel. */
    readonly tried: string[],
  ) {
    super(message);
  }
}

/** The extension carries the server but found no Python 3.10+ to run it. */
export class NoSuitablePython extends ServerNotFound {}

const SERVE_ARGS = ["serve", "--stdio"];
export const INSTALL_HINT =
  "Install it with `pip install m21-lsp` (see the README), then set `m21.server.path` or `m21.server.python` if it is not on PATH.";

export async function resolveLaunch(extensionPath: string): Promise<Launch> {
  const config = vscode.workspace.getConfiguration("m21");
  const tried: string[] = [];

  const serverPath = expandHome(config.get<string>("server.path", "").trim());
  if (serverPath) {
    if (isExecutable(serverPath)) {
      return { command: serverPath, args: SERVE_ARGS, origin: `m21.server.path (${serverPath})` };
    }
    throw new ServerNotFound(
      `m21.server.path is set to "${serverPath}", which is not an executable file. Point it at the m21-lsp executable (after \`pip install m21-lsp\`, \`which m21-lsp\` prints it) or clear the setting.`,
      [`m21.server.path: ${serverPath} (not executable)`],
    );
  }

  const python = expandHome(config.get<string>("server.python", "").trim());
  if (python) {
    const problem = await probePython(python);
    if (problem === undefined) {
      return pythonLaunch(python, `m21.server.python (${python})`);
    }
    throw new ServerNotFound(
      `m21.server.python is "${python}", but ${problem} Run \`"${python}" -m pip install m21-lsp\` or change the setting.`,
      [`m21.server.python: ${python} (${problem})`],
    );
  }

  const trusted = vscode.workspace.isTrusted;
  const tags = bundledTags(extensionPath);
  if (tags.length > 0) {
    const candidates: [string, string][] = [];
    const interpreter = trusted ? await pythonExtensionInterpreter() : undefined;
    if (interpreter) {
      candidates.push([interpreter, "the Python extension's interpreter"]);
    }
    for (const name of ["python3", "python"]) {
      const found = findOnPath(name);
      if (found) {
        candidates.push([found, `${name} on PATH`]);
      } else {
        tried.push(`${name} on PATH: not found`);
      }
    }
    for (const [python, where] of candidates) {
      const facts = await probePythonFacts(python);
      const problem = typeof facts === "string" ? facts : unsuitable(facts, tags);
      if (problem === undefined && typeof facts !== "string") {
        const shown = `${facts.version[0]}.${facts.version[1]}`;
        return {
          command: python,
          args: bundledArgs(extensionPath),
          origin: `the bundled server, run by ${where} (Python ${shown}, ${facts.executable})`,
        };
      }
      tried.push(`${where} ${python}: ${problem}`);
    }
    const onPath = findOnPath("m21-lsp");
    if (onPath) {
      return { command: onPath, args: SERVE_ARGS, origin: `PATH (${onPath})` };
    }
    throw new NoSuitablePython(
      `The m2-1 language server comes with this extension but needs Python 3.10 or newer to run, and none was found (tried: ${tried.join("; ")}). ${NO_PYTHON_HINT}`,
      tried,
    );
  }

  if (trusted) {
    const interpreter = await pythonExtensionInterpreter();
    if (interpreter) {
      const problem = await probePython(interpreter);
      if (problem === undefined) {
        return pythonLaunch(interpreter, `the Python extension's interpreter (${interpreter})`);
      }
      tried.push(`Python extension interpreter ${interpreter}: ${problem}`);
    }
  }

  const onPath = findOnPath("m21-lsp");
  if (onPath) {
    return { command: onPath, args: SERVE_ARGS, origin: `PATH (${onPath})` };
  }
  tried.push("m21-lsp on PATH: not found");
  throw new ServerNotFound(`The m2-1 language server (m21-lsp) was not found. ${INSTALL_HINT}`, tried);
}

function pythonLaunch(python: string, origin: string): Launch {
  return { command: python, args: ["-m", "m21_lsp", ...SERVE_ARGS], origin };
}

function expandHome(p: string): string {
  if (p === "~" || p.startsWith("~/")) {
    return path.join(process.env.HOME ?? process.env.USERPROFILE ?? "", p.slice(1));
  }
  return p;
}

function isExecutable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string): string | undefined {
  const exts = process.platform === "win32" ? (process.env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext.toLowerCase());
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** Why `python` cannot run the server, or undefined when it can import m21_lsp. */
function probePython(python: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(python, ["-c", "import m21_lsp"], { timeout: 20_000, windowsHide: true }, (error, _stdout, stderr) => {
      if (!error) {
        resolve(undefined);
      } else if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        resolve("that interpreter does not exist.");
      } else if (/No module named/.test(String(stderr))) {
        resolve("m21-lsp is not installed in it.");
      } else {
        resolve(`it failed to import m21_lsp (${firstLine(String(stderr)) || error.message}).`);
      }
    });
  });
}

function firstLine(text: string): string {
  const lines = text.trim().split(/\r?\n/);
  return lines[lines.length - 1] ?? "";
}

/** The interpreter the Python extension has selected, through its public API, if installed. */
async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension("ms-python.python");
  if (!ext) {
    return undefined;
  }
  try {
    const api = (ext.isActive ? ext.exports : await ext.activate()) as PythonExtensionApi | undefined;
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const envApi = api?.environments;
    if (envApi) {
      const active = envApi.getActiveEnvironmentPath(resource);
      const resolved = await envApi.resolveEnvironment(active);
      const exe = resolved?.executable?.uri?.fsPath;
      if (exe) {
        return exe;
      }
    }
    const details = api?.settings?.getExecutionDetails?.(resource);
    return details?.execCommand?.[0];
  } catch {
    return undefined;
  }
}

/** The small part of the Python extension's API used here (it ships no types we can depend on). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(env: { path: string }): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
  settings?: {
    getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] };
  };
}
