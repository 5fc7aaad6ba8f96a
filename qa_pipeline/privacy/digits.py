"""Digits as people say them: ``138 0013 8000``, ``一三八零零一三八零零零``, ``幺三八``,
``one three eight double oh``, mixed and spread over several words.

:func:`digit_runs` turns text into runs of digits, each digit remembering the characters it
came from, so a detector can work on the digit string while the redactor removes exactly the
characters (and, through them, the word spans) that said it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ZH_DIGITS = {"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2",
              "两": "2", "贰": "2", "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5",
              "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7", "拐": "7", "八": "8",
              "捌": "8", "九": "9", "玖": "9", "勾": "9"}
_EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "nil": "0", "one": "1", "two": "2",
              "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
              "nine": "9"}
_EN_REPEAT = {"double": 2, "triple": 3}
# Public views for readers of number windows (:mod:`qa_pipeline.privacy.window`).
ZH_DIGITS, EN_DIGITS, EN_REPEAT = _ZH_DIGITS, _EN_DIGITS, _EN_REPEAT


def written_digit(ch: str) -> str | None:
    """The ASCII digit that ``ch`` writes (ASCII or full-width ０-９), else None."""
    if ch.isascii() and ch.isdigit():
        return ch
    if "０" <= ch <= "９":
        return str(ord(ch) - ord("０"))
    return None


# Characters that may sit between the digits of one number ("138-0013 8000", "一三八，零零").
_JOINERS = frozenset(" \t-–—.·,，、/")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class DigitRun:
    """Consecutive digits; ``spans[i]`` is the (start, end) of the characters of digit i."""

    digits: str
    spans: tuple[tuple[int, int], ...]
    # An "X"/"叉" right after the run (the check character of a Chinese resident ID).
    x_span: tuple[int, int] | None = None

    @property
    def start(self) -> int:
        """First character of the run."""
        return self.spans[0][0]

    @property
    def end(self) -> int:
        """One past the last character of the run (including a trailing X)."""
        return self.x_span[1] if self.x_span else self.spans[-1][1]


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(digit or joiner marker, start, end) in order; other text becomes a break ``|``."""
    out: list[tuple[str, int, int]] = []
    i = 0
    pending_repeat: tuple[int, int, int] | None = None  # (times, start, end) of double/triple
    while i < len(text):
        ch = text[i]
        d = written_digit(ch)
        if d is not None:
            out.append((d, i, i + 1))
            i += 1
            continue
        if ch in _ZH_DIGITS:
            out.append((_ZH_DIGITS[ch], i, i + 1))
            i += 1
            continue
        m = _WORD.match(text, i)
        if m:
            word = m.group(0).lower()
            if word in _EN_REPEAT:
                pending_repeat = (_EN_REPEAT[word], m.start(), m.end())
            elif word in _EN_DIGITS and (word != "o" or _near_digits(out)):
                times = 1
                start = m.start()
                if pending_repeat is not None:
                    times, start = pending_repeat[0], pending_repeat[1]
                for _ in range(times):
                    out.append((_EN_DIGITS[word], start, m.end()))
                pending_repeat = None
            elif word in ("x", "ex"):
                out.append(("X", m.start(), m.end()))
                pending_repeat = None
            else:
                out.append(("|", m.start(), m.end()))
                pending_repeat = None
            i = m.end()
            continue
        if ch in ("叉", "Ｘ", "ｘ"):
            out.append(("X", i, i + 1))
        elif ch not in _JOINERS:
            out.append(("|", i, i + 1))
        i += 1
    return out


def _near_digits(out: list[tuple[str, int, int]]) -> bool:
    # "o" counts as zero only inside a number ("one o five"), never as a word on its own.
    return bool(out) and out[-1][0].isdigit()


def digit_runs(text: str, min_digits: int = 3) -> list[DigitRun]:
    """Runs of at least ``min_digits`` digits, written or spoken, in order."""
    runs: list[DigitRun] = []
    digits: list[str] = []
    spans: list[tuple[int, int]] = []

    def flush(x_span: tuple[int, int] | None = None) -> None:
        if len(digits) >= min_digits:
            runs.append(DigitRun("".join(digits), tuple(spans), x_span))
        digits.clear()
        spans.clear()

    for tok, start, end in _tokens(text):
        if tok.isdigit():
            digits.append(tok)
            spans.append((start, end))
        elif tok == "X":
            flush((start, end) if digits else None)
        else:
            flush()
    flush()
    return runs
