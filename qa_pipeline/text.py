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
from typing import Any, TypeVar

import numpy as np

from qa_pipeline import kernels

_T = TypeVar("_T")


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


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese.

    Text with no character that OpenCC would convert is returned as is: the pure-Python
    converter costs tens of microseconds per call, and ASR output is already simplified
    (the check is one set operation in C: a 4,000-character regex class is 60x slower).
    """
    if _traditional_chars().isdisjoint(text):
        return text
    return str(_t2s().convert(text))


# Full-width ASCII forms (a block shifted from ASCII) and the ideographic space -> their
# NFKC equivalents.
_WIDE_FIRST, _WIDE_LAST, _WIDE_SHIFT = 0xFF01, 0xFF5E, 0xFEE0
_IDEOGRAPHIC_SPACE = 0x3000
_FULL_WIDTH = {**{c: c - _WIDE_SHIFT for c in range(_WIDE_FIRST, _WIDE_LAST + 1)},
               _IDEOGRAPHIC_SPACE: 0x20}
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
    """Chinese numerals -> digits, except inside the words of :data:`_ZH_NUMERAL_WORDS`
    (see :func:`_numeral_windows_to_digits`).
    """
    if not _ZH_NUM_RUN.search(text):
        return text  # most texts hold no numeral: skip the table lookup
    return _numeral_windows_to_digits(text, _CHAR_FLAGS.scan(text, _BATCH_SEP, 0, _NUMERAL)[2])


@lru_cache(maxsize=65536)
def _zh_window_to_digits(text: str) -> str:
    """Numerals -> digits in a short text (a run and its neighbours; these repeat across
    calls, hence the cache).
    """
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
# Every contraction pattern below contains an apostrophe, except "cannot". Each comes with a
# literal it cannot match without: a pattern that starts with \b scans character by character
# (~30 ns each), so it runs only on text that holds its literal (an `in` test, ~1 ns each).
_CONTRACTIONS = tuple((literal, re.compile(pattern), repl) for literal, pattern, repl in (
    ("won't", r"\bwon't\b", "will not"), ("can't", r"\bcan't\b", "can not"),
    ("cannot", r"\bcannot\b", "can not"), ("ain't", r"\bain't\b", "is not"),
    ("shan't", r"\bshan't\b", "shall not"), ("n't", r"n't\b", " not"),
    ("'re", r"'re\b", " are"), ("'ll", r"'ll\b", " will"), ("'ve", r"'ve\b", " have"),
    ("'d", r"'d\b", " would"), ("i'm", r"\bi'm\b", "i am"), ("let's", r"\blet's\b", "let us"),
    ("'s", r"\b(it|that|what|there|he|she|who)'s\b", r"\1 is"),
))


# A number always starts with a ones or tens word (a scale word alone starts none).
_EN_NUMBER_WORDS = frozenset(_EN_ONES) | frozenset(_EN_TENS)
_EN_NUMBER_WORD_LIST = tuple(sorted(_EN_NUMBER_WORDS))


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
    for literal, pattern, repl in _CONTRACTIONS:
        if literal in text:
            text = pattern.sub(repl, text)
    return text


def is_chinese(text: str) -> bool:
    """True when the text contains Han characters."""
    # isascii() is a flag of the string object: English text skips the character scan.
    return not text.isascii() and bool(_CJK.search(text))


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Canonical form for matching (language detected from the text itself)."""
    t = text
    if not unicodedata.is_normalized("NFKC", t):
        # Full-width -> half-width first (the same mapping NFKC makes for these characters):
        # most such text is only Chinese punctuation, and then NFKC's slow path is not needed.
        t = t.translate(_FULL_WIDTH)
        if not unicodedata.is_normalized("NFKC", t):
            t = unicodedata.normalize("NFKC", t)
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
    words = t.split()
    # Without a ones or tens word no number starts (_en_numbers_to_digits would keep words).
    return " ".join(words if _EN_NUMBER_WORDS.isdisjoint(words) else _en_numbers_to_digits(words))


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
    joined = _BATCH_SEP.join(texts)
    if not texts or joined.count(_BATCH_SEP) != len(texts) - 1:
        return tuple(normalize(t) for t in texts)
    if not unicodedata.is_normalized("NFKC", joined):
        joined = _half_width(joined)
        if not unicodedata.is_normalized("NFKC", joined):
            joined = unicodedata.normalize("NFKC", joined)
    if joined.isascii():  # a flag of the string: no Han character in the call
        return tuple(_normalize_en_batch(joined.split(_BATCH_SEP)))
    parts = joined.split(_BATCH_SEP)
    scan = _CHAR_FLAGS.scan(joined, _BATCH_SEP, _HAN, _NUMERAL)
    chinese = scan[1]
    if all(chinese):
        return tuple(_normalize_zh_batch(parts, joined, scan))
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


def _half_width(text: str) -> str:
    """``text.translate(_FULL_WIDTH)`` over code points as an array.

    Chinese ASR and transcripts write full-width punctuation (，？！：); over a call's text
    ``str.translate`` looks each character up in a dict, and NFKC's slow path costs as much
    again (a five-minute call: a few hundred microseconds each), while the mapping is
    one array operation. NFKC maps these characters the same way, so when nothing else in
    the text needs NFKC the result is already normalised.
    """
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    wide = (cps >= _WIDE_FIRST) & (cps <= _WIDE_LAST)
    space = cps == _IDEOGRAPHIC_SPACE
    if not (wide.any() or space.any()):
        return text
    cps = np.where(wide, cps - _WIDE_SHIFT, np.where(space, np.uint32(0x20), cps))
    return cps.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def chinese_parts(joined: str, separator: str) -> list[bool]:
    """``[is_chinese(part) for part in joined.split(separator)]`` with one table lookup
    (``separator``: one character).
    """
    if joined.isascii():
        return [False] * (joined.count(separator) + 1)
    return _CHAR_FLAGS.scan(joined, separator, _HAN, 0)[1]


def _normalize_zh_batch(parts: list[str], joined: str | None = None,
                        scan: tuple[int, list[bool], list[int]] | None = None) -> list[str]:
    """Chinese utterances normalised together (``joined``: ``parts`` joined by the separator,
    ``scan``: its :meth:`CodePointTable.scan` for Han and numerals, when the caller has them).
    """
    if joined is None or scan is None:
        joined = _BATCH_SEP.join(parts)
        scan = _CHAR_FLAGS.scan(joined, _BATCH_SEP, _HAN, _NUMERAL)
    if scan[0] & _TRADITIONAL:
        parts = [to_simplified(p) for p in parts]  # OpenCC: one text at a time (rare)
        joined = _BATCH_SEP.join(parts)
        scan = _CHAR_FLAGS.scan(joined, _BATCH_SEP, _HAN, _NUMERAL)
    if scan[2]:
        joined = _numeral_windows_to_digits(joined, scan[2])
    return _delete_non_word(joined.lower()).split(_BATCH_SEP)


def _numeral_windows_to_digits(text: str, numerals: list[int]) -> str:
    """Chinese numerals -> digits, given the positions of ``text``'s numeral characters
    (ascending).

    Only the numeral runs and one character either side (where a protected word that
    overlaps a run can lie: each is two characters and holds a numeral) go through the
    conversion, runs one character apart in one window; the rest of the text is copied. A
    call's text holds a few dozen such windows, and converting each (cached: they repeat)
    costs a fraction of protecting words across the whole text.
    """
    pieces = []
    copied = 0
    first = 0
    for k, position in enumerate(numerals):
        if k + 1 < len(numerals) and numerals[k + 1] - position <= 2:
            continue  # the run goes on
        start = max(numerals[first] - 1, 0)
        end = position + 2
        pieces.append(text[copied:start])
        pieces.append(_zh_window_to_digits(text[start:end]))
        copied = end
        first = k + 1
    pieces.append(text[copied:])
    return "".join(pieces)


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

    def scan(self, text: str, separator: str, part_flag: int, position_flag: int
             ) -> tuple[int, list[bool], list[int]]:
        """:func:`qa_pipeline.kernels.scan_flags` of ``text`` over this table (a one-byte
        table of flags), looking up characters not seen before first.
        """
        return self._filled(text, lambda: kernels.scan_flags(
            text, self.table, separator, part_flag, position_flag))

    def encode(self, text: str, width: Callable[[], int]) -> tuple[bytes, int]:
        """(``text``'s values as little-endian integers of ``width()`` bytes, that width),
        looking up characters not seen before first (``width`` is asked afterwards: values
        that new characters bring may need a wider integer).
        """
        def ask() -> tuple[bytes, int] | None:
            size = width()
            found = kernels.code_bytes(text, self.table, size)
            return None if found is None else (found, size)

        return self._filled(text, ask)

    def drop(self, text: str, flag: int) -> str:
        """``text`` without the characters whose flags have ``flag`` (as :meth:`scan`)."""
        return self._filled(text, lambda: kernels.drop_flagged(text, self.table, flag))

    def _filled(self, text: str, ask: Callable[[], _T | None]) -> _T:
        # A kernel over this table answers None when a character of text has no entry yet:
        # look those up (lookup fills them in) and ask again.
        found = ask()
        if found is None:
            self.lookup(text)
            found = ask()
            assert found is not None  # every character of text has its entry now
        return found


# Per code point, what batch normalisation needs to know, as bits: one table lookup of a
# call's text answers "which utterances hold Han characters", "any Traditional character?",
# "where are the numerals?" and "which characters does _NON_WORD_BATCH delete?" (a quarter of
# the cost of one regular-expression class test per character; each bit is asked of the
# same expression or table as the per-text path, on first sight of the character).
_NUMERAL, _TRADITIONAL, _HAN, _DELETED, _SEEN = 1, 2, 4, 8, 16


def _char_flags(ch: str) -> int:
    return (_SEEN | (_NUMERAL if _ZH_NUM_RUN.fullmatch(ch) else 0)
            | (_TRADITIONAL if ch in _traditional_chars() else 0)
            | (_HAN if _CJK.fullmatch(ch) else 0)
            | (_DELETED if _NON_WORD_BATCH.fullmatch(ch) else 0))


_CHAR_FLAGS = CodePointTable(_char_flags, np.uint8)


def _delete_non_word(text: str) -> str:
    """``_NON_WORD_BATCH.sub("", text)``."""
    return _CHAR_FLAGS.drop(text, _DELETED)


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
    # Punctuation becomes spaces; runs of whitespace are collapsed after (most non-word runs
    # are one space, and replacing each by a space is half the cost of normalising English).
    # One pass then collapses the whitespace of every utterance and looks for number words
    # (without a ones or tens word no number starts): compiled for ASCII calls.
    if t.isascii():
        t = t.translate(_ASCII_PUNCTUATION)
        parts, numbers = kernels.squeeze_words(t, _BATCH_SEP, _EN_NUMBER_WORD_LIST)
    else:
        t = _PUNCTUATION_BATCH.sub(" ", t)
        parts, numbers = kernels.squeezed_words(t, _BATCH_SEP, _EN_NUMBER_WORD_LIST)
    if not numbers:
        return parts
    out = []
    for part in t.split(_BATCH_SEP):
        words = part.split()
        # Number words are rare too: only utterances holding one take the word-by-word pass.
        out.append(" ".join(words if _EN_NUMBER_WORDS.isdisjoint(words)
                            else _en_numbers_to_digits(words)))
    return out
