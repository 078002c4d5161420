#!/usr/bin/env bash
# Captures screenshots of the web interface on real reported messages into
# docs/screenshots/: the queue, a case (whole view, sanitised message and
# actions) and the dashboard, and the queue on a narrow screen. The
# messages of CORPUS_DIR are submitted to a temporary `phishloop serve` on
# 127.0.0.1; only the PNG files are written into the repository.
#
# Usage: scripts/screenshots.sh CORPUS_DIR [MESSAGES]   (default 40 messages)
set -euo pipefail

if [ "$#" -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: scripts/screenshots.sh CORPUS_DIR [MESSAGES]: CORPUS_DIR must be a folder of messages" >&2
    exit 2
fi
corpus="$(cd "$1" && pwd)"
count="${2:-40}"

cd "$(dirname "$0")/.."
cargo build --locked -p phishloop --bin phishloop
target="${CARGO_TARGET_DIR:-target}"
case "$target" in
    /*) ;;
    *) target="$(pwd)/$target" ;;
esac
export PHISHLOOP_BIN="$target/debug/phishloop"
mkdir -p docs/screenshots

cd tests/browser
if [ ! -d node_modules/playwright-core ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
node screenshots.mjs "$corpus" "$count"
