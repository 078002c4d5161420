#!/usr/bin/env bash
# Runs the browser tests of the web interface (tests/browser) in headless
# Chromium. Installs Debian's chromium, and nodejs and npm when node is
# missing (needs root), and the locked playwright-core from npm with
# `npm ci` when it is not installed yet. playwright-core downloads no
# browser: the tests start /usr/bin/chromium. The tests start
# `phishloop serve` themselves on 127.0.0.1 from the debug build, which
# this script builds first (nothing to do after `cargo test --workspace`).
#
# Usage: scripts/browser-tests.sh
set -euo pipefail

cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "browser-tests: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo build --locked -p phishloop --bin phishloop

target="${CARGO_TARGET_DIR:-target}"
case "$target" in
    /*) ;;
    *) target="$(pwd)/$target" ;;
esac
export PHISHLOOP_BIN="${PHISHLOOP_BIN:-$target/debug/phishloop}"
if [ ! -x "$PHISHLOOP_BIN" ]; then
    echo "browser-tests: $PHISHLOOP_BIN not found after the build; set PHISHLOOP_BIN to the phishloop binary" >&2
    exit 1
fi

cd tests/browser
if [ ! -d node_modules/playwright-core ]; then
    echo "browser-tests: installing playwright-core with npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
npm test
