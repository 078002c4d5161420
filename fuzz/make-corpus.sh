#!/bin/sh
# Fills fuzz/corpus/<target>/ with seed inputs: the test messages of the
# phishloop crate, the text seeds in fuzz/seeds/ and the binary seeds that
# examples/make_seeds.rs writes (.msg files, zip and QR attachments).
# fuzz/corpus/ is ignored by git, and libFuzzer adds its own findings there.
# Running the script again refreshes the seeds and keeps what libFuzzer added.
set -eu

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
test_data="$fuzz_dir/../crates/phishloop/tests/data"
corpus="$fuzz_dir/corpus"
generated="$corpus/.generated"

mkdir -p "$corpus/analyze" "$corpus/split_input" "$corpus/msg" "$generated"

(cd "$fuzz_dir" && cargo run --quiet --example make_seeds -- "$generated")

# Every message file goes to the two targets that take any input file, and
# .msg files also go to the msg target. The file name keeps the folder under
# tests/data, so cases/a.eml and other/a.eml do not overwrite each other.
copy_message() {
    name=$(echo "$2" | tr '/' '-')
    cp "$1" "$corpus/analyze/$name"
    cp "$1" "$corpus/split_input/$name"
    case "$name" in
        *.msg) cp "$1" "$corpus/msg/$name" ;;
    esac
}

if [ -d "$test_data" ]; then
    (cd "$test_data" && find . -type f \( -name '*.eml' -o -name '*.mbox' -o -name '*.msg' \) | sed 's|^\./||') |
        while read -r relative; do
            copy_message "$test_data/$relative" "tests-data-$relative"
        done
else
    echo "note: $test_data not found, using only the fuzz seeds" >&2
fi

for seed in "$fuzz_dir"/seeds/* "$generated"/*; do
    copy_message "$seed" "$(basename "$seed")"
done

for target in analyze split_input msg; do
    echo "$target: $(find "$corpus/$target" -type f | wc -l) files in $corpus/$target"
done
