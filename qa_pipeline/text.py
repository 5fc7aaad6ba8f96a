"""Text normalisation shared by ASR post-processing, metrics and rubric matching.

zh: Traditional -> Simplified, full-width -> half-width, punctuation and spaces removed,
Chinese numerals -> digits. en: lower case, contractions expanded, number words -> digits,
punctuation removed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any


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

    Text with no character that OpenCC would convert is returned as is: ASR output is
    already simplified, and a set test is far cheaper than OpenCC's conversion.
    """
    if _traditional_chars().isdisjoint(text):
        return text
    return str(_t2s().convert(text))


# Full-width ASCII forms (a block shifted from ASCII) and the ideographic space -> their
# NFKC equivalents.
_FULL_WIDTH = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5E + 1)}, 0x3000: 0x20}
_CJK = re.compile(r"[\u3400-\u9fff]")
# A CJK character, or a word with its contractions ("you're" is one word, not two).
_UNIT = re.compile(r"[\u3400-\u9fff]|[^\W\u3400-\u9fff]+(?:['’][^\W\u3400-\u9fff]+)*")
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
    """Chinese numerals -> digits, except inside the words of :data:`_ZH_NUMERAL_WORDS`."""
    if not _ZH_NUM_RUN.search(text):
        return text
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
# literal it cannot match without, and runs only on text that holds that literal.
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


def text_units(text: str) -> list[str]:
    """The units of ``text`` that lengths and windows are counted in: CJK characters, and
    other words (a word keeps its contractions).
    """
    return _UNIT.findall(text)


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
        # most such text is only Chinese punctuation, which then needs no full NFKC pass.
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
