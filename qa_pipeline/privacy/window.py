"""The number a personal-data cue announces, read the way speech recognition writes it.

After "手机号", "身份证", "card number" or "reach me on", a caller reads a number, and the
ASR writes it in pieces: digits, number words, and words it heard instead of digits
("Nero", "for", "I'm", 要 for 幺), with commas and full stops between groups. A run of
digits (:mod:`qa_pipeline.privacy.digits`) breaks at each such word; the cue's window does
not: from the cue, the number is the stretch of tokens that starts with a digit within
:data:`START_TOKENS` and goes on while at most :data:`GAP_TOKENS` other words separate its
digits. It ends at clause punctuation, at another cue or a blanked date or clock time
(``|``), before an amount or a date ("12999元", "50 dollars", "二零一九年"), or after
:data:`CAP_TOKENS` tokens. Words that sound like digits (one edit from a digit word, or
the homophones an 8 kHz ASR writes, :data:`EN_HOMOPHONES`) bridge a gap but are never
counted as digits, so a window needs as many real digits as the cue asks for; they do not
count towards the cue's start distance either, and the number starts at the first of them
("double for Nero Free-O-5", "要7559…"). Fillers ("um", 嗯) are no tokens. A window also
goes on past a question mark between two digits, and past one right after the cue when the
number comes in the answer ("the last four of the card? I have 1352").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from rapidfuzz.distance import Levenshtein

from qa_pipeline.privacy.cues import said_as_amount
from qa_pipeline.privacy.digits import EN_DIGITS, EN_REPEAT, ZH_DIGITS, written_digit

# How far after the cue (in tokens) the number must start: "is", "是", "on", "的是".
START_TOKENS = 4
# How far a cue said well before its number may be ("the ID card I registered with, let me
# get it out of my wallet, okay, …", "联系方式的话，就是我刚才跟您说的那个，…"): the caller
# takes a long number only (:mod:`qa_pipeline.privacy.detect`).
FAR_START_TOKENS = 32
# Other words a number may have between two of its digits: misheard digits ("I'm narrow")
# and group words the ASR adds.
GAP_TOKENS = 4
# Extra words a gap may hold once this many digits of the number have been read.
LONG_GAP_EXTRA = 2
_LONG_GAP_DIGITS = 6
# The furthest a window reaches (an 18-character ID said digit by digit, with room).
CAP_TOKENS = 48

# Clause ends (ASR also writes "." between digit groups, so a full stop is not one) and the
# blanked spans of cues, emails, dates and clock times.
_STOPS = frozenset("。！？!?；;\n|")
# Between the pieces of one number; not tokens.
_SEPARATORS = frozenset(" \t-–—.·,，、/:：'\"()（）")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")  # "I'm" is one word
# Fillers a caller says between the groups of a number ("one three eight, um, six…",
# "幺三八，嗯，六…"): no token, like a separator.
_EN_FILLERS = frozenset(("um", "uh", "umm", "uhm", "er", "erm", "ah", "hmm", "mm"))
_ZH_FILLERS = frozenset("嗯呃啊额")
# Numbers said two digits at a time ("thirteen eighty, oh five"): a teen is two digits, a
# tens word one digit before a digit word ("forty four") and two on its own ("forty").
_EN_TEENS = {w: str(10 + k) for k, w in enumerate((
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen"))}
_EN_TENS = {w: str(k) for k, w in enumerate((
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), start=2)}
# English words one edit from a digit word of four or more letters ("nero", "for", "mine"):
# what an 8 kHz ASR writes for a digit. Shorter digit words have too many neighbours.
_EN_LONG_DIGITS = tuple(w for w in EN_DIGITS if len(w) >= 4)
# English words an 8 kHz ASR writes for a digit word said in a number, beyond one edit of
# it: homophones ("for", "to", "won", "ate"), mishearings of the voiced consonant ("free",
# "tree" for three, "fix", "big" for six, "hero", "neuro", "narrow" for zero) and the radio
# forms ("niner"), "px" glued to a number for six ("one fifty six" as "150px"). "i", "I'm",
# "time" and "times" stand for five or nine alike, and "nubble", "nuddle", "dabble" for
# "double" with no digit of their own, so they bridge a gap but stand for no digit.
EN_HOMOPHONES = {"for": "4", "fore": "4", "to": "2", "too": "2", "ate": "8", "won": "1",
                 "niner": "9", "tree": "3", "free": "3", "fix": "6", "big": "6", "hero": "0",
                 "neuro": "0", "narrow": "0", "neural": "0", "px": "6", "i": "", "i'm": "",
                 "im": "", "time": "", "times": "", "nubble": "", "nuddle": "", "dabble": ""}
# Toneless, confusion-merged pinyin of the Chinese digit characters (要 yao for 幺).
_ZH_DIGIT_CHARS = "零一二三四五六七八九幺两"

# Words that make the digits before them part of a date or a clock time ("二零一九年",
# "三十一号", "下午三点", "the 3rd", "5 pm"); written dates and times are blanked already.
_DATE_DIGITS = 4  # a year; longer groups before such a word are a number misheard
_DATE_WORD = re.compile(r"\s?[年月日号点时秒岁]")
# An English ordinal or clock word makes a date or a time only of one written group ("6th",
# "5 pm"); after digits said apart ("1-6th") it is a digit misheard.
_EN_DATE_WORD = re.compile(r"\s?(?:st|nd|rd|th|am|pm|o'clock)(?![A-Za-z])", re.I)

# Digits after which an English ordinal ("8th") no longer ends the number as a date.
_LONG_DIGITS = 8

D, NEAR, OTHER = "D", "N", "O"  # a digit, a word that sounds like one, anything else


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a window: its type, characters ``[start, end)`` and the digits it
    stands for (``D`` only; "double" counts the digit after it twice).
    """

    type: str
    start: int
    end: int
    digits: str = ""


@dataclass(frozen=True, slots=True)
class WindowNumber:
    """The number found in a cue's window: characters ``[start, end)`` and its digits."""

    start: int
    end: int
    digits: str


@cache
def _zh_digit_sounds() -> frozenset[str]:
    from qa_pipeline.rubric.matching import pinyin_syllables

    return frozenset(pinyin_syllables(_ZH_DIGIT_CHARS))


def _sounds_like_zh_digit(ch: str) -> bool:
    from qa_pipeline.rubric.matching import pinyin_syllables

    return pinyin_syllables(ch)[0] in _zh_digit_sounds()


def _sounds_like_en_digit(word: str) -> bool:
    return len(word) >= 3 and any(
        Levenshtein.distance(word, d, score_cutoff=1) <= 1 for d in _EN_LONG_DIGITS)


# ASR puts a question mark inside a number ("Nero Famine? 1, I'm Famine 8"): once a number
# has begun, before a digit it is not a clause end.
_QUESTION = frozenset("?？")


def _digit_next(text: str, pos: int) -> bool:
    """Whether the first token of ``text`` from ``pos`` is a digit."""
    toks = tokens_after(text, pos, 1)
    return bool(toks) and toks[0].type == D


def tokens_after(text: str, pos: int, limit: int = CAP_TOKENS,
                 in_number: bool = False) -> list[Token]:
    """Up to ``limit`` tokens of ``text`` from ``pos``, ending before the first stop; with
    ``in_number`` (a cue's window) a question mark between two digits is none.
    """
    out: list[Token] = []
    i = 0 if pos < 0 else pos
    repeat = 1
    tens_end = -1  # where the last tens word ("forty") ended
    while i < len(text) and len(out) < limit:
        ch = text[i]
        if ch in _STOPS and not (in_number and ch in _QUESTION
                                 and any(t.type == D for t in out)
                                 and _digit_next(text, i + 1)):
            break
        if ch in _SEPARATORS or ch in _QUESTION or ch in _ZH_FILLERS:
            i += 1
            continue
        d = written_digit(ch)
        if d is not None:
            out.append(Token(D, i, i + 1, d * repeat))
            repeat = 1
            i += 1
            continue
        m = _WORD.match(text, i)
        if m:
            word = m.group(0).lower()
            if word in _EN_FILLERS:
                pass
            elif word in EN_REPEAT:
                repeat = EN_REPEAT[word]
                out.append(Token(NEAR, m.start(), m.end()))
            elif word in EN_DIGITS and (word != "o" or (out and out[-1].type == D)):
                if out and out[-1].type == D and out[-1].digits.endswith("0") and \
                        out[-1].end == tens_end and word not in ("o", "oh", "zero"):
                    # "forty four": the tens word's 0 is this digit
                    last = out.pop()
                    out.append(Token(D, last.start, m.end(), last.digits[:-1] + EN_DIGITS[word]))
                else:
                    out.append(Token(D, m.start(), m.end(), EN_DIGITS[word] * repeat))
                repeat = 1
            elif word in _EN_TEENS:
                out.append(Token(D, m.start(), m.end(), _EN_TEENS[word]))
                repeat = 1
            elif word in _EN_TENS:
                out.append(Token(D, m.start(), m.end(), _EN_TENS[word] + "0"))
                tens_end = m.end()
                repeat = 1
            elif word in ("x", "ex") or word in EN_HOMOPHONES or _sounds_like_en_digit(word) \
                    or word in EN_DIGITS:
                out.append(Token(NEAR, m.start(), m.end()))
                repeat = 1
            else:
                out.append(Token(OTHER, m.start(), m.end()))
                repeat = 1
            i = m.end()
            continue
        if ch in ZH_DIGITS:
            out.append(Token(D, i, i + 1, ZH_DIGITS[ch]))
        elif ch == "叉" or "\u4e00" <= ch <= "\u9fff" and _sounds_like_zh_digit(ch):
            out.append(Token(NEAR, i, i + 1))
        else:
            out.append(Token(OTHER, i, i + 1))
        repeat = 1
        i += 1
    return out


# Words that sound like digits between a cue and its number's first digit ("double for Nero
# Free-O-5", "I have here in …"): they do not count towards the cue's start distance.
LEAD_NEAR_TOKENS = 6


def _first_digit(toks: list[Token], start_tokens: int) -> int | None:
    """Index of the first digit token with at most ``start_tokens`` tokens before it, not
    counting up to :data:`LEAD_NEAR_TOKENS` words that sound like digits.
    """
    near = 0
    for k, t in enumerate(toks[:start_tokens + LEAD_NEAR_TOKENS + 1]):
        if t.type == D:
            return k if k - min(near, LEAD_NEAR_TOKENS) <= start_tokens else None
        near += t.type == NEAR
    return None


def _glued_deep(text: str, toks: list[Token], first: int, before_group: int,
                group: int) -> bool:
    """Whether the group of digits starting at token ``group`` is glued to the number's
    earlier digits by one character, deep inside a long number ("…62885次068次": 四 and 零
    heard as 次), so a unit or a date word after it is a digit misheard, not an amount.
    """
    if group == first or toks[before_group].type != D:
        return False
    gap = text[toks[before_group].end:toks[group].start]
    return len(gap) == 1 and "\u4e00" <= gap <= "\u9fff" and sum(
        len(t.digits) for t in toks[first:before_group + 1]) >= _LONG_DIGITS


def _one_group(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is one written group ("30", "6"; not "1-6")."""
    return not any(ch in _SEPARATORS for ch in text[start:end])


def number_after(text: str, pos: int, start_tokens: int = START_TOKENS
                 ) -> WindowNumber | None:
    """The number a cue ending at ``pos`` announces in ``text`` (with dates, times, amounts
    and other cues blanked to ``|``), or None when no digit starts within ``start_tokens``
    tokens.
    """
    limit = CAP_TOKENS + start_tokens - START_TOKENS
    toks = tokens_after(text, pos, limit, in_number=True)
    first = _first_digit(toks, start_tokens)
    if first is None and len(toks) < start_tokens:
        # The cue asked in a question, the number in its answer ("Could you confirm the
        # last four of the card on the account? I have 1352."): the window goes on past a
        # question mark said within its first tokens.
        i = toks[-1].end if toks else max(pos, 0)
        while i < len(text) and text[i] in _SEPARATORS:
            i += 1
        if i < len(text) and text[i] in "?？":
            toks += tokens_after(text, i + 1, limit - len(toks), in_number=True)
            first = _first_digit(toks, start_tokens)
    if first is None:
        return None
    last = before_group = first
    gap = 0
    group = first  # first token of the current group of adjacent digits
    for k in range(first, len(toks)):
        t = toks[k]
        if t.type == D:
            if k > first and toks[k - 1].type != D:
                group, before_group = k, last
            if (k + 1 == len(toks) or toks[k + 1].type != D) and not _glued_deep(
                    text, toks, first, before_group, group) and (said_as_amount(
                    text, toks[group].start, t.end, in_window=True) or (
                    sum(len(x.digits) for x in toks[group:k + 1]) <= _DATE_DIGITS
                    and (_DATE_WORD.match(text, t.end)
                         or _one_group(text, toks[group].start, t.end)
                         and _EN_DATE_WORD.match(text, t.end)
                         # "…1i1108.0107, I'm free 8th": deep inside a long number an
                         # ordinal is a digit misheard, not a date
                         and sum(len(x.digits) for x in toks[first:group]) < _LONG_DIGITS))):
                # "12999元", "50 dollars", "二零一九年", "3rd": an amount or a date ends
                # the number before it
                if group == first:
                    return None
                last = before_group
                break
            last, gap = k, 0
        elif t.type == NEAR:
            gap = 0
        else:
            gap += 1
            # Inside a long number (an ID or a card half read) the ASR garbles a few digits
            # in a row ("One I'm time to go fix. One three…"): a longer gap is bridged.
            long_number = sum(len(x.digits) for x in toks[first:last + 1]) >= _LONG_GAP_DIGITS
            if gap > GAP_TOKENS + (LONG_GAP_EXTRA if long_number else 0):
                break
    digits = "".join(t.digits for t in toks[first:last + 1])
    lead = first
    while lead > 0 and toks[lead - 1].type == NEAR and _leads(text, toks[lead - 1]):
        # "double 10105": the group word says the first digit; "要7559…", "double for Nero
        # Free-O-5": homophones are the number's first digits
        lead -= 1
    start = toks[lead].start
    end = toks[last].end
    if last + 1 < len(toks) and text[toks[last + 1].start:toks[last + 1].end].lower() in (
            "x", "ex", "叉"):
        end = toks[last + 1].end  # a resident ID's check character ("3, 3, 3, X")
    return WindowNumber(start, end, digits)


# Cue-less numbers are read more strictly than a cue's window: homophones may stand for a
# digit, but at most this many other words may sit inside the number.
CUELESS_OTHER_TOKENS = 1


@cache
def _zh_digit_of_sound() -> dict[str, str]:
    from qa_pipeline.rubric.matching import pinyin_syllables

    return {pinyin_syllables(c)[0]: ZH_DIGITS[c] for c in _ZH_DIGIT_CHARS}


def _near_digit(text: str, t: Token) -> str:
    """The digit a word that sounds like one stands for ("要" for 幺, "nero" for zero), or
    "" when it stands for none (a group word, a check character).
    """
    word = text[t.start:t.end].lower()
    if word in EN_DIGITS:
        return EN_DIGITS[word]
    if word in EN_HOMOPHONES:
        return EN_HOMOPHONES[word]
    if word.isascii():
        near = [EN_DIGITS[d] for d in _EN_LONG_DIGITS
                if Levenshtein.distance(word, d, score_cutoff=1) <= 1]
        return near[0] if len(near) == 1 else ""
    from qa_pipeline.rubric.matching import pinyin_syllables

    return _zh_digit_of_sound().get(pinyin_syllables(word)[0], "") if word != "叉" else ""


def cueless_number(text: str, pos: int, other_tokens: int = CUELESS_OTHER_TOKENS,
                   across_questions: bool = False) -> list[WindowNumber]:
    """Readings of the number starting at ``pos`` (a digit, or a word that sounds like
    one) when no cue announced it, longest first:
    digit groups joined across words that sound like digits (counted as the digit they
    sound like) and at most ``other_tokens`` other words, up to a stop, an amount or a
    date. Each reading ends at a digit; the caller keeps one whose shape is
    certain (a mobile number, a card, a resident ID). With ``across_questions``, a question
    mark between two digits does not end the number ("4539-048-5489? 00732").
    """
    toks = tokens_after(text, pos, in_number=across_questions)
    if not toks or toks[0].type != D and not (toks[0].type == NEAR
                                               and _near_digit(text, toks[0])):
        return []
    ends: list[WindowNumber] = []
    digits = ""
    other = 0
    group = 0
    for k, t in enumerate(toks):
        if t.type == OTHER:
            other += 1
            if other > other_tokens:
                break
            continue
        if t.type == D and k > 0 and toks[k - 1].type != D:
            group = k
        if t.type == D and (k + 1 == len(toks) or toks[k + 1].type != D) and (
                said_as_amount(text, toks[group].start, t.end)
                or _DATE_WORD.match(text, t.end) or _one_group(text, toks[group].start, t.end)
                and _EN_DATE_WORD.match(text, t.end)):
            ends = [n for n in ends if n.end <= toks[group].start]  # an amount or a date
            break
        d = t.digits if t.type == D else _near_digit(text, t)
        if not d:
            continue
        digits += d
        if t.type == D:  # a homophone after the last digit ("…20，这个是") adds no evidence
            end = t.end
            if k + 1 < len(toks) and text[toks[k + 1].start:toks[k + 1].end].lower() in (
                    "x", "ex", "叉") and toks[k + 1].start == t.end:
                end = toks[k + 1].end  # "78x": a check character, or a digit heard as one
            ends.append(WindowNumber(toks[0].start, end, digits))
    return ends[::-1]


# Words that sound like a digit but before a number are almost always themselves ("是",
# "to"): a number does not start with them.
_NOT_LEADING = frozenset(("是", "to"))


def _leads(text: str, t: Token) -> bool:
    """Whether a word like a digit right before a number is its first digit: a group word
    ("double"), or a homophone that stands for a digit ("要", "for", "Nero").
    """
    word = text[t.start:t.end].lower()
    return word in EN_REPEAT or word not in _NOT_LEADING and bool(_near_digit(text, t))


# How many words that sound like digits a cue-less number may start with before its first
# digit ("腰舞腰四腰两三三三七": 幺五幺 heard as 腰舞腰).
LEAD_HOMOPHONES = 4
_EN_WORD_BEFORE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?$")


def homophones_before(text: str, pos: int, most: int = LEAD_HOMOPHONES) -> int:
    """Where the words sounding like digits right before ``pos`` start (``pos`` when there
    are none): at most ``most`` of them, with separators between.
    """
    start = i = pos
    for _ in range(most):
        j = i
        while j > 0 and text[j - 1] in _SEPARATORS:
            j -= 1
        if j == 0:
            break
        if "\u4e00" <= text[j - 1] <= "\u9fff":
            begin = j - 1
        else:
            m = _EN_WORD_BEFORE.search(text, 0, j)
            if m is None:
                break
            begin = m.start()
        if not _leads(text, Token(NEAR, begin, j)):
            break
        start = i = begin
    return start


def heard_digits(text: str, number: WindowNumber) -> int:
    """How many digits ``number`` holds counting the words that stand for one ("to", "fix",
    "要"): how much of a number the caller said, where the count alone decides.
    """
    return sum(len(t.digits) if t.type == D else bool(_near_digit(text, t))
               for t in tokens_after(text[:number.end], number.start, in_number=True)
               if t.type != OTHER)


# How far back a number's first digits may have been cut off from it by words heard for
# digits ("one time two, I'm 3-8-7, 8-1-0-6": 幺五二 / "one five two" with "five" heard as
# "time"): at most this many tokens, this many digits, and this many characters.
LEAD_GROUP_TOKENS = 5
LEAD_GROUP_DIGITS = 4
_LEAD_GROUP_CHARS = 40


def lead_group_before(text: str, pos: int) -> int:
    """Where the digits and words heard for digits right before a number at ``pos`` start
    (``pos`` when there are none): a short group the ASR cut off from the number with a
    homophone ("one six, I'm six, three two one, …"). The group starts with a digit or a word
    that stands for one, holds a real digit and nothing but digits and such words.
    """
    lo = max(0, pos - _LEAD_GROUP_CHARS)
    while lo < pos and text[lo - 1:lo].isalnum() if lo > 0 else False:
        lo += 1  # start on a token boundary
    toks = tokens_after(text[:pos], lo, CAP_TOKENS)
    k = len(toks)
    while k > 0 and toks[k - 1].type in (D, NEAR) and len(toks) - (k - 1) <= LEAD_GROUP_TOKENS:
        k -= 1
    lead = toks[k:]
    while lead and not (lead[0].type == D or _leads(text, lead[0])):
        lead = lead[1:]
    digits = sum(len(t.digits) for t in lead)
    if not any(t.type == D for t in lead) or digits > LEAD_GROUP_DIGITS or any(
            t.type == D and (said_as_amount(text, t.start, t.end) or _DATE_WORD.match(
                text, t.end) or _EN_DATE_WORD.match(text, t.end)) for t in lead):
        return pos  # "等了3天，138…": a quantity or a date before the number
    return lead[0].start
