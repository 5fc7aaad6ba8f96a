"""A learned reading of digit spans in ASR text: candidates, their features, a linear model.

The cue tables (:mod:`qa_pipeline.privacy.cues`) decide a number by the words listed beside
it, and every new way of speaking brings words nobody listed ("联系方式", "the one we'll
refund is …"). This module asks the opposite question of every stretch of digits in a line:
given its shape (how many digits, in how many groups, whether it starts like a mobile number
or passes a checksum) and the words around it (whatever they are, not only listed ones), is
it personal data? A logistic regression over those features is trained on the labelled ASR
lines (``benchmarks/redaction/span_model.py``) and shipped as plain weights
(``span_model.json``), so reading it needs no pickle and no scikit-learn.

A candidate is a stretch of digit groups (digits written or said, :mod:`.window` tokens) in
one clause, joined across at most :data:`GAP_OTHER_TOKENS` other words (words that sound like
digits are free), and cut where a group is said as an amount, a quantity or a date
("3天", "12999元", "二零一九年"): those groups stand alone and the model sees their unit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qa_pipeline.privacy.cues import said_as_amount
from qa_pipeline.privacy.window import NEAR, OTHER, D, Token, tokens_after

# Other words (not counting words that sound like digits) that may separate two digit groups
# of one candidate.
GAP_OTHER_TOKENS = 2
# Clause ends: a candidate never crosses them. "|" marks blanked dates, clock times, emails.
_STOPS = frozenset("。！？!?；;\n|")
# Characters before / after a candidate the model reads, and how many context units.
_CONTEXT_CHARS = 40
LEFT_UNITS = 8
RIGHT_UNITS = 5
_UNIT = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[\u4e00-\u9fff]|[0-9０-９]+|[?？,，.。:：$￥¥€£%#]")
_DATE_WORD = re.compile(r"\s?[年月日号点时秒岁]")
_EN_DATE_WORD = re.compile(r"\s?(?:st|nd|rd|th|am|pm|o'clock)(?![A-Za-z])", re.I)
_LONGEST_LENGTH_FEATURE = 20
# Digits grouped in thousands ("9,435", "1,000,000") or with cents ("63.00"): how amounts are
# written; ASR writes a number read digit by digit in groups of three or four ("138,1234").
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d{2}")
# An amount written with thousands separators ("2,499"): never one group of a longer number
# (ASR writes a number read digit by digit as "138,1234,5678", not in threes throughout).
_COMMA_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
# Lengths of the kinds of personal number: a tail, a local line, a mobile or a landline with
# its area code, an ID or a card.
_LENGTH_CLASSES = ((3, 5, "tail"), (6, 6, "six"), (7, 9, "local"), (10, 12, "mobile"),
                   (13, 19, "card_or_id"))

MODEL_PATH = Path(__file__).with_name("span_model.json")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stretch of digit groups: characters ``[start, end)``, its digits, the sizes of its
    groups, and how many words that sound like digits and other words sit inside it.
    """

    start: int
    end: int
    digits: str
    groups: tuple[int, ...]
    near: int
    other: int


def _segments(text: str) -> list[list[Token]]:
    """The tokens of ``text`` clause by clause (a question mark between digits is none)."""
    out: list[list[Token]] = []
    pos = 0
    n = len(text)
    while pos < n:
        toks = tokens_after(text, pos, n, in_number=True)
        if toks:
            out.append(toks)
        j = toks[-1].end if toks else pos
        while j < n and text[j] not in _STOPS:
            j += 1
        pos = j + 1
    return out


def _unit_after(text: str, toks: list[Token], a: int, b: int) -> bool:
    """Whether the digit group ``toks[a:b]`` is an amount, a quantity or a date by the word
    after it or the sign before it.
    """
    start, end = toks[a].start, toks[b - 1].end
    n = sum(len(t.digits) for t in toks[a:b])
    if said_as_amount(text, start, end) or _COMMA_THOUSANDS.fullmatch(text, start, end):
        return True
    one_group = not any(ch in " -.,，" for ch in text[start:end])
    return n <= 4 and (bool(_DATE_WORD.match(text, end))
                       or one_group and bool(_EN_DATE_WORD.match(text, end)))


def candidates(text: str, gap_other_tokens: int = GAP_OTHER_TOKENS,
               certain: Callable[[str], bool] | None = None) -> list[Candidate]:
    """Every candidate span of ``text`` (dates, clock times and emails blanked to ``|`` by the
    caller), in order. A stretch whose digits have a ``certain`` shape is not cut at the
    amounts, quantities or dates inside it.
    """
    out: list[Candidate] = []
    for toks in _segments(text):
        groups: list[tuple[int, int]] = []
        k = 0
        while k < len(toks):
            if toks[k].type != D:
                k += 1
                continue
            j = k
            while j < len(toks) and toks[j].type == D:
                j += 1
            groups.append((k, j))
            k = j
        current: list[tuple[int, int]] = []
        cuts: list[int] = []  # where ``current`` is cut at an amount, a quantity or a date
        for g in groups:
            if current:
                a, b = current[-1][1], g[0]
                other = sum(t.type == OTHER for t in toks[a:b])
                if other > gap_other_tokens:
                    out += _cut(text, toks, current, cuts, certain)
                    current, cuts = [], []
                elif _unit_after(text, toks, *current[-1]) or _unit_after(text, toks, *g):
                    cuts.append(len(current))
            current.append(g)
        if current:
            out += _cut(text, toks, current, cuts, certain)
    return out


def _cut(text: str, toks: list[Token], groups: list[tuple[int, int]], cuts: list[int],
         certain: Callable[[str], bool] | None) -> list[Candidate]:
    """The candidates of a stretch of digit groups cut before the groups at ``cuts``, unless
    the whole stretch has a shape that is ``certain`` (a mobile number or a checksummed card
    the ASR broke with a misheard unit: "189,893分,18785").
    """
    if cuts and certain is not None and certain("".join(
            t.digits for t in toks[groups[0][0]:groups[-1][1]] if t.type == D)):
        return [_candidate(text, toks, groups)]
    bounds = [0, *cuts, len(groups)]
    return [_candidate(text, toks, groups[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def _candidate(text: str, toks: list[Token], groups: list[tuple[int, int]]) -> Candidate:
    first, last = groups[0][0], groups[-1][1]
    inner = toks[first:last]
    end = toks[last - 1].end
    if last < len(toks) and text[toks[last].start:toks[last].end].lower() in ("x", "ex", "叉"):
        end = toks[last].end  # a resident ID's check character
    # Groups as said: digits written next to each other ("5846"), not across a separator
    sizes: list[int] = []
    prev: Token | None = None
    for t in inner:
        if t.type != D:
            prev = None
            continue
        if prev is not None and prev.end == t.start:
            sizes[-1] += len(t.digits)
        else:
            sizes.append(len(t.digits))
        prev = t
    return Candidate(
        toks[first].start, end, "".join(t.digits for t in inner if t.type == D),
        tuple(sizes), sum(t.type == NEAR for t in inner), sum(t.type == OTHER for t in inner))


def _units(s: str) -> list[str]:
    return [u.lower() if not u[0].isdigit() else "#" for u in _UNIT.findall(s)]


def _length(n: int) -> str:
    return str(min(n, _LONGEST_LENGTH_FEATURE))


def features(text: str, c: Candidate, shape: Mapping[str, bool]) -> dict[str, float]:
    """The model's features of candidate ``c`` of ``text`` (the raw line): its shape (digit
    count, groups, the certain shapes of ``shape``) and the words on each side.
    """
    n = len(c.digits)
    f: dict[str, float] = {"bias_len:" + _length(n): 1.0,
                           "groups:" + _length(len(c.groups)): 1.0,
                           "first_group:" + _length(c.groups[0]): 1.0,
                           "last_group:" + _length(c.groups[-1]): 1.0,
                           "heard:" + _length(n + c.near): 1.0}
    if c.near:
        f["near"] = 1.0
    if c.other:
        f["other:" + str(c.other)] = 1.0
    f["len_class:" + next((name for lo, hi, name in _LENGTH_CLASSES if lo <= n <= hi),
                          "short" if n < 3 else "long")] = 1.0
    if _THOUSANDS.fullmatch(text[c.start:c.end]):
        f["thousands"] = 1.0
    if said_as_amount(text, c.start, c.end):
        f["amount"] = 1.0
    f["lead:" + c.digits[:1]] = 1.0
    if n >= 2:
        f["lead2:" + c.digits[:2]] = 1.0
    for name, on in shape.items():
        if on:
            f["shape:" + name] = 1.0
    said = text[c.start:c.end]
    f["script:" + ("ascii" if said.isascii() and any(ch.isdigit() for ch in said)
                   else "words")] = 1.0
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        f["lang:zh"] = 1.0
    for u in _units(said):
        if u != "#" and u.isalpha():
            # the words heard inside the number ("次", "time", "free"): digits misheard
            f["in:" + u] = 1.0
    left = _units(text[max(0, c.start - _CONTEXT_CHARS):c.start])[-LEFT_UNITS:]
    right = _units(text[c.end:c.end + _CONTEXT_CHARS])[:RIGHT_UNITS]
    for side, units in (("L", left), ("R", right)):
        for u in units:
            f[f"{side}:{u}"] = 1.0
        for a, b in zip(units, units[1:], strict=False):
            f[f"{side}2:{a}_{b}"] = 1.0
    f["L1:" + (left[-1] if left else "^")] = 1.0
    f["R1:" + (right[0] if right else "$")] = 1.0
    if len(left) >= 2:
        f[f"L12:{left[-2]}_{left[-1]}"] = 1.0
    if len(right) >= 2:
        f[f"R12:{right[0]}_{right[1]}"] = 1.0
    return f


def bare(feats: Mapping[str, float]) -> bool:
    """Whether a candidate has nothing on either side: a number said alone, which its shape
    decides (the rules), not its context ("一三八零零" after a long pause is no number). With
    punctuation after it ("0316。") it is an answer, and the model reads it.
    """
    return "L1:^" in feats and "R1:$" in feats


@dataclass(frozen=True, slots=True)
class SpanModel:
    """A logistic regression over :func:`features`: weights by feature name, an intercept,
    and the probability from which a candidate is personal data.
    """

    weights: Mapping[str, float]
    intercept: float
    threshold: float

    def probability(self, feats: Mapping[str, float]) -> float:
        """The model's probability that a candidate with ``feats`` is personal data."""
        z = self.intercept + sum(self.weights.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> str:
        """The model as JSON (weights sorted, rounded to six decimals)."""
        return json.dumps({"intercept": round(self.intercept, 6), "threshold": self.threshold,
                           "weights": {k: round(v, 6) for k, v in sorted(self.weights.items())
                                       if round(v, 6) != 0.0}},
                          ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, doc: str) -> SpanModel:
        """A model written by :meth:`to_json`."""
        data = json.loads(doc)
        return cls({str(k): float(v) for k, v in data["weights"].items()},
                   float(data["intercept"]), float(data["threshold"]))


@cache
def shipped_model() -> SpanModel:
    """The model trained on every labelled ASR half (``span_model.json``)."""
    return SpanModel.from_json(MODEL_PATH.read_text(encoding="utf-8"))
