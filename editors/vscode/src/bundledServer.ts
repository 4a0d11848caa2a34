/**
 * The server the extension carries: bundled/libs/cpXY (one `pip install --target` tree per
 * CPython minor version, since libcst is compiled) run by bundled/tool/launch.py with a Python
 * the machine already has. Kept free of the `vscode` module so its rules are unit-tested.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const MIN_PYTHON: readonly [number, number] = [3, 10];

export const NO_PYTHON_HINT =
  'Install Python 3.10 or newer (python.org, or your system\'s packages, e.g. `sudo apt install python3`) so that `python3` is on PATH, or select one in the Python extension; then run "m2-1: Restart Server". Or set `m21.server.python` to such a Python.';

export interface PythonFacts {
  implementation: string;
  version: [number, number];
  executable: string;
}

/** The CPython tags the package carries (empty for a build without the server). */
export function bundledTags(extensionPath: string): string[] {
  try {
    return fs
      .readdirSync(path.join(extensionPath, "bundled", "libs"))
      .filter((name) => /^cp\d+$/.test(name))
      .sort();
  } catch {
    return [];
  }
}

export function launchScript(extensionPath: string): string {
  return path.join(extensionPath, "bundled", "tool", "launch.py");
}

/** Arguments that run the bundled server with some Python (-I: see launch.py). */
export function bundledArgs(extensionPath: string): string[] {
  return ["-I", launchScript(extensionPath), "serve", "--stdio"];
}

/** Why this Python cannot run the bundle, or undefined when it can. */
export function unsuitable(facts: PythonFacts, tags: readonly string[]): string | undefined {
  const [major, minor] = facts.version;
  const shown = `${facts.implementation} ${major}.${minor}`;
  if (facts.implementation !== "cpython") {
    return `${shown} (the server needs CPython)`;
  }
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    return `Python ${major}.${minor} (too old: 3.10 or newer is needed)`;
  }
  if (!tags.includes(`cp${major}${minor}`)) {
    return `Python ${major}.${minor} (this package carries the server for ${tags.map(tagVersion).join(", ")})`;
  }
  return undefined;
}

function tagVersion(tag: string): string {
  return `${tag.slice(2, 3)}.${tag.slice(3)}`;
}

/** Parses the probe's one line: "<implementation> <major> <minor> <executable>". */
export function parseProbe(stdout: string): PythonFacts | undefined {
  const match = /^(\w+) (\d+) (\d+) (.*)$/.exec(stdout.trim());
  if (!match) {
    return undefined;
  }
  return { implementation: match[1], version: [Number(match[2]), Number(match[3])], executable: match[4] };
}

const PROBE = "import sys; print(sys.implementation.name, sys.version_info[0], sys.version_info[1], sys.executable)";

/** What `python` is, or why it could not be asked. */
export function probePythonFacts(python: string): Promise<PythonFacts | string> {
  return new Promise((resolve) => {
    execFile(python, ["-I", "-c", PROBE], { timeout: 20_000, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        resolve(code === "ENOENT" ? "does not exist" : `does not run (${String(stderr).trim().split(/\r?\n/).pop() || error.message})`);
        return;
      }
      resolve(parseProbe(String(stdout)) ?? `answered ${JSON.stringify(String(stdout).trim())}`);
    });
  });
}

/**
 * True when a server reports another version than the extension's. A server that reports none
 * (older builds) is not a mismatch worth a message.
 */
export function versionMismatch(extensionVersion: string, serverVersion: string | undefined): boolean {
  return Boolean(serverVersion) && serverVersion !== extensionVersion;
}
