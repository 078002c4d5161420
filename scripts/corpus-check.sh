#!/usr/bin/env bash
# Unpacks the evaluation corpus (zstd-compressed tar archives) into a scratch
# folder and runs the analysis over every message, printing counts per
# folder. Fails when any message makes the analysis panic.
#
# Usage: scripts/corpus-check.sh [ARCHIVE_DIR] [SCRATCH_DIR]
#   ARCHIVE_DIR  folder with *.tar.zst archives (default: ../shared/corpus)
#   SCRATCH_DIR  where to unpack, outside the repository (default: ../corpus)
set -euo pipefail

cd "$(dirname "$0")/.."
archives="${1:-../shared/corpus}"
scratch="${2:-../corpus}"

if [ ! -d "$scratch" ] || [ -z "$(ls -A "$scratch" 2>/dev/null)" ]; then
    mkdir -p "$scratch"
    for archive in "$archives"/*.tar.zst; do
        zstd -dc "$archive" | tar xf - -C "$scratch"
    done
fi

PHISHLOOP_CORPUS="$(cd "$scratch" && pwd)" \
    cargo test --release -p phishloop --test corpus -- --ignored --nocapture
