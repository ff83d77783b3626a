#!/usr/bin/env python3
"""Unicode tables for tailor's WordPiece tokenizer, read off the reference implementation.

HF tokenizers (the library behind BertTokenizerFast) does not use one Unicode version: it
classifies characters with Rust's `char::is_whitespace` and `to_lowercase` (the Unicode
version of the Rust toolchain it was built with), the `unicode_categories` crate for
control characters, punctuation and nonspacing marks (an old Unicode version: characters
assigned since are neither), and `unicode-normalization-alignments` for NFD (another old
version: newer marks have combining class 0 there). utf8proc or Python's unicodedata would
each be wrong somewhere. So this script asks the installed `tokenizers` package itself, one
code point at a time (every code point 0..0x10FFFF except surrogates), through each stage:

  clean        BertNormalizer(clean_text only): removed (NUL, U+FFFD, Cc/Cf/Co as that crate
               sees them), mapped to ' ' (whitespace), or kept
  whitespace   BertPreTokenizer on 'a' + c + 'b': split and removed (Rust is_whitespace)
  punctuation  BertPreTokenizer on 'a' + c + 'b': isolated (ASCII punctuation or category P*)
  lowercase    BertNormalizer(lowercase only): Rust char::to_lowercase, 1 to 3 characters
  nfd          normalizers.NFD(): the full canonical decomposition
  mark         BertNormalizer(strip_accents only) on a character NFD leaves alone: removed
               (a nonspacing mark, Mn, as that crate sees it)
  ccc          canonical combining classes: values from Python's unicodedata (combining
               classes never change once assigned), set to 0 where the reference's NFD does
               not reorder the character (assigned after its tables were made); checked by
               NFD of c next to U+0301 (230) and U+0316 (220) for every c, and random mark runs
  chinese      BertNormalizer(handle_chinese_chars only): the fixed CJK ranges get spaces

Modes:
  generate OUT.hpp      write include/tailor/text/unicode_tables.hpp (committed, ~60 KB)
  reference OUT.txt     write what the reference does for every code point, for the C++ test
                        (tests/test_text_unicode.cpp) to compare tailor's stages with, at
                        test time, against the tokenizers version installed then
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import unicodedata

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def hangul_nfd(c: int) -> str:
    s = c - HANGUL_FIRST
    l, v, t = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return chr(l) + chr(v) + (chr(t) if t != 0x11A7 else "")


def per_char(norm, items, sep="|", batch=2048):
    """norm.normalize_str of each string in items, in batches joined by sep (a starter that
    no normaliser touches); a batch whose result does not split back into as many pieces
    (an item containing sep) is redone one item at a time."""
    out = []
    for i in range(0, len(items), batch):
        b = items[i:i + batch]
        r = norm.normalize_str(sep.join(b)).split(sep)
        out.extend(r if len(r) == len(b) else [norm.normalize_str(x) for x in b])
    return out


def pre_classes(pre, chars, batch=2048):
    """BertPreTokenizer's class of each character: 'split' (whitespace, dropped), 'isolate'
    (punctuation) or 'append', read off 'a' + c + 'b' (groups joined by U+3000)."""
    out = []
    for i in range(0, len(chars), batch):
        b = chars[i:i + batch]
        pieces = [w for w, _ in pre.pre_tokenize_str("\u3000".join("a" + c + "b" for c in b))]
        k, res = 0, []
        for c in b:
            if k < len(pieces) and pieces[k] == "a" + c + "b":
                res.append("append")
                k += 1
            elif pieces[k:k + 2] == ["a", "b"]:
                res.append("split")
                k += 2
            elif pieces[k:k + 3] == ["a", c, "b"]:
                res.append("isolate")
                k += 3
            else:
                raise RuntimeError(f"pre-tokenizer splits 'a' U+{ord(c):04X} 'b' unexpectedly: {pieces[k:k + 3]!r}")
        if k != len(pieces):
            raise RuntimeError("pre-tokenizer probe out of step")
        out.extend(res)
    return out


def probe():
    """Every table, from the installed tokenizers package. Raises if a probe surprises us."""
    import tokenizers
    from tokenizers import normalizers as N, pre_tokenizers

    def bert(**kw):
        base = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        base.update(kw)
        return N.BertNormalizer(**base)

    clean, lower, strip, chin = bert(clean_text=True), bert(lowercase=True), bert(strip_accents=True), \
        bert(handle_chinese_chars=True)
    nfd = N.NFD()
    pre = pre_tokenizers.BertPreTokenizer()

    t = dict(version=tokenizers.__version__, clean_remove=set(), clean_space=set(), whitespace=set(),
             punctuation=set(), lower={}, nfd={}, mark=set(), ccc={}, chinese=set())
    cps = code_points()
    chars = [chr(c) for c in cps]
    r_clean, r_lower, r_strip, r_nfd, r_chin = (per_char(n, chars) for n in (clean, lower, strip, nfd, chin))
    r_pre = pre_classes(pre, chars)
    for i, c in enumerate(cps):
        s = chars[i]
        r = r_clean[i]
        if r == "":
            t["clean_remove"].add(c)
        elif r == " " and c != 0x20:
            t["clean_space"].add(c)
        elif r != s:
            raise RuntimeError(f"clean_text maps U+{c:04X} to {r!r}")
        if r_pre[i] == "split":
            t["whitespace"].add(c)
        elif r_pre[i] == "isolate":
            t["punctuation"].add(c)
        if r_lower[i] != s:
            t["lower"][c] = r_lower[i]
        if r_nfd[i] != s:
            t["nfd"][c] = r_nfd[i]
        elif r_strip[i] == "":
            t["mark"].add(c)
        r = r_chin[i]
        if r == " " + s + " ":
            t["chinese"].add(c)
        elif r != s:
            raise RuntimeError(f"handle_chinese_chars maps U+{c:04X} to {r!r}")
        if unicodedata.combining(s):
            t["ccc"][c] = unicodedata.combining(s)

    # strip_accents = NFD, then drop marks: check that the mark set explains every character.
    for i, c in enumerate(cps):
        want = "".join(x for x in t["nfd"].get(c, chars[i]) if ord(x) not in t["mark"])
        if r_strip[i] != want:
            raise RuntimeError(f"strip_accents of U+{c:04X}: reference {r_strip[i]!r}, model {want!r}")
    for c in range(HANGUL_FIRST, HANGUL_LAST + 1):
        if t["nfd"].get(c) != hangul_nfd(c):
            raise RuntimeError(f"Hangul U+{c:04X} does not decompose algorithmically")

    # Combining classes: drop those the reference does not know, then check.
    def model_nfd(s, ccc):
        out = []
        for ch in s:
            out.extend(t["nfd"].get(ord(ch), ch))
        i = 0
        while i < len(out):
            if not ccc.get(ord(out[i]), 0):
                i += 1
                continue
            j = i
            while j < len(out) and ccc.get(ord(out[j]), 0):
                j += 1
            out[i:j] = sorted(out[i:j], key=lambda x: ccc[ord(x)])
            i = j
        return "".join(out)

    probes = lambda s: ["\u0301" + s, s + "\u0316", "a" + s + "\u0301\u0316", "\u0345" + s]
    for c in list(t["ccc"]):
        if any(nfd.normalize_str(p) != model_nfd(p, t["ccc"]) for p in probes(chr(c))):
            del t["ccc"][c]
    plain = [ch for ch in chars if ord(ch) not in t["ccc"] and ord(ch) not in t["nfd"]]
    for pre_s, post_s in (("\u0301", ""), ("", "\u0316"), ("\u0345", "")):  # a starter stays where it is
        got = per_char(nfd, [pre_s + ch + post_s for ch in plain])
        for ch, g in zip(plain, got):
            if g != pre_s + ch + post_s:
                raise RuntimeError(f"NFD reorders {pre_s + ch + post_s!r} although U+{ord(ch):04X} is a starter")
    for c in sorted(set(t["ccc"]) | set(t["nfd"])):
        for p in probes(chr(c)):
            if nfd.normalize_str(p) != model_nfd(p, t["ccc"]):
                raise RuntimeError(f"NFD reorders {p!r} unlike the combining-class model")
    rng = random.Random(1)
    marks = sorted(t["ccc"])
    for _ in range(20000):
        p = "".join(chr(rng.choice(marks)) if rng.random() < 0.7 else rng.choice("aÀ가ǕḉྷI")
                    for _ in range(rng.randint(1, 10)))
        if nfd.normalize_str(p) != model_nfd(p, t["ccc"]):
            raise RuntimeError(f"NFD reorders {p!r} unlike the combining-class model")
    return t


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def lower_runs(lower):
    """1:1 lowercase mappings as (first, last, stride, delta) runs; the rest separately."""
    single = sorted((c, ord(l) - c) for c, l in lower.items() if len(l) == 1)
    multi = sorted((c, l) for c, l in lower.items() if len(l) > 1)
    runs = []
    for c, d in single:
        if runs:
            f, l, s, dd = runs[-1]
            if dd == d and ((f == l and c - l in (1, 2)) or (f != l and c - l == s)):
                runs[-1] = [f, c, c - l if f == l else s, d]
                continue
        runs.append([c, c, 1, d])
    return runs, multi


def decomposition_steps(nfd):
    """Full decompositions as chains: c -> (b, last) with nfd(b) + last == nfd(c), else full."""
    by_value = {}
    for c, d in nfd.items():
        by_value.setdefault(d, c)
    pairs, full = [], []
    for c, d in sorted(nfd.items()):
        if HANGUL_FIRST <= c <= HANGUL_LAST:
            continue
        b = by_value.get(d[:-1]) if len(d) > 2 else None
        if len(d) == 2:  # d[0] is NFD output, so NFD(d[0]) == d[0]
            pairs.append((c, ord(d[0]), ord(d[1])))
        elif b is not None:
            pairs.append((c, b, ord(d[-1])))
        else:
            full.append((c, [ord(x) for x in d]))
    return pairs, full


def wrap(items, per_line, indent="    "):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append(indent + ", ".join(items[i:i + per_line]) + ",")
    return "\n".join(lines)


def generate(t, out):
    rngs = lambda name: ranges(t[name])
    pairs, full = decomposition_steps(t["nfd"])
    runs, multi = lower_runs(t["lower"])
    ccc_runs = []
    for c, v in sorted(t["ccc"].items()):
        if ccc_runs and ccc_runs[-1][1] == c - 1 and ccc_runs[-1][2] == v:
            ccc_runs[-1][1] = c
        else:
            ccc_runs.append([c, c, v])
    hx = lambda v: f"0x{v:X}"
    parts = [f"""// tailor/text/unicode_tables.hpp: GENERATED by converters/tokenizer_unicode.py from
// tokenizers {t['version']} (HF); do not edit. Regenerate with
//   .venv/bin/python converters/tokenizer_unicode.py generate include/tailor/text/unicode_tables.hpp
// and check with tests/test_text_unicode.cpp (ctest -R test_text_unicode), which compares
// every code point against the installed reference at test time.
//
// Each table is what the reference tokenizer does, probed one code point at a time (see the
// script's docstring): ranges are inclusive [first, last] pairs.
#pragma once

#include <cstdint>

namespace tailor::text::detail::tables {{

/// The tokenizers version these tables were read from.
inline constexpr const char* kReferenceVersion = "{t['version']}";
"""]

    def range_table(name, doc, key):
        r = rngs(key)
        items = [f"{{{hx(a)}, {hx(b)}}}" for a, b in r]
        parts.append(f"/// {doc}\ninline constexpr uint32_t {name}[][2] = {{\n{wrap(items, 6)}\n}};\n")

    range_table("kCleanRemove", "BertNormalizer clean_text removes these (NUL, U+FFFD, control/format/private).",
                "clean_remove")
    range_table("kCleanSpace", "BertNormalizer clean_text maps these to U+0020.", "clean_space")
    range_table("kWhitespace", "BertPreTokenizer splits on and drops these (Rust char::is_whitespace).",
                "whitespace")
    range_table("kPunctuation", "BertPreTokenizer isolates these (ASCII punctuation or category P*).",
                "punctuation")
    range_table("kNonspacingMark", "strip_accents removes these after NFD (category Mn as the reference sees it).",
                "mark")
    items = [f"{{{hx(a)}, {hx(b)}, {v}}}" for a, b, v in ccc_runs]
    parts.append("/// Canonical combining classes: {first, last, class}; absent means 0.\n"
                 f"inline constexpr uint32_t kCombiningClass[][3] = {{\n{wrap(items, 5)}\n}};\n")
    items = [f"{{{hx(a)}, {hx(b)}, {s}, {d}}}" for a, b, s, d in runs]
    parts.append("/// One-character lowercase mappings: {first, last, stride, delta}: every stride-th code point\n"
                 "/// from first to last lowercases to itself + delta.\n"
                 f"inline constexpr int32_t kLowerRuns[][4] = {{\n{wrap(items, 5)}\n}};\n")
    items = [f"{{{hx(c)}, " + ", ".join(hx(ord(x)) for x in (l + '\0\0')[:3]) + "}" for c, l in multi]
    parts.append("/// Lowercase mappings to several characters: {c, l0, l1, l2} (0 = none).\n"
                 f"inline constexpr uint32_t kLowerMulti[][4] = {{\n{wrap(items, 4)}\n}};\n")
    items = [f"{{{hx(c)}, {hx(a)}, {hx(b)}}}" for c, a, b in pairs]
    parts.append("/// Canonical decompositions as steps {c, a, b}: NFD(c) = NFD(a) followed by b (Hangul\n"
                 "/// syllables are algorithmic and not listed).\n"
                 f"inline constexpr uint32_t kDecompositionSteps[][3] = {{\n{wrap(items, 5)}\n}};\n")
    items = [f"{{{hx(c)}, " + ", ".join(hx(x) for x in (d + [0, 0, 0, 0])[:4]) + "}" for c, d in full]
    parts.append("/// Canonical decompositions given in full: {c, d0, d1, d2, d3} (0 = none).\n"
                 f"inline constexpr uint32_t kDecompositionFull[][5] = {{\n{wrap(items, 4)}\n}};\n")
    items = [f"{{{hx(a)}, {hx(b)}}}" for a, b in ranges(t["chinese"])]
    parts.append("/// handle_chinese_chars puts spaces around these (BertNormalizer::is_chinese_char).\n"
                 f"inline constexpr uint32_t kChinese[][2] = {{\n{wrap(items, 4)}\n}};\n")
    parts.append("}  // namespace tailor::text::detail::tables\n")
    text = "\n".join(parts)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"tokenizer_unicode: wrote {out} ({len(text)} bytes) from tokenizers {t['version']}", file=sys.stderr)


def reference(t, out):
    """What the reference does to every code point, one stage at a time, for the C++ test.

    Line formats (hex code points; a code point not listed in a section is left unchanged):
      version V
      clean FIRST LAST remove|space        clean_text
      whitespace FIRST LAST                pre-tokenizer splits and drops
      punctuation FIRST LAST               pre-tokenizer isolates
      lower C L0[,L1..]                    lowercase only
      strip C [D0,D1..]                    strip_accents only (NFD + drop marks); empty = removed
      chinese FIRST LAST                   handle_chinese_chars only: ' ' c ' '
      nfd INPUT OUTPUT                     NFD of short strings (comma-separated code points):
                                           every character that decomposes, every character
                                           next to U+0301 and U+0316, random runs of marks
    """
    from tokenizers import normalizers as N
    nfd = N.NFD()
    lines = [f"version {t['version']}"]
    for kind in ("remove", "space"):
        for a, b in ranges(t["clean_" + kind]):
            lines.append(f"clean {a:X} {b:X} {kind}")
    for key in ("whitespace", "punctuation", "chinese"):
        for a, b in ranges(t[key]):
            lines.append(f"{key} {a:X} {b:X}")
    for c, l in sorted(t["lower"].items()):
        lines.append(f"lower {c:X} " + ",".join(f"{ord(x):X}" for x in l))
    for c in code_points():
        d = t["nfd"].get(c, chr(c))
        s = "".join(x for x in d if ord(x) not in t["mark"])
        if s != chr(c):
            lines.append(f"strip {c:X} " + ",".join(f"{ord(x):X}" for x in s))
    enc = lambda s: ",".join(f"{ord(x):X}" for x in s)
    for c, d in sorted(t["nfd"].items()):
        lines.append(f"nfd {c:X} {enc(d)}")
    cands = set(t["ccc"]) | set(t["nfd"]) | {c for c in range(0x300, 0x370)}
    for c in sorted(cands):
        for p in ("\u0301" + chr(c), chr(c) + "\u0316"):
            lines.append(f"nfd {enc(p)} {enc(nfd.normalize_str(p))}")
    rng = random.Random(7)
    marks = sorted(t["ccc"]) + sorted(cands)[:50]
    for _ in range(20000):
        p = "".join(chr(rng.choice(marks)) if rng.random() < 0.7 else rng.choice("aÀ가ǕḉྷIİ")
                    for _ in range(rng.randint(1, 12)))
        lines.append(f"nfd {enc(p)} {enc(nfd.normalize_str(p))}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out + ".tmp", out)
    print(f"tokenizer_unicode: wrote {out} ({len(lines)} lines) from tokenizers {t['version']}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["generate", "reference"])
    ap.add_argument("out")
    args = ap.parse_args(argv)
    t = probe()
    (generate if args.mode == "generate" else reference)(t, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
