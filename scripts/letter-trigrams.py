#!/usr/bin/env python3
"""Write the letter trigram table that separates word compounds in domain
names from random strings (crates/analysis/src/letter_trigrams.bin).

The table holds, for every three symbols a b c of "^" (a word boundary) and
a to z, the natural log of P(c | a b), estimated from a word list and
interpolated with the bigram and unigram estimates (weights 0.6, 0.3, 0.1)
so that unseen trigrams keep a finite value. Each entry is one byte:
round(-ln P * 16), at most 255. Entries are ordered a * 27^2 + b * 27 + c,
with "^" as 0.

The word list is SCOWL as Debian packages it in wamerican
(/usr/share/dict/american-english, Copyright 2000-2011 Kevin Atkinson,
permissive licence). Install it with `apt-get install wamerican`.

Usage: scripts/letter-trigrams.py [WORD_LIST] [OUTPUT]
"""

import collections
import math
import re
import sys

SYMBOLS = "^abcdefghijklmnopqrstuvwxyz"
SCALE = 16


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/dict/american-english"
    output = sys.argv[2] if len(sys.argv) > 2 else "crates/analysis/src/letter_trigrams.bin"
    with open(source, encoding="utf-8", errors="ignore") as handle:
        words = sorted({line.strip().lower() for line in handle if re.fullmatch(r"[a-z]+", line.strip().lower())})

    trigrams = collections.Counter()
    trigram_contexts = collections.Counter()
    bigrams = collections.Counter()
    bigram_contexts = collections.Counter()
    unigrams = collections.Counter()
    for word in words:
        padded = "^^" + word + "^"
        for index in range(2, len(padded)):
            first, second, third = padded[index - 2], padded[index - 1], padded[index]
            trigrams[first + second + third] += 1
            trigram_contexts[first + second] += 1
            bigrams[second + third] += 1
            bigram_contexts[second] += 1
            unigrams[third] += 1
    total = sum(unigrams.values())

    table = bytearray()
    for first in SYMBOLS:
        for second in SYMBOLS:
            for third in SYMBOLS:
                unigram = (unigrams[third] + 1) / (total + len(SYMBOLS))
                bigram = (bigrams[second + third] + 0.5) / (bigram_contexts[second] + 0.5 * len(SYMBOLS))
                context = trigram_contexts[first + second]
                trigram = trigrams[first + second + third] / context if context else bigram
                probability = 0.6 * trigram + 0.3 * bigram + 0.1 * unigram
                table.append(min(255, round(-math.log(probability) * SCALE)))
    with open(output, "wb") as handle:
        handle.write(table)
    print(f"{output}: {len(table)} entries from {len(words)} words")


if __name__ == "__main__":
    main()
