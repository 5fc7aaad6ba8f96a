"""PII / PCI detectors over text: phone numbers (CN mobile, CN landline, international),
Chinese resident ID numbers (18 characters, ISO 7064 checksum), bank cards (Luhn) and email
addresses — written or spoken (see :mod:`qa_pipeline.privacy.digits`).

A number's shape decides on its own when it is certain (a checksummed ID or card, a mobile
number). Otherwise the cue word before it decides (:mod:`qa_pipeline.privacy.cues`): after
"身份证" or "card" a digit run is personal data even when its checksum fails or speech
recognition split or shortened it; after "订单" or "tracking number" it is a reference.
A personal-data cue also opens a window (:mod:`qa_pipeline.privacy.window`): the number it
announces is read across the words ASR writes between its digits ("4 times 3 for 2 nero
1"), so a number in pieces is removed whole; a long number may come well after its cue
("the ID card I registered with, let me get it out of my wallet, okay, …"). Without a cue
before it, a number is personal data by its shape (a mobile number, a checksummed card or
ID; short of certainty, a card's or an ID's length) or by a cue said after it ("…, that's
my work phone"); a reference cue up to a clause before it keeps it a reference.

Cue tables do not converge: every new way of speaking brings words nobody listed. So beside
the rules, a learned reading (:mod:`qa_pipeline.privacy.spans`) judges every stretch of digit
groups by its shape and by whatever words are around it (:func:`learned_spans`), and the
default is flipped: such a number is personal data unless the words around it mark it as an
amount, a quantity, a date, a year or a business reference (:func:`said_otherwise`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from qa_pipeline.privacy.cues import (
    CUES,
    GENERIC_NOUNS,
    REFERENCE,
    TAIL,
    UNITS_AFTER,
    WINDOW_CHARS,
    CueHit,
    CueMatch,
    bridgeable,
    cue_after,
    cue_before,
    cue_reference_far,
    cue_spans,
    cues_before,
    dates_a_tail,
    find_cues,
    owns_tail,
    resolve,
    said_as_amount,
    unit_follows,
)
from qa_pipeline.privacy.digits import DigitRun, digit_runs
from qa_pipeline.privacy.spans import (
    Candidate,
    SpanModel,
    bare,
    candidates,
    features,
    shipped_model,
)
from qa_pipeline.privacy.window import (
    FAR_START_TOKENS,
    GAP_TOKENS,
    WindowNumber,
    cueless_number,
    heard_digits,
    homophones_before,
    lead_group_before,
    number_after,
    tokens_after,
)
from qa_pipeline.privacy.window import D as DIGIT_TOKEN  # a digit token of a window

KINDS = ("phone", "cn_id", "bank_card", "email", "long_number")

# Numbers that look long but are not personal data: dates, clock times, money with separators.
# They are blanked before digit runs are read (offsets kept). A month is 1-12 and a day 1-31:
# "1.1962.95. 7.1992.95" is a phone number written as decimals, not the date 1962.95.7.
_MONTH_NUMBER = r"(?:1[0-2]|0?[1-9])"
_DAY_NUMBER = r"(?:3[01]|[12]\d|0?[1-9])"
# English month names as the ASR writes them (capitalised: "may" is a verb), and a date said
# with one: "December 12, 2025", "October, and 2020" (the day lost), "the 3rd of May 2024",
# "March 12th"; a day followed by more digits is a number, not a date ("Jan 13 812…").
_MONTH_NAME = (r"\b(?:January|February|March|April|May|June|July|August|September|October|"
               r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b\.?")
_ORDINAL_DAY = _DAY_NUMBER + r"(?:st|nd|rd|th)?(?!\d)"
_YEAR = r"(?:19|20)\d{2}(?!\d)"
_NAMED_DATE = (
    _MONTH_NAME + r"(?:[\s,]+(?:the|and|of))*[\s,]+(?:" + _ORDINAL_DAY
    + r"(?:[\s,]+(?:and|of))*[\s,]+)?" + _YEAR
    + r"|" + _MONTH_NAME + r"\s+(?:the\s+)?" + _ORDINAL_DAY + r"(?![\s,.-]*\d)"
    # A day before the month name, unless the month has its own day after it ("9 April 3,
    # 2020": a stray digit before "April 3, 2020", which the first form then reads whole).
    + r"|\b" + _ORDINAL_DAY + r"\s+(?:of\s+)?" + _MONTH_NAME
    + r"(?:,?\s+" + _YEAR + r"|(?![\s,]+\d))")
_DATE_TIME = (r"(?:19|20)\d{2}\s*[-/.年]\s*" + _MONTH_NUMBER + r"\s*[-/.月]\s*" + _DAY_NUMBER
              + r"(?!\d)\s*[日号]?|" + _NAMED_DATE + r"|\d{1,2}:\d{2}(?::\d{2})?")
# A date written day, month, year with dots ("12.02.07.2019"): small groups, then a year.
_DOTTED_DATE = r"\d{1,2}(?:\.\d{1,2}){1,2}\.(?:19|20)\d{2}"
_NOT_PII = re.compile(
    _DATE_TIME
    # Thousands groups or decimals only when the whole run is grouped so: ASR writes
    # "138,1234,5678" and "176. 172.11.428" for numbers read digit by digit.
    + r"|(?<![\d,])\d{1,3}(?:,\d{3}){1,3}(?:\.\d+)?(?![\d,])"
    r"|(?<![\d.])\d+\.\d{1,2}(?!\d|\.\d)"
    # Round thousands however the first group is written ("1290,000": "1,290,000" or a
    # misheard "1297"): ASR writes a number read digit by digit in threes or fours, and a
    # last group of three zeros after a comma is how it writes an amount.
    r"|(?<![\d,])\d{1,4}(?:,\d{3})*,000(?![\d,])"
    r"|(?<![\d.])" + _DOTTED_DATE + r"(?![\d.])")
# Inside a personal cue's window only dates and clock times are blanked: there "1.0." and
# "3i1" are pieces of the number the cue announced, not an amount or a code.
_WINDOW_NOT_PII = re.compile(_DATE_TIME)
# Alphanumeric codes (tracking numbers, model numbers) are blanked too, unless a personal-data
# cue governs them ("my ID number is W-3-0-106…", a misheard first digit); digits ending in
# a lone X are kept (a resident ID's check character).
_CODE = re.compile(
    r"(?<![A-Za-z0-9])(?![\d-]*[Xx](?![A-Za-z0-9]))(?=[A-Za-z0-9-]*[A-Za-z])"
    r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
# The shortest run any cue can make personal data (a tail number: "尾号1123").
_MIN_CUED_DIGITS = min(c.min_digits for c in CUES if c.min_digits)
# The longest weak run an order / waybill cue keeps as a reference: waybills run to 15
# digits, and ASR adds a digit or two.
_REFERENCE_DIGITS = 18
# The shortest bank card number a reference cue does not take for its own number: 16 digits
# (UnionPay, Visa, Mastercard; 17-19 for some debit cards).
_MIN_CARD_AFTER_REFERENCE = 16
# The most digits of a run that a unit or a verb of paying makes an amount whatever cue
# is near; after a longer run ("1611967493分") the unit is a digit misheard.
_AMOUNT_DIGITS = 8
# What may separate a number's digit groups from a cue word heard among them.
_BETWEEN_GROUPS = " ,，、.-"
# Kinds a number's shape alone does not make certain; a cue re-labels or drops them.
_WEAK = ("long_number", "phone")
# A date the ASR wrote as digit groups: year, month and day, up to ten digits, then 号 / 日.
_DATE_RUN_DIGITS = 10
_DATE_AFTER = re.compile(r"\s?(?:[日号](?![码])|月)")
# A date word right after a number a personal cue announces: the year or the month of a date
# said after the cue ("那个号码我12.026.5月8号才办的": 二零二六年 with 年 lost).
_DATE_OR_YEAR_AFTER = re.compile(r"\s?(?:[年月日]|号(?![码]))")
# Far from its cue ("the ID card I registered with, let me get it out of my wallet, okay,
# …"), a number is taken only when it holds most (two thirds) of the digits of the kind the
# cue names, words heard for a digit counted: short numbers there are anything.
_FAR_DIGITS = {"phone": 8, "bank_card": 11, "cn_id": 12}
_FAR_DIGITS_OTHER = 10
# Digits (two thirds of eleven) of a number after "model" that make it a misheard mobile.
_MISHEARD_MOBILE_DIGITS = 8
# The lengths of a card or an account number said without a cue.
_CARD_DIGITS = (15, 19)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One detected mention: characters ``[start, end)`` of the text, what it is, how found."""

    kind: str
    start: int
    end: int
    text: str
    digits: str
    spoken: bool

    def to_dict(self) -> dict[str, object]:
        """JSON form (the value itself is deliberately not included)."""
        return {"kind": self.kind, "start": self.start, "end": self.end,
                "n_digits": len(self.digits), "spoken": self.spoken}


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cn_id_ok(body17: str, check: str) -> bool:
    """GB 11643 checksum of an 18-character resident ID (plausible birth date too)."""
    if len(body17) != 17 or not body17.isdigit():
        return False
    month, day = int(body17[10:12]), int(body17[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31 and body17[6:8] in ("18", "19", "20")):
        return False
    return cn_id_check(body17) == check.upper()


def cn_id_check(body17: str) -> str:
    """The check character (0-9 or X) of an ID's first 17 digits, ISO 7064 MOD 11-2."""
    s = sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[s % 11]


def _classify(d: str, has_x: bool) -> str | None:
    n = len(d)
    if has_x and n == 17:
        return "cn_id" if cn_id_ok(d, "X") else "long_number"  # ID-shaped, misread
    if n == 18 and cn_id_ok(d[:17], d[17]):
        return "cn_id"
    if n == 11 and d[0] == "1" and d[1] in "3456789":
        return "phone"
    if 13 <= n <= 19 and luhn_ok(d):
        return "bank_card"
    if d.startswith("00") and 10 <= n <= 17:
        return "phone"  # international with 00 prefix
    if d[0] == "0" and 10 <= n <= 12:
        return "phone"  # CN landline with area code
    if d.startswith("86") and n == 13 and d[2] == "1":
        return "phone"  # +86 mobile
    if 7 <= n <= 8:
        return "phone"  # local landline without area code
    if n >= 9:
        return "long_number"  # account, policy or card-like numbers failing a checksum
    return None


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = "|" * (b - a)
    return "".join(chars)


def _spoken(text: str, run: DigitRun) -> bool:
    return any(not text[s:e].isdigit() for s, e in run.spans)


def detect(text: str, kinds: tuple[str, ...] = KINDS, span_model: SpanModel | None = None
           ) -> list[PiiSpan]:
    """Every mention of the requested kinds, in text order, non-overlapping: what the rules
    find (:func:`detect_rules`) and what the learned reading of digit spans
    (:func:`learned_spans`, ``span_model`` or the shipped model) adds; a learned span that
    overlaps a rule's mention widens it.
    """
    cues = find_cues(text)
    return with_learned(text, detect_rules(text, kinds, cues),
                        learned_spans(text, span_model, cues), kinds, cues)


def with_learned(text: str, found: list[PiiSpan], learned: list[tuple[int, int, str]],
                 kinds: tuple[str, ...] = KINDS, cues: list[CueMatch] | None = None
                 ) -> list[PiiSpan]:
    """The mentions ``found`` by the rules in ``text`` with the ``learned`` spans (start, end,
    digits) added: one that overlaps mentions widens them into one, a new one takes its
    kind from :func:`_learned_kind` (``cues``: :func:`find_cues` of ``text``, when known).
    """
    if learned and cues is None:
        cues = find_cues(text)
    for start, end, digits in learned:
        found, lo, hi, kind = _absorb(found, start, end)
        kind = kind or _learned_kind(text, cues or [], start, end, digits)
        if kind in kinds:
            found.append(PiiSpan(kind, lo, hi, text[lo:hi], digits,
                                 any(ch.isalpha() for ch in text[lo:hi])))
    return _joined_over_nouns(text, sorted(found, key=lambda p: p.start))


def _joined_over_nouns(text: str, found: list[PiiSpan]) -> list[PiiSpan]:
    """``found`` (in text order) with two numbers that only a generic noun separates made
    one ("621782444 Number 4148653"): the ASR heard a cue word inside a number read in
    parts; the first one's kind names it.
    """
    out: list[PiiSpan] = []
    for p in found:
        prev = out[-1] if out else None
        if prev is not None and "email" not in (prev.kind, p.kind) and prev.end <= p.start \
                and " ".join(text[prev.end:p.start].strip(_BETWEEN_GROUPS).lower().split()) \
                in GENERIC_NOUNS:
            out[-1] = PiiSpan(prev.kind, prev.start, p.end, text[prev.start:p.end],
                              prev.digits + p.digits, prev.spoken or p.spoken)
            continue
        out.append(p)
    return out


def _learned_kind(text: str, cues: list[CueMatch], start: int, end: int, digits: str) -> str:
    """The kind of a learned span: its certain shape, else the kind of a personal cue before
    or after it, else a number of no named kind.
    """
    strong = _strong(digits)
    if strong is not None:
        return strong
    for hit in (cue_before(cues, text, start), cue_after(text, end)):
        if hit is not None and hit.kind in KINDS:
            return hit.kind
    return "long_number"


def detect_rules(text: str, kinds: tuple[str, ...] = KINDS,
                 cues: list[CueMatch] | None = None) -> list[PiiSpan]:
    """Every mention of the requested kinds that the shape and cue rules find, in text
    order, non-overlapping (``cues``: :func:`find_cues` of ``text``, when known).
    """
    found: list[PiiSpan] = []
    emails = list(_EMAIL.finditer(text))
    cues = find_cues(text) if cues is None else cues
    codes = [m.span() for m in _CODE.finditer(text) if _is_code(cues, text, m.start(), m.end())]
    blanked = _blank(text, [m.span() for m in emails] + cue_spans(cues)
                     + [m.span() for m in _NOT_PII.finditer(text)] + codes)
    for run, cue in _bridged(blanked, digit_runs(blanked, min_digits=1), text, cues):
        if len(run.digits) < _MIN_CUED_DIGITS:
            continue
        if cue is None:
            cue = cue_after(text, run.end) or cue_reference_far(cues, run.start)
            if cue is None and _said_as_date(text, run):
                continue
        elif _dated(cue, run.digits, text, run.end):
            continue
        if len(run.digits) <= _AMOUNT_DIGITS and said_as_amount(text, run.start, run.end):
            continue  # "退了5335一般3-5个工作日": an amount, whatever cue is near
        for kind, start, end, digits in _with_cue(text, run, cue):
            if kind in kinds:
                found.append(PiiSpan(kind, start, end, text[start:end], digits,
                                     _spoken(text, run)))
    window_text = _blank(text, [m.span() for m in emails] + cue_spans(cues) + [
        m.span() for m in _WINDOW_NOT_PII.finditer(text)])
    found = _with_windows(text, window_text, cues, found, kinds)
    found = _with_cueless(text, window_text, cues, found, kinds)
    found = [_with_lead_group(text, window_text, p) for p in found]
    if "email" in kinds:
        for m in emails:
            found.append(PiiSpan("email", m.start(), m.end(), m.group(0), "", False))
    found.sort(key=lambda p: (p.start, -p.end))
    out: list[PiiSpan] = []
    for p in found:
        if out and p.start < out[-1].end:
            continue
        out.append(p)
    return out


def _with_windows(text: str, blanked: str, cues: list[CueMatch], found: list[PiiSpan],
                  kinds: tuple[str, ...]) -> list[PiiSpan]:
    """``found`` plus the numbers personal-data cues announce in ``blanked`` (``text`` with
    emails, cues, dates and clock times blanked)
    (:func:`~qa_pipeline.privacy.window.number_after`): a number that overlaps mentions
    already found widens them into one; a new one takes the cue's kind. A cue word heard
    inside a number ("my contact number to 134, number 135, 377", "ID card in 1 neuro 1 or
    7, 1 ID, I'm neuro 6, …") does not cut it: a window's number too short to take is
    joined to the number of a cue said right after it.
    """
    short: WindowNumber | None = None  # the last window's number, too short to take
    for k, c in enumerate(cues):
        if c.cue.kind == REFERENCE:
            if c.cue.or_mobile:
                found = _misheard_mobile(text, blanked, c, found, kinds)
            short = None
            continue
        hit = resolve([x.cue for x in cues[:k + 1] if x.end >= c.start - WINDOW_CHARS])
        number = number_after(blanked, c.end)
        if number is not None and short is not None \
                and not text[short.end:c.start].strip(_BETWEEN_GROUPS):
            number = WindowNumber(short.start, number.end, short.digits + number.digits)
        short = number if number is not None and len(number.digits) < hit.min_digits \
            else None
        if number is None:
            # The cue said well before the number: only a long number is taken.
            number = number_after(blanked, c.end, FAR_START_TOKENS)
            if number is not None and heard_digits(blanked, number) < _FAR_DIGITS.get(
                    hit.kind, _FAR_DIGITS_OTHER):
                continue
        if number is not None and _tail_count(blanked, number) < hit.min_digits:
            number = _owned_tail(text, blanked, cues[:k + 1], number)
        if number is None or len(number.digits) <= _AMOUNT_DIGITS \
                and said_as_amount(text, number.start, number.end) \
                or _year(hit, number.digits, text, number.end) \
                or _dated(hit, number.digits, text, number.end):
            continue
        begin = number.start
        if c.end > c.start and text[c.end - 1].isdigit() \
                and not text[c.end:begin].strip(_BETWEEN_GROUPS):
            # "last 465-38", "the last 4, 9, 3, 2, 1": the cue's "4" is next to the number
            # and the transcript cannot tell the count from a digit; both go
            begin = c.start + len(text[c.start:c.end].rstrip("0123456789"))
        found, start, end, merged_kind = _absorb(found, begin, number.end)
        if merged_kind is not None:
            kind = merged_kind
        elif hit.kind in kinds:
            kind = hit.kind
        else:
            continue
        found.append(PiiSpan(kind, start, end, text[start:end], number.digits,
                             any(ch.isalpha() for ch in text[start:end])))
    return found


# The digits of a tail (:func:`_owned_tail`), and how many words may stand between its owner
# and it ("on file any 8988": "ending" misheard).
_TAIL_DIGITS = 4
_TAIL_OWNER_GAP_TOKENS = 2
_TAIL_MIN_REAL_DIGITS = 2
# The words that may stand there: copulas and what "ending" becomes ("any", "N", "and in");
# "the phone bill is 1299", "my account balance 2450" name something else.
_TAIL_OWNER_GAP_WORDS = frozenset(("is", "was", "it's", "its", "are", "on", "file", "number",
                                   "no", "any", "n", "and", "in", "an", "end", "ended", "at",
                                   "是", "的", "为", "号"))
_THOUSANDS = re.compile(r"\d,\d{3}(?!\d)")


def _tail_count(blanked: str, number: WindowNumber) -> int:
    """The digits a window's number holds; for a short number (a tail), the words heard for a
    digit count too ("ending 4 for 3 1": "four" written "for"), once two real digits are in.
    """
    n = len(number.digits)
    if n >= _TAIL_DIGITS or n < _TAIL_MIN_REAL_DIGITS:
        return n
    return heard_digits(blanked, number)


def _owned_tail(text: str, blanked: str, cues: list[CueMatch], number: WindowNumber
                ) -> WindowNumber | None:
    """The tail of a thing a cue in the window of the last of ``cues`` names
    (:data:`~qa_pipeline.privacy.cues.TAIL_OWNERS`) at the start of ``number``, or None: a
    first group of exactly four digits ("N557O is that the one": the number's "one" is
    prose), not a year, not written as an amount ("1,500"), at most two words after the
    cue and none that makes it a date ("card expires 0927").
    """
    cue = cues[-1]
    toks = tokens_after(blanked[:number.end], number.start)
    first = next((k for k, t in enumerate(toks) if t.type == DIGIT_TOKEN), None)
    if first is None:
        return None
    last = first
    while last + 1 < len(toks) and toks[last + 1].type == DIGIT_TOKEN:
        last += 1
    digits = "".join(t.digits for t in toks[first:last + 1])
    tail = WindowNumber(number.start, toks[last].end, digits)
    if len(digits) != _TAIL_DIGITS or digits[:2] in ("19", "20") \
            or _THOUSANDS.search(text, tail.start, tail.end):
        return None
    if not any(owns_tail(text, c) for c in cues if c.end >= cue.start - WINDOW_CHARS):
        return None
    between = [text[t.start:t.end].lower() for t in tokens_after(blanked, cue.end)
               if t.end <= number.start]
    if len(between) > _TAIL_OWNER_GAP_TOKENS or dates_a_tail(text[cue.end:number.start]) \
            or not _TAIL_OWNER_GAP_WORDS.issuperset(between):
        return None
    return tail


def _misheard_mobile(text: str, blanked: str, cue: CueMatch, found: list[PiiSpan],
                     kinds: tuple[str, ...]) -> list[PiiSpan]:
    """After "model" (how ASR writes "mobile"), a window read as after a phone cue: a
    number of most of a mobile's digits that starts as one does ("My modal is 1.4.4.3.8.
    Nable Nero 4.5.") is a phone number; model numbers are codes or shorter.
    """
    number = number_after(blanked, cue.end)
    if number is None or heard_digits(blanked, number) < _MISHEARD_MOBILE_DIGITS \
            or number.digits[0] != "1" or "phone" not in kinds:
        return found
    found, start, end, _ = _absorb(found, number.start, number.end)
    return [*found, PiiSpan("phone", start, end, text[start:end], number.digits, True)]


def _absorb(found: list[PiiSpan], start: int, end: int
            ) -> tuple[list[PiiSpan], int, int, str | None]:
    """Merge the spans of ``found`` that overlap ``start:end`` into it: the spans left, the
    merged bounds, and the first overlapped span's kind (None when nothing overlapped).
    """
    overlapping = [p for p in found if p.start < end and p.end > start]
    if not overlapping:
        return found, start, end, None
    return ([p for p in found if p not in overlapping],
            min(start, *(p.start for p in overlapping)),
            max(end, *(p.end for p in overlapping)), overlapping[0].kind)


# The fewest digits of a number whose cut-off first group is joined to it.
_LEAD_GROUP_MIN_DIGITS = 6


def _with_lead_group(text: str, blanked: str, span: PiiSpan) -> PiiSpan:
    """``span`` widened over a short group of digits and words heard for digits that the ASR
    cut off from its start (:func:`~qa_pipeline.privacy.window.lead_group_before`), when it
    is a number of at least six digits.
    """
    if len(span.digits) < _LEAD_GROUP_MIN_DIGITS or span.kind == "email":
        return span
    start = lead_group_before(blanked, span.start)
    if start == span.start:
        return span
    return PiiSpan(span.kind, start, span.end, text[start:span.end], span.digits, True)


def _with_cueless(text: str, blanked: str, cues: list[CueMatch], found: list[PiiSpan],
                  kinds: tuple[str, ...]) -> list[PiiSpan]:
    """``found`` plus numbers no cue announced that ASR split into pieces but whose shape is
    certain once joined (:func:`~qa_pipeline.privacy.window.cueless_number`): a mobile
    number, a card, a resident ID ("153552要8505"), or a number of a personal cue's length
    with that cue said after it ("1-3-8 nero 0 0 1 3 is my mobile"). After a reference
    cue only a certain shape is kept.
    """
    for run in digit_runs(blanked, min_digits=1):
        if any(p.start < run.start < p.end for p in found):
            continue  # inside a mention; one that starts here may go on past its end
        before = cue_before(cues, text, run.start) or cue_reference_far(cues, run.start)
        number, kind = _cueless_reading(text, blanked, run.start)
        if kind is None and (lead := homophones_before(blanked, run.start)) < run.start:
            # "打这个腰舞腰四腰两三三三七": the first digits heard as words
            number, kind = _cueless_reading(text, blanked, lead)
        if number is None or kind is None:
            continue
        if before is not None and before.is_reference and _strong(number.digits) != "phone":
            # After an order or waybill cue only a mobile number joined across words is
            # personal data ("验证码发到1325805要748上面": the phone the code goes to); a
            # card's checksum over pieces of a code is chance ("1Z999AA10123456784").
            continue
        found, start, end, merged_kind = _absorb(found, number.start, number.end)
        kind = merged_kind or kind
        if kind in kinds:
            found.append(PiiSpan(kind, start, end, text[start:end], number.digits,
                                 any(ch.isalpha() for ch in text[start:end])))
    return found


def _cueless_reading(text: str, blanked: str, pos: int
                     ) -> tuple[WindowNumber | None, str | None]:
    """The longest cue-less reading of the number at ``pos`` that is personal data, and its
    kind: by its shape (:func:`_strong`, :func:`_shaped`), or by a cue said after it. With
    such a cue after it, the number may hold as many other words as a cue's window
    ("one free famine, 8-1-4, 1-2-7-4, that might work phone").
    """
    for number in cueless_number(blanked, pos):
        kind = _strong(number.digits) or _shaped(number.digits)
        after = cue_after(text, number.end)
        if kind is None and after is not None and len(number.digits) >= max(
                after.min_digits, 6):
            kind = after.kind
        if kind is not None:
            return number, kind
    for number in cueless_number(blanked, pos, GAP_TOKENS):
        after = cue_after(text, number.end)
        if after is not None and not after.is_reference and len(number.digits) >= max(
                after.min_digits, 6):
            return number, after.kind
    for number in cueless_number(blanked, pos, across_questions=True):
        # "4539-048-5489? 00732": a question mark the ASR put inside a number; only a
        # certain shape or a card's length crosses it ("2019 or 2020? 2021" does not)
        kind = _strong(number.digits) or (
            "long_number" if _CARD_DIGITS[0] <= len(number.digits) <= _CARD_DIGITS[1]
            else None)
        if kind is not None:
            return number, kind
    return None, None


def _said_as_date(text: str, run: DigitRun) -> bool:
    """Whether a cue-less run of at most ten digits ends in a date word ("12.22.07.20号",
    "2020、25、8、11号"): a date the ASR wrote in pieces.
    """
    return len(run.digits) <= _DATE_RUN_DIGITS and bool(_DATE_AFTER.match(text, run.end))


def _dated(cue: CueHit, digits: str, text: str, end: int) -> bool:
    """Whether a number of at most eight digits after a cue of a long number (not a tail's)
    is followed by a date word: a date said after the cue, not the number it names (a
    phone, a card or an ID has more digits, a tail has its own cue).
    """
    return cue.min_digits > _TAIL_DIGITS and len(digits) <= _AMOUNT_DIGITS \
        and _DATE_OR_YEAR_AFTER.match(text, end) is not None


def _year(cue: CueHit, digits: str, text: str, end: int) -> bool:
    """Whether a four-digit tail that no named thing owns is a year ("the quarter ending
    2024"); "card ending 2024" names its owner and stays personal data, and so does a tail
    whose owner is named after it ("尾号1985的那张卡"), and so does one after a cue that says
    digits follow ("the last digits are 2082").
    """
    if cue.kind != "long_number" or cue.names_digits or len(digits) != 4 \
            or digits[:2] not in ("19", "20"):
        return False
    after = cue_after(text, end)
    return after is None or after.kind == "long_number"


def _is_code(cues: list[CueMatch], text: str, start: int, end: int) -> bool:
    """Whether a letters-and-digits token is a code (tracking, model): unless a personal cue
    is said before it or after it ("W10105197808133975, that's my national ID").
    """
    cue = cue_before(cues, text, start)
    if cue is not None:
        return cue.is_reference
    after = cue_after(text, end)
    return after is None or after.is_reference


def _bridged(blanked: str, runs: list[DigitRun], text: str, cues: list[CueMatch]
             ) -> list[tuple[DigitRun, CueHit | None]]:
    """Runs with the cue governing each; after a personal cue, groups split by a stray
    character (an ASR homophone) are joined into one run.
    """
    out: list[tuple[DigitRun, CueHit | None]] = []
    for run in runs:
        if out:
            prev, cue = out[-1]
            if cue is not None and not cue.is_reference and prev.x_span is None \
                    and bridgeable(blanked[prev.end:run.start]):
                out[-1] = (DigitRun(prev.digits + run.digits, prev.spans + run.spans,
                                    run.x_span), cue)
                continue
        out.append((run, cue_before(cues, text, run.start)))
    return out


def _with_cue(text: str, run: DigitRun, cue: CueHit | None
              ) -> list[tuple[str, int, int, str]]:
    """The mentions in a run, given the cue that governs it."""
    pieces = _split(text, run) if len(run.digits) >= 7 else []
    if cue is None:
        return pieces
    if cue.is_reference:
        # An order or waybill number: only a shape that is certain on its own is kept, or
        # after "model" (how ASR writes "mobile") a mobile number with a digit lost or added.
        # A Luhn check passes one number in ten, so after a reference cue a "card" shorter
        # than a bank card's 16 digits is the waybill or order number the cue names.
        return [("phone" if cue.or_mobile and _mobile_like(p[3]) else p[0], *p[1:])
                for p in pieces
                if not (p[0] in _WEAK and len(p[3]) <= _REFERENCE_DIGITS
                        and _strong(p[3]) is None
                        and not (cue.or_mobile and _mobile_like(p[3])))
                and not (p[0] == "bank_card" and len(p[3]) < _MIN_CARD_AFTER_REFERENCE)]
    if not pieces and len(run.digits) >= cue.min_digits \
            and not said_as_amount(text, run.start, run.end) \
            and not _year(cue, run.digits, text, run.end):
        return [(cue.kind, run.start, run.end, run.digits)]
    # A weak kind takes the cue's ("身份证" + 17 digits and a wrong check character), except
    # a mobile number, which is one whatever is said before it.
    return [(cue.kind if kind in _WEAK and _strong(digits) != "phone" else kind, s, e, digits)
            for kind, s, e, digits in pieces]


def _mobile_like(d: str) -> bool:
    """A mainland mobile number with one digit lost or added by the ASR."""
    return 10 <= len(d) <= 12 and d[0] == "1" and d[1] in "3456789"


def _shaped(d: str) -> str | None:
    """Evidence short of certainty that a cue-less number is personal data: the length of a
    card or an ID (15-19 digits), or a shorter run (12-14) with a card's first digit or an
    ID's birth year in place; a mobile number with a digit lost or added.
    """
    n = len(d)
    if _mobile_like(d) and n != 11:
        return "phone"
    if 15 <= n <= 19:
        return "long_number"
    if 12 <= n <= 14 and (d[0] in "3456" or d[6:8] in ("19", "20")):
        return "long_number"
    return None


def _strong(d: str) -> str | None:
    """Kinds certain enough to cut a run at: checksummed IDs and cards, mobile numbers."""
    n = len(d)
    if n == 18 and cn_id_ok(d[:17], d[17]):
        return "cn_id"
    if n == 11 and d[0] == "1" and d[1] in "3456789":
        return "phone"
    if 13 <= n <= 19 and luhn_ok(d):
        return "bank_card"
    return None


def _split(text: str, run: DigitRun) -> list[tuple[str, int, int, str]]:
    """Classify a run. A run that is two numbers said back to back ("手机 138…，卡号 6222…"
    with no word between) is cut where both parts are strong kinds; otherwise it is one
    mention.
    """
    d = run.digits
    kind = _classify(d, run.x_span is not None)
    if kind in (None, "long_number", "phone") and len(d) > 11:
        for cut in range(len(d) - 11, 10, -1):
            head = _strong(d[:cut])
            tail = DigitRun(d[cut:], run.spans[cut:], run.x_span)
            tail_kind = _strong(tail.digits) or (
                "cn_id" if tail.x_span and cn_id_ok(tail.digits, "X") else None)
            if head and tail_kind:
                return [(head, run.spans[0][0], run.spans[cut - 1][1], d[:cut]),
                        (tail_kind, tail.start, tail.end, tail.digits)]
    return [(kind, run.start, run.end, d)] if kind else []


def _shape(c: Candidate, text: str) -> dict[str, bool]:
    """The shapes of a candidate's digits that a checksum or a numbering plan makes likely."""
    d = c.digits
    n = len(d)
    has_x = text[c.end - 1:c.end].lower() in ("x", "叉")
    return {"mobile": n == 11 and d[0] == "1" and d[1] in "3456789",
            "mobile_like": _mobile_like(d),
            "luhn": 13 <= n <= 19 and luhn_ok(d),
            "cn_id": n == 18 and cn_id_ok(d[:17], d[17]) or has_x and n == 17 and cn_id_ok(
                d, "X"),
            "x": has_x, "zero_lead": d[0] == "0",
            "year": n == 4 and d[:2] in ("19", "20"),
            "birth_year": n >= 12 and d[6:8] in ("19", "20"),
            "end_word": _end_word_around(text, c.start, c.end)}


def span_candidates(text: str, cues: list[CueMatch] | None = None
                    ) -> list[tuple[Candidate, dict[str, float]]]:
    """The learned reading's candidates of ``text`` with their features
    (:mod:`qa_pipeline.privacy.spans`): digit stretches of ``text`` with emails, cue phrases,
    dates and clock times blanked. What the cue tables say of a candidate is no feature: the
    model reads the words themselves, listed or not.
    """
    cues = find_cues(text) if cues is None else cues
    blanked = _blank(text, [m.span() for m in _EMAIL.finditer(text)] + cue_spans(cues) + [
        m.span() for m in _WINDOW_NOT_PII.finditer(text)])
    return [(c, features(text, c, _shape(c, text)))
            for c in candidates(blanked, certain=_certain_shape)]


def _certain_shape(digits: str) -> bool:
    return _strong(digits) is not None


def learned_spans(text: str, model: SpanModel | None = None,
                  cues: list[CueMatch] | None = None) -> list[tuple[int, int, str]]:
    """Characters ``[start, end)`` and digits of the candidates of ``text`` that ``model``
    (default: the shipped one) reads as personal data and nothing said around them marks as
    something else (:func:`said_otherwise`).
    """
    model = model or shipped_model()
    cues = find_cues(text) if cues is None else cues
    cands = [(c, p) for c, feats in span_candidates(text, cues)
             if not bare(feats) and (p := model.probability(feats)) >= model.threshold]
    return [(c.start, c.end, c.digits) for c, p in cands
            if not said_otherwise(text, cues, c.start, c.end, c.digits, probability=p)]


# Numbers of lengths no personal number has (five or six digits: a code, a quantity) could be
# taken as personal data only where the words around them speak of the end of a number (the ASR
# dropped digits of a tail or kept a tail's cue digit): stems of "last", "ending", "final",
# "digits", 尾, 末, 后…位, or a tail cue the tables match by sound (末税, "lost for").
# Measured leave one author out (benchmarks/redaction/span_model.py --need-tail 5,6): it cost
# more recall on unseen authors than the precision it bought, so no length needs one.
NEED_TAIL_LENGTHS: tuple[int, ...] = ()
_TAIL_STEMS = re.compile(r"(?:\b(?:last|lost|end|ends|ending|ended|final|finish\w*|digits?)\b"
                         r"|尾|末|最后|后.{0,2}[位个]|后面|后边)", re.I)
_TAIL_BEFORE_CHARS = 24
# A word that starts within this many characters after the number is read whole. Measured
# leave one author out: reaching as far as before it (24) lost a line of heldout9.
_TAIL_AFTER_CHARS = 16


def _end_word_around(text: str, start: int, end: int) -> bool:
    """Whether a word of a number's end (:data:`_TAIL_STEMS`) is said shortly before or
    after ``text[start:end]``, other than one a time or a count unit follows ("2019, the
    last four years", "最后三次"): that one says how long or how many, not which digits.
    """
    before = _TAIL_STEMS.finditer(text, max(0, start - _TAIL_BEFORE_CHARS), start)
    if any(not unit_follows(text, m.end()) for m in before):
        return True
    # "0456, that's the last bit of it": "last" starts in the window and ends past it.
    after = itertools.takewhile(lambda m: m.start() < end + _TAIL_AFTER_CHARS,
                                _TAIL_STEMS.finditer(text, end))
    return any(not unit_follows(text, m.end()) and not _digits_follow(text, m.end())
               for m in after)


# How near after a word of a number's end another number makes the word that number's.
_OWN_NUMBER_CHARS = 8


def _digits_follow(text: str, pos: int) -> bool:
    """Whether a number of three digits or more starts shortly after ``pos``: a word of a
    number's end said after one number and before another names the second ("one nineteen
    ninety-nine, on the Visa ending 0072"), not the first.
    """
    runs = digit_runs(text[pos:pos + _OWN_NUMBER_CHARS + 24], min_digits=3)
    return bool(runs) and runs[0].start <= _OWN_NUMBER_CHARS

# Nouns of money before a number ("your phone bill is 1299", "卡里有2450", "手机费是1299"),
# and units of measure right after one ("1024px wide"): an amount or a size, unless the
# words around it speak of a number's end.
_MONEY_BEFORE = re.compile(
    r"(?:\b(?:bill|balance|fee|fees|price|cost|costs|total|amount|charge|charges|payment|"
    r"refund|deposit|credit|debt|owe|owed|worth|budget|salary|income)\b|费|余额|价格|价钱|"
    r"总共|一共|合计|金额|里有|还有|欠)[^0-9]{0,12}$", re.I)
_MEASURE_AFTER = re.compile(r"\s?(?:px|mm|cm|kg|km|gb|mb|kb|inch|inches|pixels?|feet|ft)\b",
                            re.I)
_DOTTED_DATE_RE = re.compile(_DOTTED_DATE)
# A month and a day written with a dash or a slash ("11-23 办的"), no year.
_MONTH_DAY = re.compile(r"(?:0?[1-9]|1[0-2])[-/](?:0?[1-9]|[12]\d|3[01])")
# A unit one or two words after a number ("2380 reward points", "30 business days").
_UNIT_WORDS_AFTER = re.compile(
    r"\s+[A-Za-z]+(?:\s+[A-Za-z]+)?\s+(?:"
    + "|".join(sorted((u for u in UNITS_AFTER if u.isascii() and u.isalpha()), key=len,
                      reverse=True)) + r")\b", re.I)
# Numbers said with a magnitude ("one thousand seven hundred and forty", "三千五百") are
# amounts or quantities: personal numbers are read digit by digit or in pairs.
_MAGNITUDE = re.compile(r"\b(?:hundred|thousand|million|billion|grand)\b|[百千万亿]", re.I)
_MAGNITUDE_AFTER_CHARS = 10
# Four digits or fewer said as tens or teens ("fifteen ninety-nine", "eighteen fifty",
# "sixteen seventeen degrees"), with no word of a number's end: a price, a year, a quantity.
_PAIR_WORD = re.compile(
    r"\b(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
    r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b", re.I)
# The number of a role or a place, not of a caller ("agent ID 3310", "employee number 4471",
# "room 318", "extension 204", "房间1206"): such a noun, perhaps with "ID" or "number", right
# before the number.
_ROLE_OR_PLACE_BEFORE = re.compile(
    r"(?:\b(?:agent|employee|staff|operator|advisor|adviser|representative|rep|badge|room|"
    r"extension|ext|desk|gate|platform|seat|table|suite|floor|bus|route|aisle|locker)"
    r"(?:\s+(?:id|number|no\.?|#))?(?:\s+(?:is|was))?|房间号?|房号|座位号?|工号|客服代表|代表|站台|登机口)"
    r"[\s:：,，]*(?:是)?\s*$", re.I)
# Five digits starting with 1 or 9 ("12315", "95519") and no word of a number's end: a public
# service number, not a caller's.
_SERVICE_DIGITS = 5
# "charged me 4599", "paid them 120": a verb of paying and its object before an amount.
_AMOUNT_WITH_OBJECT = re.compile(
    r"\b(?:charged|charge|paid|pay|refunded|refund|billed|bill|owe|owed|sent|gave)\s+"
    r"(?:me|you|us|him|her|them)\s*$", re.I)
# "from 120 to 150 to 199 dollars", "3到5个": a range whose last number is an amount.
_RANGE_AFTER = re.compile(r"\s*(?:to|or|and|到|至|或|-|~)\s*(\d+)", re.I)


def _years(digits: str) -> bool:
    """Whether ``digits`` are years said one after another ("2019 or 2020? 2021")."""
    return len(digits) % 4 == 0 and len(digits) <= 12 and all(
        digits[k:k + 2] in ("19", "20") for k in range(0, len(digits), 4))


# The model's probability from which a reference cue before a learned span no longer vetoes
# it: the model has read the words around it ("deposit it into my tracking 6222…", checking
# misheard; "用的好像是…", 单号 matched by sound), the cue table only the cue. Chosen leave one
# author out (benchmarks/redaction/span_model.py --reference-yield).
REFERENCE_YIELD_PROBABILITY = 0.95
# A reference cue that names a number ("单号", "票号", "tracking number", "postcode") never
# yields: only a bare qualifier ("my tracking", "订单") or a cue heard by sound, which may be
# another word misheard.
_NAMES_A_NUMBER = re.compile(r"(?:号|码|number|no\.?|#|code|id)\s*$", re.I)

# The fewest digits of a number whose seventh and eighth digits may be an ID's birth year.
_BIRTH_YEAR_DIGITS = 12
# The fewest digits of a learned span ("the one ending in 88").
_LEARNED_MIN_DIGITS = 2
# The most digits of a candidate that a date word after it ("号", "日") makes a date.
_LEARNED_DATE_DIGITS = 10


def said_otherwise(text: str, cues: list[CueMatch], start: int, end: int, digits: str,
                   need_tail: tuple[int, ...] = NEED_TAIL_LENGTHS, probability: float = 0.0,
                   reference_yield: float | None = None) -> bool:
    """Whether a learned span ``text[start:end]`` is marked as something else than personal
    data by what is said around it, whatever the model reads: an amount or a quantity (a
    unit after it, a currency sign or a verb of paying before it, thousands separators), a
    year, a date (a date word after it, an expiry word before a four-digit number), a
    business reference (a reference cue governs it and its shape is not certain; a cue
    heard only by sound yields to a number that starts like a personal one), or a
    number of one of the ``need_tail`` lengths with no word of a number's end around it.
    """
    n = len(digits)
    if n < _LEARNED_MIN_DIGITS:
        return True  # one digit is a word of the prose ("一流的"), never a number
    tail = _tail_said(text, cues, start, end)
    if n <= _AMOUNT_DIGITS and (said_as_amount(text, start, end) or not tail and (
            _NOT_PII.fullmatch(text, start, end)
            or _AMOUNT_WITH_OBJECT.search(text, max(0, start - WINDOW_CHARS), start)
            or (m := _RANGE_AFTER.match(text, end)) is not None
            and said_as_amount(text, m.start(1), m.end(1)))):
        return True  # "分" or "次" after a longer number is a digit misheard
    if not tail and (_years(digits) and cue_after(text, end) is None
                     or _MONTH_DAY.fullmatch(text, start, end)
            or _DOTTED_DATE_RE.fullmatch(text, start, end)) \
            or n <= _LEARNED_DATE_DIGITS and _DATE_AFTER.match(text, end) \
            or n <= _TAIL_DIGITS and dates_a_tail(text[max(0, start - WINDOW_CHARS):start]):
        return True
    before = cue_before(cues, text, start)
    if start > 0 and text[start - 1].isascii() and text[start - 1].isalpha() \
            and (before is None or before.is_reference) and _strong(digits) is None:
        # letters glued to the digits ("MU五幺一二", "GT4471", "KX八八二一"): a flight, a plate
        # or a booking code, unless a personal cue is said before it or after it
        after = cue_after(text, end)
        if after is None or after.is_reference:
            return True
    if before is not None and before.is_reference and _strong(digits) is None and not (
            # after "model" (how ASR writes "mobile") most of a mobile's digits
            before.or_mobile and n >= _MISHEARD_MOBILE_DIGITS and digits[0] == "1") \
            and not (_heard_reference(cues, text, start) and _personal_lead(digits)) \
            and not (probability >= (REFERENCE_YIELD_PROBABILITY if reference_yield is None
                                     else reference_yield)
                     and _bare_reference(cues, text, start)):
        return True
    if n in need_tail and not tail:
        return True
    if n > _AMOUNT_DIGITS or tail:
        return False
    if _MEASURE_AFTER.match(text, end) or _UNIT_WORDS_AFTER.match(text, end) \
            or _MAGNITUDE.search(text, start, min(len(text), end + _MAGNITUDE_AFTER_CHARS)) \
            or n <= _TAIL_DIGITS and _PAIR_WORD.search(text, start, end) \
            or _ROLE_OR_PLACE_BEFORE.search(text, max(0, start - WINDOW_CHARS), start) \
            or n == _SERVICE_DIGITS and digits[0] in "19":
        return True
    money = _MONEY_BEFORE.search(text, max(0, start - WINDOW_CHARS), start)
    # The money noun must be the nearer word ("the phone bill is 1299", not "credit card
    # 6228"), and no personal noun said after the number ("the one we'll refund is 9410,
    # the debit card").
    return money is not None and cue_after(text, end) is None and not any(
        c.cue.kind != REFERENCE and money.start() < c.end <= start for c in cues)




def _personal_lead(digits: str) -> bool:
    """Whether a number of most of a mobile's digits starts like one (1, then 3-9), or a
    long one has a birth year where an ID has it: how a personal number begins, which a
    business reference rarely does.
    """
    n = len(digits)
    return n >= _MISHEARD_MOBILE_DIGITS and digits[0] == "1" and digits[1] in "3456789" \
        or n >= _BIRTH_YEAR_DIGITS and digits[6:8] in ("19", "20")


def _heard_reference(cues: list[CueMatch], text: str, start: int) -> bool:
    """Whether the reference cue that governs a number starting at ``start``
    (:func:`~qa_pipeline.privacy.cues.cue_before`) was matched by sound only: two syllables
    like those of 单号 or 运单 ("留的号", "云打") may be a personal noun misheard, so a
    number that starts like a personal one (:func:`_personal_lead`) is left to the model,
    which reads those characters, not vetoed by the cue table.
    """
    cue = _nearest_reference(cues, text, start)
    return cue is not None and cue.by_sound


def _bare_reference(cues: list[CueMatch], text: str, start: int) -> bool:
    """Whether the reference cue nearest before ``start`` names no number (a qualifier: "my
    tracking", "订单") or was matched by sound only: a cue that may be another word misheard
    ("checking" as "tracking"), which a sure model overrules.
    """
    cue = _nearest_reference(cues, text, start)
    return cue is not None and (
        cue.by_sound or not _NAMES_A_NUMBER.search(text, cue.start, cue.end))


def _nearest_reference(cues: list[CueMatch], text: str, start: int) -> CueMatch | None:
    """The nearest cue that may govern a number starting at ``start``
    (:func:`~qa_pipeline.privacy.cues.cues_before`) when it is a reference cue, else None.
    """
    near = cues_before(cues, text, start)
    return near[-1] if near and near[-1].cue.kind == REFERENCE else None


def _tail_said(text: str, cues: list[CueMatch], start: int, end: int) -> bool:
    """Whether the words around ``text[start:end]`` speak of the end of a number."""
    if _end_word_around(text, start, end):
        return True
    if any(c.cue.kind == TAIL and start - _TAIL_BEFORE_CHARS <= c.end <= start for c in cues):
        return True
    after = cue_after(text, end)
    return after is not None and after.min_digits <= _TAIL_DIGITS
