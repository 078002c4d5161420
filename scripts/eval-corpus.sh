#!/usr/bin/env bash
# Evaluates triage per era on the part of the development corpus that the
# default model was not trained on. Modern phishing (phish/phishing_pot) is
# compared with modern legitimate mail (every ham/ folder but
# ham/spamassassin). The 2004-2005 phishing (phish/nazario) is compared with
# the 2002 legitimate mail (ham/spamassassin). Eras are never mixed, because
# the older collections differ from the newer ones in ways that have nothing
# to do with phishing (encodings, mail software, years in the text).
#
# Usage: scripts/eval-corpus.sh [ARCHIVE_DIR] [SCRATCH_DIR] [-- EVAL_OPTIONS]
#   ARCHIVE_DIR  folder with *.tar.zst archives (default: ../shared/corpus)
#   SCRATCH_DIR  where to unpack, outside the repository (default: ../corpus)
#   EVAL_OPTIONS passed to `phishloop eval`, for example --json or --config
set -euo pipefail

cd "$(dirname "$0")/.."
archives="../shared/corpus"
scratch="../corpus"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then archives="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then scratch="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

if [ ! -d "$scratch" ] || [ -z "$(ls -A "$scratch" 2>/dev/null)" ]; then
    mkdir -p "$scratch"
    for archive in "$archives"/*.tar.zst; do
        zstd -dc "$archive" | tar xf - -C "$scratch"
    done
fi
scratch="$(cd "$scratch" && pwd)"

cargo build --release --locked --quiet
phishloop="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/phishloop"
views="$(mktemp -d "$scratch/../eval-views.XXXXXX")"
trap 'rm -rf "$views"' EXIT

# One folder of hard links per era (phishloop does not follow symbolic
# links), laid out as eval expects
# (label/source).
mkdir -p "$views/modern/phish" "$views/modern/ham" "$views/2002-2005/phish" "$views/2002-2005/ham"
cp -al "$scratch/phish/phishing_pot" "$views/modern/phish/phishing_pot"
for folder in "$scratch"/ham/*/; do
    name="$(basename "$folder")"
    [ "$name" = spamassassin ] && continue
    cp -al "$folder" "$views/modern/ham/$name"
done
cp -al "$scratch/phish/nazario" "$views/2002-2005/phish/nazario"
cp -al "$scratch/ham/spamassassin" "$views/2002-2005/ham/spamassassin"

for era in modern 2002-2005; do
    echo "== $era"
    "$phishloop" eval "$@" "$views/$era"
    echo
done
echo "== whole corpus, with spam"
"$phishloop" eval "$@" "$scratch"
