"""Text normalisation shared by ASR post-processing, metrics and rubric matching.

zh: Traditional -> Simplified, full-width -> half-width, punctuation and spaces removed,
Chinese numerals -> digits. en: lower case, contractions expanded, number words -> digits,
punctuation removed.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional_chars() -> frozenset[str]:
    """Characters that OpenCC's Traditional -> Simplified table changes."""
    from importlib.resources import files

    chars: set[str] = set()
    table = files("opencc").joinpath("dictionary", "TSCharacters.txt").read_text(encoding="utf-8")
    for line in table.splitlines():
        key, _, values = line.partition("\t")
        if key and key not in values.split():
            chars.add(key)
    return frozenset(chars)


@lru_cache(maxsize=1)
def _traditional_table() -> np.ndarray:
    """Code point -> whether OpenCC changes it (a whole call is checked with one lookup)."""
    table = np.zeros(0x110000, dtype=bool)
    table[[ord(c) for c in _traditional_chars()]] = True
    return table


def has_traditional(text: str) -> bool:
    """Whether ``text`` holds a character that Traditional -> Simplified would change."""
    if len(text) < 64:  # below this the set test is cheaper than the array round trip
        return not _traditional_chars().isdisjoint(text)
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return bool(_traditional_table()[code_points].any())


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese.

    Text with no character that OpenCC would convert is returned as is: the pure-Python
    converter costs tens of microseconds per call, and ASR output is already simplified
    (the check is one set operation in C: a 4,000-character regex class is 60x slower).
    """
    if _traditional_chars().isdisjoint(text):
        return text
    return str(_t2s().convert(text))


# Full-width ASCII forms and the ideographic space -> their NFKC equivalents.
_FULL_WIDTH = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}
_CJK = re.compile(r"[\u3400-\u9fff]")
_NON_WORD = re.compile(r"[^\w\u3400-\u9fff]+", re.UNICODE)
_SPACES = re.compile(r"\s+")

# --- Chinese numerals ------------------------------------------------------------------------
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5,
              "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_ZH_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10_000,
             "亿": 100_000_000}
_ZH_NUM_RUN = re.compile(f"[{''.join(_ZH_DIGITS)}{''.join(_ZH_UNITS)}]+")
# Words where a numeral character is not a number (一下 "a moment", 一起 "together", ...).
_ZH_NUMERAL_WORDS = ("一下", "一起", "一直", "一样", "一些", "一定", "一点", "一般", "一切", "万一",
                     "一会", "统一", "唯一", "一旦", "一边", "之一", "一致", "十分", "千万", "一向")


def zh_numeral_to_int(run: str) -> int | None:
    """Value of a Chinese numeral such as 三百二十 (320) or 两万五 (25000); None if invalid."""
    if all(ch in _ZH_DIGITS for ch in run):
        return None  # digit strings (一三八...) are handled digit by digit
    total, section, number = 0, 0, 0
    last_unit = 1
    for ch in run:
        if ch in _ZH_DIGITS:
            number = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            unit = _ZH_UNITS[ch]
            if unit >= 10_000:
                section = (section + number) * unit
                total += section
                section, number = 0, 0
            else:
                section += (number or 1) * unit
                number = 0
            last_unit = unit
    if number:
        # 两万五 = 25000: a trailing digit after a unit scales to the next lower unit.
        section += number * (last_unit // 10 if last_unit >= 10 and run[-1] in _ZH_DIGITS
                             and len(run) > 1 and run[-2] in _ZH_UNITS else 1)
    return total + section


def _zh_numbers_to_digits(text: str) -> str:
    if not _ZH_NUM_RUN.search(text):
        return text  # most utterances hold no numeral: skip the protection round trip
    protected: dict[str, str] = {}
    for i, word in enumerate(_ZH_NUMERAL_WORDS):
        if word in text:
            token = f"\ue000{i}\ue001"
            protected[token] = word
            text = text.replace(word, token)

    def convert(m: re.Match[str]) -> str:
        run = m.group(0)
        if all(ch in _ZH_DIGITS for ch in run):
            if len(run) == 1 and run in "两":
                return "2"
            return "".join(str(_ZH_DIGITS[ch]) for ch in run)
        value = zh_numeral_to_int(run)
        return str(value) if value is not None else run

    text = _ZH_NUM_RUN.sub(convert, text)
    for token, word in protected.items():
        text = text.replace(token, word)
    return text


# --- English numbers and contractions ------------------------------------------------------------
_EN_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
# Every contraction pattern below contains an apostrophe, except "cannot".
_CONTRACTIONS = (
    (re.compile(r"\bwon't\b"), "will not"), (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"), (re.compile(r"\bain't\b"), "is not"),
    (re.compile(r"\bshan't\b"), "shall not"), (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"), (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'d\b"), " would"), (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"\blet's\b"), "let us"), (re.compile(r"\b(it|that|what|there|he|she|who)'s\b"),
                                           r"\1 is"),
)


# A number always starts with a ones or tens word (a scale word alone starts none).
_EN_NUMBER_WORDS = frozenset(_EN_ONES) | frozenset(_EN_TENS)
_EN_NUMBER_START = re.compile(r"\b(?:" + "|".join(list(_EN_ONES) + list(_EN_TENS)) + r")\b")


def _en_numbers_to_digits(words: list[str]) -> list[str]:
    """Number words -> digits, one number per well-formed run: "twenty five" -> 25,
    "one hundred and twenty" -> 120, but "one two three" -> 1 2 3 (digits read out one by
    one are separate numbers, not a sum).
    """
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _EN_ONES or w in _EN_TENS or (w in _EN_SCALES and out and out[-1].isdigit()):
            total, current, j = 0, 0, i
            last = ""  # kind of the previous word in this number: ones, tens, scale, and
            while j < len(words):
                t = words[j]
                if t in _EN_ONES and (not last or last in ("scale", "and") or (
                        last == "tens" and 0 < _EN_ONES[t] < 10)):
                    current += _EN_ONES[t]
                    last = "ones"
                elif t in _EN_TENS and (not last or last in ("scale", "and")):
                    current += _EN_TENS[t]
                    last = "tens"
                elif t in _EN_SCALES and last:
                    scale = _EN_SCALES[t]
                    if scale == 100:
                        current *= 100
                    else:
                        total += current * scale
                        current = 0
                    last = "scale"
                elif t == "and" and last == "scale" and j + 1 < len(words) and (
                        words[j + 1] in _EN_ONES or words[j + 1] in _EN_TENS):
                    last = "and"
                else:
                    break
                j += 1
            if last:
                out.append(str(total + current))
                i = j
                continue
        out.append(w)
        i += 1
    return out


def _expand_contractions(text: str) -> str:
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    return text


def is_chinese(text: str) -> bool:
    """True when the text contains Han characters."""
    return bool(_CJK.search(text))


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Canonical form for matching (language detected from the text itself)."""
    t = text
    if not unicodedata.is_normalized("NFKC", t):
        # Full-width -> half-width. The table does the common full-width forms first because
        # NFKC's slow path costs ~6 us per utterance of Chinese punctuation, the table 2 us.
        t = unicodedata.normalize("NFKC", t.translate(_FULL_WIDTH))
    if is_chinese(t):
        t = to_simplified(t)
        t = _zh_numbers_to_digits(t)
        t = t.lower()
        t = _NON_WORD.sub("", t)
        return t
    t = t.lower().replace("\u2019", "'")
    if "'" in t or "cannot" in t:
        t = _expand_contractions(t)
    t = _NON_WORD.sub(" ", t)
    if not _EN_NUMBER_START.search(t):
        return " ".join(t.split())
    return " ".join(_en_numbers_to_digits(t.split()))


# Joins texts for normalize_many: survives every step below and is never in normalised text.
_BATCH_SEP = "\x00"
_NON_WORD_BATCH = re.compile(r"[^\w\u3400-\u9fff\x00]+", re.UNICODE)
_PUNCTUATION_BATCH = re.compile(r"[^\w\u3400-\u9fff\x00\s]+", re.UNICODE)
# The same characters among ASCII, one by one (runs of spaces are left to split()): a
# translation table over ASCII text costs a tenth of the regular expression.
_ASCII_PUNCTUATION = {cp: " " for cp in range(128) if _PUNCTUATION_BATCH.fullmatch(chr(cp))}


def normalize_many(texts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``tuple(normalize(t) for t in texts)``, computed over the joined texts.

    A call's utterances are normalised together: each regular expression runs once over the
    call instead of once per utterance (a five-minute call: ~80 utterances, 5x faster).
    Chinese and other utterances still take their own path, as :func:`normalize` decides
    per text.
    """
    if not texts or any(_BATCH_SEP in t for t in texts):
        return tuple(normalize(t) for t in texts)
    joined = _BATCH_SEP.join(texts)
    if not unicodedata.is_normalized("NFKC", joined):
        joined = unicodedata.normalize("NFKC", joined.translate(_FULL_WIDTH))
    parts = joined.split(_BATCH_SEP)
    if _CJK.search(joined):
        chinese = [bool(_CJK.search(p)) for p in parts]
    else:  # one search answers for every part of a call without Han characters
        chinese = [False] * len(parts)
    out = [""] * len(parts)
    zh = [i for i, c in enumerate(chinese) if c]
    if zh:
        for i, text in zip(zh, _normalize_zh_batch([parts[i] for i in zh]), strict=True):
            out[i] = text
    other = [i for i, c in enumerate(chinese) if not c]
    if other:
        for i, text in zip(other, _normalize_en_batch([parts[i] for i in other]), strict=True):
            out[i] = text
    return tuple(out)


def _normalize_zh_batch(parts: list[str]) -> list[str]:
    if has_traditional("".join(parts)):
        parts = [to_simplified(p) for p in parts]  # OpenCC: one text at a time (rare)
    t = _zh_numbers_to_digits(_BATCH_SEP.join(parts)).lower()
    return _delete_non_word(t).split(_BATCH_SEP)


class CodePointTable:
    """Code point -> value (an integer > 0), each asked of ``value_of`` once, on first sight.

    A call's text becomes an array of values with one numpy lookup instead of a Python call
    per character. 0 in the table means "not seen yet"; the table is 0x110000 entries of zero
    pages, which cost nothing until used.
    """

    def __init__(self, value_of: Callable[[str], int], dtype: type[np.unsignedinteger[Any]]
                 ) -> None:
        self.table = np.zeros(0x110000, dtype=dtype)
        self.value_of = value_of
        self.lock = threading.Lock()

    def lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(code points of ``text``, their values); lone surrogates are code points too."""
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        values = self.table[cps]
        if not values.all():
            with self.lock:
                for cp in np.unique(cps[values == 0]).tolist():
                    if not self.table[cp]:  # another thread may have filled it meanwhile
                        self.table[cp] = self.value_of(chr(cp))
            values = self.table[cps]
        return cps, values


# Whether _NON_WORD_BATCH deletes a character: 2 deleted, 1 kept. Deleting punctuation from a
# call's Chinese text by table lookup costs a quarter of the regular expression's
# per-character class test, and the table asks that regular expression, so both agree.
_WORD_CHARS = CodePointTable(lambda ch: 2 if _NON_WORD_BATCH.match(ch) else 1, np.uint8)


def _delete_non_word(text: str) -> str:
    """``_NON_WORD_BATCH.sub("", text)``."""
    cps, flags = _WORD_CHARS.lookup(text)
    kept: bytes = cps[flags == 1].tobytes()
    return kept.decode("utf-32-le", "surrogatepass")


def _normalize_en_batch(parts: list[str]) -> list[str]:
    t = f" {_BATCH_SEP} ".join(parts).lower().replace("\u2019", "'")
    if "'" in t or "cannot" in t:
        # Only the utterances that may hold a contraction take the 13 patterns, all of them
        # at once (no pattern can match across the separator, a non-word character).
        parts = t.split(_BATCH_SEP)
        marked = [i for i, p in enumerate(parts) if "'" in p or "cannot" in p]
        expanded = _expand_contractions(_BATCH_SEP.join([parts[i] for i in marked]))
        for i, part in zip(marked, expanded.split(_BATCH_SEP), strict=True):
            parts[i] = part
        t = _BATCH_SEP.join(parts)
    # Punctuation becomes spaces; whitespace is left to split() (most non-word runs are one
    # space, and replacing each by a space is half the cost of normalising English).
    t = t.translate(_ASCII_PUNCTUATION) if t.isascii() else _PUNCTUATION_BATCH.sub(" ", t)
    out = []
    for part in t.split(_BATCH_SEP):
        words = part.split()
        # Number words are rare too: only utterances holding one take the word-by-word pass.
        out.append(" ".join(words if _EN_NUMBER_WORDS.isdisjoint(words)
                            else _en_numbers_to_digits(words)))
    return out
