import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { bundledTags, parseProbe, unsuitable, versionMismatch } from "./bundledServer";

const TAGS = ["cp310", "cp311", "cp312", "cp313", "cp314"];

test("a CPython the package carries a tree for is suitable", () => {
  assert.equal(unsuitable({ implementation: "cpython", version: [3, 12], executable: "/usr/bin/python3" }, TAGS), undefined);
});

test("too old, too new, or not CPython: each says why", () => {
  assert.match(unsuitable({ implementation: "cpython", version: [3, 9], executable: "x" }, TAGS) ?? "", /3\.9 \(too old: 3\.10 or newer/);
  assert.match(
    unsuitable({ implementation: "cpython", version: [3, 15], executable: "x" }, TAGS) ?? "",
    /3\.15 \(this package carries the server for 3\.10, 3\.11, 3\.12, 3\.13, 3\.14\)/,
  );
  assert.match(unsuitable({ implementation: "pypy", version: [3, 11], executable: "x" }, TAGS) ?? "", /needs CPython/);
  assert.match(unsuitable({ implementation: "cpython", version: [2, 7], executable: "x" }, TAGS) ?? "", /too old/);
});

test("the probe line parses, junk does not", () => {
  assert.deepEqual(parseProbe("cpython 3 11 /usr/bin/python3.11\n"), {
    implementation: "cpython",
    version: [3, 11],
    executable: "/usr/bin/python3.11",
  });
  assert.equal(parseProbe("Python was not found; run without arguments to install"), undefined);
});

test("bundled tags come from bundled/libs, and a build without it has none", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "m21-bundle-"));
  assert.deepEqual(bundledTags(dir), []);
  for (const name of ["cp312", "cp310", "target", ".inputs-sha"]) {
    fs.mkdirSync(path.join(dir, "bundled", "libs", name), { recursive: true });
  }
  assert.deepEqual(bundledTags(dir), ["cp310", "cp312"]);
});

test("a different server version is a mismatch, an unknown one is not", () => {
  assert.equal(versionMismatch("0.1.0", "0.1.0"), false);
  assert.equal(versionMismatch("0.1.0", "0.2.0"), true);
  assert.equal(versionMismatch("0.1.0", undefined), false);
});
