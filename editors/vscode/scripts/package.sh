#!/usr/bin/env bash
# Build the .vsix for one platform: the extension plus the server and its dependencies
# (scripts/bundle-server.sh). The package carries compiled code (libcst), so it is a
# platform package (`vsce package --target`).
#
#   bash scripts/package.sh [target]    -> m21-lsp-<target>.vsix (default: this machine's)
#
# npm run package -- <target> does the same.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bundle-server.sh "$@"
target="$(cat bundled/libs/target)"
rm -f "m21-lsp-$target.vsix"
# vsce runs `vscode:prepublish` (the production build) first. Its secret scan is skipped: on the
# ~4,000 third-party files of bundled/libs (certifi's CA bundle among them) it runs for more
# than ten minutes and can only raise false alarms; the extension's own files are
# dist/extension.js, package.json, README.md and launch.py, which hold no key (the e2e test
# checks that the key never reaches anything the editor writes).
npx --no-install vsce package --target "$target" --no-dependencies --allow-missing-repository \
  --allow-package-all-secrets -o "m21-lsp-$target.vsix" </dev/null
test -s "m21-lsp-$target.vsix"
echo "m21-lsp-$target.vsix: $(du -h "m21-lsp-$target.vsix" | cut -f1)"
