"""Cue words that decide what a digit run next to them is.

Callers announce personal numbers ("我的身份证号是…", "my card number is…", "手机尾号…"), and
speech recognition mangles the numbers themselves: a misread resident ID fails its checksum,
a phone number comes back as "7-78899" or "138 1234". A digit run whose nearest preceding cue
(within :data:`WINDOW_CHARS`) is a personal-data cue is therefore personal data when it has
at least that cue's ``min_digits`` digits, whatever its checksum; a run whose nearest cue is
a business reference (order, waybill, ticket) is not, unless its own shape is certain.

The tables are plain data: add a phrase to the cue it belongs to. English phrases match
whole words, case-insensitively; a following generic noun ("号码", "number", "no.") belongs
to the cue before it, so "order number" is a reference and "ID number" an ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa_pipeline.privacy.digits import digit_runs

# How far before a digit run (in characters, cue end to run start) a cue still applies: a
# short clause in Chinese ("身份证号码是"), three or four words in English.
WINDOW_CHARS = 20
# After a personal-data cue, digit groups separated by this many stray characters are one
# number: ASR turns a digit into a homophone ("4702清9025", "15001分8398").
BRIDGE_CHARS = 1

REFERENCE = "reference"  # business references: order, waybill, ticket, model numbers
TAIL = "tail"  # the last digits of a number; reported as the kind of an earlier cue


@dataclass(frozen=True, slots=True)
class Cue:
    """A family of cue phrases: the kind a digit run after them is reported as, and the
    fewest digits that make such a run personal data.
    """

    kind: str
    min_digits: int
    phrases: tuple[str, ...]


CUES = (
    Cue("cn_id", 6, ("身份证", "证件", "身份号", "护照", "id", "i.d.", "identity", "identity card",
                     "passport", "national id")),
    Cue("bank_card", 6, ("卡号", "银行卡", "信用卡", "储蓄卡", "借记卡", "账号", "帐号", "账户",
                         "帐户", "card", "credit card", "debit card", "account")),
    Cue("phone", 6, ("手机", "电话", "号码", "联系方式", "座机", "微信", "phone", "mobile", "cell",
                     "number", "telephone", "call me", "call me on", "reach me", "contact",
                     "text me")),
    Cue(TAIL, 4, ("尾号", "后四位", "末四位", "后六位", "最后四位", "ending in", "ending with",
                  "ends in", "ends with", "last four", "last 4", "last four digits")),
    Cue(REFERENCE, 0, ("单号", "订单", "工单", "运单", "快递单", "编号", "型号", "工号", "航班",
                       "tracking", "order", "ticket", "reference", "model", "invoice", "case",
                       "agent", "flight", "waybill", "confirmation")),
)
# Generic nouns that complete the cue before them ("身份证号码", "account number").
GENERIC_NOUNS = ("号码", "号", "number", "no.", "no", "#")
# A run said as an amount or a quantity is not a personal number, cue or not.
UNITS_AFTER = ("元", "块", "角", "万", "千", "百", "分钟", "小时", "天", "个", "件", "次", "分",
               "积分", "%", "percent", "dollars", "dollar", "yuan", "rmb", "points", "minutes",
               "hours", "days", "items", "gb", "mb")
CURRENCY_BEFORE = ("￥", "¥", "$", "rmb", "usd")


@dataclass(frozen=True, slots=True)
class CueHit:
    """The cue that governs one digit run: its (resolved) kind and minimum digit count."""

    kind: str
    min_digits: int

    @property
    def is_reference(self) -> bool:
        """A business reference, not personal data."""
        return self.kind == REFERENCE


def _phrase_pattern(phrase: str) -> str:
    body = r"\s+".join(re.escape(w) for w in phrase.split())
    if phrase[0].isascii() and phrase[0].isalpha():
        body = r"(?<![A-Za-z])" + body
    if phrase[-1].isascii() and phrase[-1].isalpha():
        body += r"(?![A-Za-z])"
    return body


def _alternation(phrases: list[str]) -> str:
    return "|".join(_phrase_pattern(p) for p in sorted(phrases, key=len, reverse=True))


_BY_PHRASE = {" ".join(p.lower().split()): cue for cue in CUES for p in cue.phrases}
_CUE_RE = re.compile(rf"(?P<cue>{_alternation(list(_BY_PHRASE))})"
                     rf"(?:\s*(?:{_alternation(list(GENERIC_NOUNS))}))?", re.I)
_LONGEST = max(len(p) for p in _BY_PHRASE) + max(len(n) for n in GENERIC_NOUNS) + 2
_UNIT_RE = re.compile(rf"\s?(?:{_alternation(list(UNITS_AFTER))})", re.I)
_CURRENCY_RE = re.compile(rf"(?:{_alternation(list(CURRENCY_BEFORE))})\s?$", re.I)


def cue_before(text: str, start: int) -> CueHit | None:
    """The nearest cue ending at most :data:`WINDOW_CHARS` before ``start`` with no other
    number (three or more digits) between it and ``start``; None when there is none.
    """
    lo = max(0, start - WINDOW_CHARS)
    hits = [m for m in _CUE_RE.finditer(text, max(0, lo - _LONGEST), start)
            if m.end() >= lo and not digit_runs(text[m.end():start], min_digits=3)]
    if not hits:
        return None
    cues = [_BY_PHRASE[" ".join(m.group("cue").lower().split())] for m in hits]
    nearest = cues[-1]
    if nearest.kind != TAIL:
        return CueHit(nearest.kind, nearest.min_digits)
    # "手机尾号…", "card ending in…": the digits belong to the thing named before.
    owner = next((c.kind for c in reversed(cues[:-1]) if c.kind not in (TAIL, REFERENCE)),
                 "long_number")
    return CueHit(owner, nearest.min_digits)


def cue_spans(text: str) -> list[tuple[int, int]]:
    """Where cue phrases are: never part of a number, though some contain a digit word
    ("last four 0842", "后四位").
    """
    return [m.span() for m in _CUE_RE.finditer(text)]


def bridgeable(gap: str) -> bool:
    """Whether ``gap`` between two digit groups after a personal cue is a stray syllable
    (not a separator word, a unit or a blanked date / amount).
    """
    return (0 < len(gap) <= BRIDGE_CHARS and not gap.isspace() and "|" not in gap
            and not _UNIT_RE.match(gap) and not _CUE_RE.match(gap))


def said_as_amount(text: str, start: int, end: int) -> bool:
    """Whether characters ``[start, end)`` are followed by a unit or preceded by a currency
    sign ("12999元", "$778899"): an amount or a quantity.
    """
    return bool(_UNIT_RE.match(text, end) or _CURRENCY_RE.search(text[max(0, start - 4):start]))
