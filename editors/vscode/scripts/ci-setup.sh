#!/usr/bin/env bash
# Prepare everything the VS Code end-to-end test needs, from nothing or from a warm cache.
#
#   bash editors/vscode/scripts/ci-setup.sh
#
# 1. Debian packages: build tools and headers for code-server's native modules, chromium
#    (driven through playwright-core, which downloads no browser), ripgrep.
# 2. The extension: npm ci, lint, unit tests, build, and the .vsix for this machine's platform
#    with the server inside (scripts/package.sh: editors/vscode/m21-lsp-linux-x64.vsix here).
# 3. code-server 4.100.3 (VS Code 1.100.3, the newest that runs on Node 20) into
#    .e2e-cache/code-server, from the lockfile in editors/vscode/e2e/code-server.
#
# Idempotent: each step is skipped when its result is already there and current, so local
# runs reuse .e2e-cache/ (delete it to start over). Prints where things are at the end and
# writes them to .e2e-cache/vscode-e2e.env for the test.
set -euo pipefail

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$EXT_DIR/../.." && pwd)"
CACHE="${M21_E2E_CACHE:-$ROOT/.e2e-cache}"
CS_LOCK_DIR="$EXT_DIR/e2e/code-server"
CS_DIR="$CACHE/code-server"
CS_VERSION="4.100.3"
# @vscode/ripgrep as pinned by code-server 4.100.3's lib/vscode/npm-shrinkwrap.json; its
# postinstall downloads a prebuilt rg from GitHub unless it finds this tarball in
# $TMPDIR/vscode-ripgrep-cache-<version>/ (see its lib/download.js).
RG_NPM_VERSION="1.15.11"
RG_PREBUILT_TAG="v13.0.0-10"

log() { printf '[ci-setup %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
started=$SECONDS

# npm as root runs install scripts only with unsafe-perm (code-server's postinstall checks
# it); `yes` keeps npx from prompting; no audit/fund chatter.
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false \
  npm_config_fund=false npm_config_update_notifier=false npm_config_loglevel=warn
# node-gyp must not download Node headers (no network but the registries): use the ones
# the distribution's nodejs package installed next to the binary.
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -f "$node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi

# ---------------------------------------------------------------------------- 1. apt
APT_PACKAGES=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config build-essential
  python3 chromium ripgrep)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != "20" ]; then
  echo "code-server $CS_VERSION needs Node 20; this is Node $(node --version)." >&2
  exit 1
fi

# ---------------------------------------------------------------------------- 2. extension
cd "$EXT_DIR"
stamp="node_modules/.m21-lock-sha"
lock_sha="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sha" ]; then
  log "npm ci (extension)"
  npm ci --no-audit --no-fund
  echo "$lock_sha" >"$stamp"
else
  log "extension node_modules current"
fi
log "lint, unit tests, build, package"
npm run --silent lint
npm test --silent
npm run --silent build
bash scripts/package.sh </dev/null
vsix="$EXT_DIR/m21-lsp-$(cat bundled/libs/target).vsix"

# ---------------------------------------------------------------------------- 3. code-server
mkdir -p "$CACHE"
entry="$CS_DIR/node_modules/code-server/out/node/entry.js"
rg_bin="$CS_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"
cs_sha="$(cat "$CS_LOCK_DIR/package.json" "$CS_LOCK_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
cs_stamp="$CS_DIR/.m21-lock-sha"
if [ -f "$entry" ] && [ -x "$rg_bin" ] && [ -f "$cs_stamp" ] && [ "$(cat "$cs_stamp")" = "$cs_sha" ]; then
  log "code-server $CS_VERSION present"
else
  log "installing code-server $CS_VERSION (native modules build from source; a few minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  cp "$CS_LOCK_DIR/package.json" "$CS_LOCK_DIR/package-lock.json" "$CS_DIR/"
  # Feed @vscode/ripgrep's download cache with Debian's rg: same tarball name and layout
  # (rg at the top level) as the prebuilt release it would fetch.
  tmp="$CACHE/tmp"
  rg_target="$(uname -m | sed -e 's/^x86_64$/x86_64-unknown-linux-musl/' -e 's/^aarch64$/aarch64-unknown-linux-musl/')"
  rg_cache="$tmp/vscode-ripgrep-cache-$RG_NPM_VERSION"
  mkdir -p "$rg_cache"
  staging="$(mktemp -d)"
  cp "$(command -v rg)" "$staging/rg"
  tar czf "$rg_cache/ripgrep-$RG_PREBUILT_TAG-$rg_target.tar.gz" -C "$staging" rg
  rm -rf "$staging"
  (cd "$CS_DIR" && TMPDIR="$tmp" npm ci --no-audit --no-fund)
  test -f "$entry"
  test -x "$rg_bin" || { echo "ripgrep was not installed into code-server" >&2; exit 1; }
  echo "$cs_sha" >"$cs_stamp"
fi
"$CS_DIR/node_modules/.bin/code-server" --version | head -1

cat >"$CACHE/vscode-e2e.env" <<EOF
M21_CODE_SERVER=$CS_DIR/node_modules/.bin/code-server
M21_VSIX=$vsix
M21_CHROMIUM=$(command -v chromium)
EOF
log "ready in $((SECONDS - started)) s: $(tr '\n' ' ' <"$CACHE/vscode-e2e.env")"
