#!/usr/bin/env python3
"""Where the slow Python BERT tokenizer and BertTokenizerFast disagree (tailor follows the fast).

    .venv/bin/python converters/tokenizer_slow_vs_fast.py [FIXTURES_DIR]

Encodes every text of the parity corpus (FIXTURES_DIR/texts.hex, default
build/fixtures/tokenizer, written by `tokenizer_parity.py fixtures`) with transformers'
BertTokenizerLegacy (the pure-Python BasicTokenizer + WordpieceTokenizer) and with
BertTokenizerFast, uncased and cased, and prints how many texts get different input ids,
with, for each kind of difference, the characters involved and one example. The kinds are
found by re-encoding a differing text one word at a time and asking which single-character
rule explains the first differing word. README "Tokenizer" lists the result.
"""
from __future__ import annotations

import collections
import os
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def rule(ch: str) -> str:
    """Which rule of the two tokenizers a differing character falls under."""
    cat = unicodedata.category(ch)
    if unicodedata.normalize("NFC", ch) != ch:
        return "NFC changes it (the slow tokenizer applies NFC first; e.g. CJK compatibility ideographs)"
    if cat == "Cn":
        return "unassigned in Python's Unicode: slow drops it as a control character, fast keeps it"
    if cat == "Mn":
        return "a nonspacing mark newer than fast's tables: slow strips it, fast keeps it"
    if cat in ("Cf", "Cc", "Co", "Cs"):
        return f"control/format ({cat}): the two control tables differ"
    if cat.startswith("Z") or ch.isspace():
        return f"whitespace ({cat}): slow = Zs and \\t\\n\\r, fast = Rust White_Space"
    if cat.startswith("P"):
        return f"punctuation ({cat}) newer than fast's tables: slow isolates it, fast does not"
    if ch.lower() != ch or ch.upper() != ch:
        return f"lowercasing ({cat}): Python's str.lower vs Rust's char::to_lowercase"
    return f"other ({cat})"


def classify(slow, fast, text):
    """The rule and character behind a difference, from the first word whose encodings differ."""
    for word in text.split():
        if slow.encode(word, add_special_tokens=False) == fast(word, add_special_tokens=False)["input_ids"]:
            continue
        for ch in word:
            if slow.encode(ch, add_special_tokens=False) != fast(ch, add_special_tokens=False)["input_ids"]:
                return rule(ch), ch
        if unicodedata.normalize("NFC", word) != word:
            return "NFC composition of a sequence (the slow tokenizer composes first)", word
        if word.lower() != "".join(c.lower() for c in word):
            return "context-dependent lowercasing (Python's final sigma)", word
        return "other (word level)", word
    return "whitespace between words", text


def main(argv=None):
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    from tokenizer_parity import minilm_dir
    d = (argv or sys.argv[1:] or [os.path.join(os.path.dirname(HERE), "build", "fixtures", "tokenizer")])[0]
    with open(os.path.join(d, "texts.hex")) as f:
        texts = [bytes.fromhex(line.strip()).decode("utf-8", errors="replace") for line in f]
    vocab = os.path.join(minilm_dir(), "vocab.txt")
    for lower in (True, False):
        slow = BertTokenizerLegacy(vocab, do_lower_case=lower)
        fast = BertTokenizerFast.from_pretrained(minilm_dir(), do_lower_case=lower)
        kinds, examples, n_diff = collections.Counter(), {}, 0
        for t in texts:
            if slow.encode(t) == fast(t)["input_ids"]:
                continue
            n_diff += 1
            kind, ex = classify(slow, fast, t)
            kinds[kind] += 1
            examples.setdefault(kind, [])
            if len(examples[kind]) < 4 and ex not in examples[kind]:
                examples[kind].append(ex)
        print(f"\n{'uncased' if lower else 'cased'}: {n_diff} of {len(texts)} texts differ")
        for kind, n in kinds.most_common(40):
            eg = ", ".join(f"U+{ord(e):04X}" if len(e) == 1 else repr(e[:30]) for e in examples[kind])
            print(f"  {n:5d}  {kind}; e.g. {eg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
