#!/usr/bin/env bash
# Put the language server and its dependencies into bundled/libs/ for one VS Code target, so
# the .vsix carries everything but a Python interpreter.
#
#   bash scripts/bundle-server.sh [target]     (default: this machine's, e.g. linux-x64)
#
# targets: linux-x64 linux-arm64 alpine-x64 alpine-arm64 darwin-x64 darwin-arm64 win32-x64
# win32-arm64 (vsce's names). libcst is compiled per CPython minor version and platform, so
# there is one complete `pip install --target` tree per supported version,
# bundled/libs/cp310 ... cp314; the extension picks the one matching the Python it finds and
# runs bundled/tool/launch.py with it. Wheels only (never a build from source), exactly the
# ones scripts/server-requirements.txt lists; the server itself is the wheel built from this
# checkout. Skipped when bundled/libs was made from the same inputs (bundled/libs/.inputs-sha).
set -euo pipefail

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$EXT_DIR/../.." && pwd)"
PYTHONS=(3.10 3.11 3.12 3.13 3.14)

host_target() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux; [ -f /etc/alpine-release ] && os=alpine ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN*) os=win32 ;;
    *) echo "unknown" && return ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch="$(uname -m)" ;;
  esac
  echo "$os-$arch"
}

TARGET="${1:-$(host_target)}"
# pip's --platform tags accepted for each target (libcst 1.9 needs glibc 2.28 on Linux; pip
# widens a macOS tag to the older releases and universal2 by itself).
case "$TARGET" in
  linux-x64) PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64) ;;
  linux-arm64) PLATFORMS=(manylinux_2_28_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64) ;;
  alpine-x64) PLATFORMS=(musllinux_1_2_x86_64 musllinux_1_1_x86_64) ;;
  alpine-arm64) PLATFORMS=(musllinux_1_2_aarch64 musllinux_1_1_aarch64) ;;
  darwin-x64) PLATFORMS=(macosx_11_0_x86_64) ;;
  darwin-arm64) PLATFORMS=(macosx_11_0_arm64) ;;
  win32-x64) PLATFORMS=(win_amd64) ;;
  win32-arm64) PLATFORMS=(win_arm64) ;;
  *)
    echo "bundle-server.sh: unknown target '$TARGET' (one of linux-x64 linux-arm64 alpine-x64 alpine-arm64 darwin-x64 darwin-arm64 win32-x64 win32-arm64)" >&2
    exit 2
    ;;
esac
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done

# The extension reports a server of another version than its own: the one it carries must match.
ext_version="$(node -p "require('$EXT_DIR/package.json').version")"
server_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -1)"
if [ "$ext_version" != "$server_version" ]; then
  echo "bundle-server.sh: package.json version $ext_version differs from pyproject.toml's $server_version" >&2
  exit 1
fi

LIBS="$EXT_DIR/bundled/libs"
inputs_sha="$( (
  echo "$TARGET"
  cat "$0" "$EXT_DIR/scripts/server-requirements.txt" "$ROOT/pyproject.toml"
  cd "$ROOT" && find server/m21_lsp -type f ! -name '*.pyc' | LC_ALL=C sort | xargs cat
) | sha256sum | cut -d' ' -f1)"
if [ -f "$LIBS/.inputs-sha" ] && [ "$(cat "$LIBS/.inputs-sha")" = "$inputs_sha" ]; then
  echo "bundled server current ($TARGET, $(cd "$LIBS" && ls -d cp* | tr '\n' ' '))"
  exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel -q --no-deps -w "$work" "$ROOT"
wheel="$(ls "$work"/m21_lsp-"$server_version"-*.whl)"

# Requirements for one Python version: the markers evaluated for that version and the target's
# platform (pip would evaluate them for the build machine's interpreter).
requirements_for() {
  python3 - "$1" "$TARGET" "$EXT_DIR/scripts/server-requirements.txt" <<'PY'
import sys

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

version, target, path = sys.argv[1:]
system = target.split("-")[0]
env = {
    "python_version": version,
    "python_full_version": version + ".0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": {"win32": "win32", "darwin": "darwin"}.get(system, "linux"),
    "platform_system": {"win32": "Windows", "darwin": "Darwin"}.get(system, "Linux"),
    "os_name": "nt" if system == "win32" else "posix",
}
for line in open(path, encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if line:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            print(f"{req.name}{req.specifier}")
PY
}

checked=()
rm -rf "$LIBS"
for version in "${PYTHONS[@]}"; do
  tag="cp${version/./}"
  dest="$LIBS/$tag"
  requirements_for "$version" >"$work/$tag.txt"
  # --ignore-requires-python: pip would hold pyyaml-ft (>=3.13) against the build machine's
  # Python; --python-version already chose the wheels for $version.
  python3 -m pip install -q --no-deps --no-compile --ignore-requires-python --target "$dest" \
    --only-binary :all: --implementation cp --python-version "$version" "${platform_args[@]}" \
    -r "$work/$tag.txt" "$wheel"
  # Console scripts point at the build machine's Python: the extension never uses them.
  rm -rf "$dest/bin"
  # Where this machine has that Python and the target is this machine's, prove the tree is
  # complete: the server's modules import, libcst's compiled parser runs and detect-secrets
  # finds a key (secrets are kept out of prompts with it).
  if [ "$TARGET" = "$(host_target)" ] && command -v "python$version" >/dev/null &&
    "python$version" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, sys.argv[1].split("."))))' "$version" 2>/dev/null; then
    "python$version" -I -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import m21_lsp.lsp.app, libcst; libcst.parse_module("x = 1\n"); from m21_lsp.pipeline import syntax; syntax.check_edit("go", "package m\n", (10, 10), "package m\n", []); from m21_lsp.pipeline import detect; assert detect.scan("k = \"sk_live_" + "a1B2c3D4" * 3 + "\"")' "$dest" ||
      { echo "bundle-server.sh: the $tag tree does not import (see above)" >&2; exit 1; }
    checked+=("$tag")
  fi
done
echo "$TARGET" >"$LIBS/target"
echo "$inputs_sha" >"$LIBS/.inputs-sha"
echo "bundled m21-lsp $server_version for $TARGET: $(cd "$LIBS" && ls -d cp* | tr '\n' ' ')($(du -sh "$LIBS" | cut -f1)); import-checked here: ${checked[*]:-none}"
