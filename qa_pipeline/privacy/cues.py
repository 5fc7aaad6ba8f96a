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

Speech recognition mishears the cues too ("尾号" as "尾后", "证件号码" as "政见后马", "ending
in" as "nending in"). Where digits follow, a cue also matches by sound
(:func:`find_cues`): a Chinese phrase by its toneless pinyin (confusable sounds merged, at
most one syllable that only shares its initial), an English phrase of six or more letters
within one edit. An exact match of another cue always wins over a match by sound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from rapidfuzz.distance import Levenshtein

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
    # A reference word that speech recognition also writes for "mobile".
    or_mobile: bool = False
    # Whether a misheard form matches too (:func:`find_cues`).
    by_sound: bool = True
    # A tail cue that says digits follow ("后四位", "last four digits"): the number after it
    # is never a year, unlike after "ending" ("the quarter ending 2024").
    names_digits: bool = False


# "last four" as an 8 kHz ASR writes it, beyond one edit: "lost for", "last fore", "last
# floor"; "left" and "past" only after "the" ("I left for …" is a verb).
_LAST_WORDS = ("last", "lost", "lust")
_FOUR_WORDS = ("four", "for", "fore", "floor", "4", "foe", "far")
LAST_FOUR_HEARD = tuple(sorted(
    {f"{last} {four}" for last in _LAST_WORDS for four in _FOUR_WORDS
     if (last, four) not in (("last", "four"), ("last", "4"))}
    | {f"the {w} {four}" for w in ("left", "past") for four in _FOUR_WORDS}
    | {"last numbers", "last few digits", "last few numbers"}))

CUES = (
    Cue("cn_id", 6, ("身份证", "证件", "身份号", "护照", "居民身份证", "驾驶证", "驾照", "社保号",
                     "社保卡", "医保卡", "户口本", "id", "i.d.", "identity", "identity card",
                     "passport", "national id", "id card", "social security",
                     "social security number", "ssn", "social", "driver's license",
                     "drivers license", "driving licence", "license number", "licence number",
                     "national insurance", "tax id")),
    Cue("bank_card", 6, ("卡号", "银行卡", "信用卡", "储蓄卡", "借记卡", "账号", "帐号", "账户",
                         "帐户", "开户", "卡面", "卡片", "收款账号", "银行账号", "对公账户",
                         "支付宝", "card", "credit card", "debit card", "account", "bank account",
                         "card number", "visa", "mastercard", "master card", "amex",
                         "american express", "card on file", "routing number", "sort code",
                         "iban")),
    Cue("phone", 6, ("手机", "电话", "号码", "联系方式", "座机", "微信", "手机号", "预留手机",
                     "预留电话", "预留号码", "预留的号", "联系电话", "回电", "回拨", "拨打",
                     "请拨", "致电", "打我", "打给我", "联系我", "phone", "mobile", "cell",
                     "cellphone", "cell phone", "landline", "number", "telephone", "call me",
                     "call me on", "call me at", "reach me", "reach me at", "reach me on",
                     "contact", "text", "text me", "text me at", "call", "call back",
                     "callback", "on file",
                     "whatsapp", "best number", "home number", "work number", "dial",
                     "ring me", "ring me on", "ring me at", "ring me back", "phone me",
                     "打这个", "拨这个", "my digits", "work line", "workline", "home line",
                     "direct line", "phone line", "cell line")),
    Cue(TAIL, 4, ("末尾", "结尾", "结尾是", "最后是", "后面是", "后边是", "ending", "ending in",
                  "ending with", "ends",
                  "ends in", "ends with", "finishing in", "finishing with", "finishes in",
                  "finishes with", "finishes", "finishing")),
    Cue(TAIL, 4, ("尾号", "尾数", "后四位", "末四位", "后六位",
                  "最后四位", "后4位", "末4位", "最后4位", "后几位", "末几位", "最后几位",
                  "last four", "last 4", "last four digits", "last 4 digits", "last digits",
                  "final four", "final 4", "final digits",
                  # "后面四个数": the count said as numbers, not digits
                  "后面四个数", "后四个数", "最后四个数", "后面四位", "后面几位", "后面几个数",
                  # the number's last four "号": "最后四个号是…"
                  "最后四个号", "后四个号", "后面四个号", "最后几个号",
                  # "four digits" said after another word the ASR mangled ("the title for
                  # digits", "to file for digits"): the count names a tail on its own
                  "four digits", "4 digits", "for digits",
                  # "last four" as an 8 kHz ASR writes it ("the left for my phone"); with
                  # its article, so "I left for …" stays a verb
                  "the left four", "the left 4", "the left for", "the left digits",
                  "the left four digits", "the left 4 digits", "left digits"),
        names_digits=True),
    # Heard forms of "last four" that a year may follow as itself ("the past four, 2021 …").
    Cue(TAIL, 4, LAST_FOUR_HEARD),
    # A number read back to be confirmed ("跟您核对一下…", "so that's …"): personal data
    # of a kind the words do not say.
    Cue("long_number", 6, ("核对一下", "确认一下", "复述一下", "so that's", "read that back",
                           "read it back", "let me confirm", "to confirm", "let me repeat")),
    Cue(REFERENCE, 0, ("单号", "订单", "工单", "运单", "快递单", "编号", "型号", "工号", "航班",
                       "验证码", "校验码", "动态码", "邮政编码",
                       "tracking", "order", "ticket", "reference", "invoice",
                       "case", "agent", "flight", "waybill", "confirmation", "contract",
                       "verification code", "zip code", "postcode", "postal code")),
    # Other business references a caller or an agent reads out; matched as written only
    # (by sound, "包裹" would take "报给" of "证件号码我报给您").
    Cue(REFERENCE, 0, ("booking", "reservation", "claim", "receipt", "transaction", "serial",
                       "parcel", "package", "shipment", "delivery", "complaint",
                       "appointment", "voucher", "coupon", "batch", "policy", "membership",
                       "loyalty", "itinerary", "pnr", "confirmation code", "booking reference",
                       "流水号", "交易号", "预约号", "预约", "投诉", "取件码", "提货码", "取货码",
                       "发票", "包裹", "车次", "座位", "房间号", "保单", "批次", "序列号", "会员号",
                       "会员卡", "票号", "快递号", "服务单", "维修单", "报修"), by_sound=False),
    # A model number, or "mobile" as an 8 kHz ASR writes it ("my model is 186-171-0134"): a
    # reference unless the number has a mobile number's shape.
    Cue(REFERENCE, 0, ("model", "modal"), or_mobile=True),
)
# Cue words said after the number ("4065是我的手机尾号", "… is my mobile", "…, correct?"):
# a cue-less number followed, within :data:`AFTER_CHARS` of joining words, by one of these is
# personal data of that kind; read-back questions make it a number of no named kind.
AFTER_CUES = (
    Cue("phone", 6, ("手机", "手机号", "电话", "座机", "mobile", "cell", "phone", "cellphone",
                     "landline", "home number", "work number", "work line", "workline",
                     "home line", "direct line", "cell line",
                     # "…, that's my number", "…, you can call me there": how to reach the
                     # caller; a bare "number" could be an order's, "my number" is not
                     "my number", "best number", "number to call", "call me", "reach me",
                     "callback", "call back", "微信", "联系方式", "联系电话", "whatsapp",
                     # "…, that's the best way to get me": how to reach the caller
                     "best way to get me", "best way to reach me", "way to reach me")),
    Cue("bank_card", 6, ("卡号", "银行卡", "信用卡", "储蓄卡", "账号", "账户", "卡", "card",
                         "account", "visa", "mastercard")),
    Cue("cn_id", 6, ("身份证", "证件号", "passport", "id", "id number", "license", "social",
                     "social security", "social security number", "ssn", "护照", "驾照")),
    # "…结尾的那个号", and 尾 alone: ASR mishears the syllable before it (捷尾, 解尾, 尖尾);
    # "4431, those are the last four".
    Cue("long_number", 4, ("尾号", "尾数", "结尾", "尾", "后四位", "后4位", "末四位", "末4位",
                           "最后四位", "最后4位", "后几位", "最后几位", "后四个数", "最后四个数",
                           "last four", "last 4", "last four digits", "last 4 digits",
                           "last digits", "final four", "final 4", "final digits", "the ending",
                           "ends in", "ends with", "ending in", "ending with")),
    Cue("long_number", 6, ("对吗", "对吧", "是吗", "对不对", "没错吧", "correct",
                           "is that right", "is that correct", "right")),
)
# Things that have a tail a caller reads out ("the card 4431", "那个手机5372的"): right after
# one of these, a number of exactly four digits is its last four even when the tail cue itself
# was lost or misheard ("the phone number on file any 8988" for "… ending 8988").
TAIL_OWNERS = ("手机", "手机号", "卡", "银行卡", "信用卡", "储蓄卡", "借记卡", "账户", "帐户",
               "账号", "帐号", "卡号", "phone", "mobile", "cell", "cellphone", "cell phone",
               "card", "credit card", "debit card", "account", "bank account", "visa",
               "mastercard", "master card", "amex")
# Words between such a noun and four digits that make them a date ("card expires 0927"),
# not a tail.
_NOT_TAIL_WORDS = re.compile(r"(?:expir|exp\b|valid|until|since|year|到期|有效|过期|年|月)",
                             re.I)
# Generic nouns that complete the cue before them ("身份证号码", "account number").
# "码" completes a cue that already ends in 号 ("手机号" + "码").
GENERIC_NOUNS = ("号码", "号", "码", "number", "numbers", "no.", "no", "#")
# A run said as an amount or a quantity is not a personal number, cue or not.
UNITS_AFTER = ("元", "块", "角", "万", "千", "百", "分钟", "小时", "天", "个", "件", "次", "分",
               "积分", "%", "percent", "dollars", "dollar", "yuan", "rmb", "points", "minutes",
               "hours", "days", "weeks", "months", "years", "items", "gb", "mb", "bucks",
               "cents", "euros", "euro", "pounds", "毛", "km", "kg", "miles",
               # British speech says "forty two pound sixty" in the singular
               "pound", "pence", "quid")
CURRENCY_BEFORE = ("￥", "¥", "$", "rmb", "usd")
# A time or a count right after a word of a number's end ("the last four years", "last 3
# months", "最后三年", "后两个月", "最后一次"): a duration or a count, not the end of a number.
# A bare "个" is no unit here: "最后四个是3456" names four digits; nor is a number of three
# digits or more before the unit ("尾号0315日" may still be a tail).
_EN_COUNT_WORDS = r"(?:\d{1,2}|a|an|the|few|couple(?:\s+of)?|several|many|" + "|".join((
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty")) + r")"
_TIME_UNIT_AFTER = re.compile(
    rf"[\s,]*(?:{_EN_COUNT_WORDS}\s+){{0,2}}(?:years?|months?|weeks?|days?|hours?|minutes?|"
    r"seconds?|nights?|quarters?|times?|visits|calls|payments|installments|items|points|"
    r"dollars?|bucks|yuan)(?![A-Za-z])"
    r"|\s*(?:[0-9]{1,2}|[零〇一二两三四五六七八九十几半多]*)\s*(?:个月|个星期|个礼拜|个小时|个钟头|年|月|周|星期|"
    r"礼拜|天|日|小时|钟头|分钟|秒|次|回|遍|期|笔|元|块)", re.I)


def unit_follows(text: str, end: int) -> bool:
    """Whether a time or a count unit comes right after ``text[:end]`` (perhaps after a
    number): a word of a number's end ending at ``end`` then says how long or how many
    ("the last four years", "最后三次"), not which digits.
    """
    return _TIME_UNIT_AFTER.match(text, end) is not None


@dataclass(frozen=True, slots=True)
class CueHit:
    """The cue that governs one digit run: its (resolved) kind and minimum digit count."""

    kind: str
    min_digits: int
    or_mobile: bool = False
    # Said after a tail cue that names digits ("后四位", "last digits"): never a year.
    names_digits: bool = False

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
_AFTER_BY_PHRASE = {" ".join(p.lower().split()): cue for cue in AFTER_CUES for p in cue.phrases}
# Joining words between a number and the cue after it: "是我的那个", "is my", "that's the".
_AFTER_RE = re.compile(
    r"[\s,，、]*(?:(?:is|was|that's|thats|that|it's|its|my|the|our|his|her|their|your|own)"
    r"(?![A-Za-z])[\s,]*|[是我的那个这就为您你他她]){0,6}"
    rf"(?P<cue>{_alternation(list(_AFTER_BY_PHRASE))})", re.I)
# A cue that names a thing (a phone, a card, an ID, a tail) may also come after other words
# the ASR made of the joining ones ("that once the cell", "这个是我本人的手机", "that might
# work phone", "捷尾" for 结尾): at most AFTER_WORDS English words or Chinese characters,
# none of them a digit, across commas and full stops (ASR puts those anywhere). Read-back
# questions ("对吗", "right") name nothing and keep to the joining words.
AFTER_WORDS = 8
_FAR_AFTER_DIGITS = 7
_ZH_DIGIT_CHARS = "零〇一二三四五六七八九幺两"
_EN_DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven",
                   "eight", "nine", "double", "triple")
_NAMED_AFTER = [p for p, cue in _AFTER_BY_PHRASE.items()
                if cue.kind != "long_number" or cue.min_digits < 6]
_AFTER_FAR_RE = re.compile(
    r"[\s,，、.]*(?:(?!(?:" + "|".join(_EN_DIGIT_WORDS) + r")(?![A-Za-z']))"
    r"[A-Za-z][A-Za-z']*(?![A-Za-z'])[\s,，、.]*"
    rf"|[\u4e00-\u9fff](?<![{_ZH_DIGIT_CHARS}])[\s,，、]*){{0,{AFTER_WORDS}}}?"
    rf"(?P<cue>{_alternation(_NAMED_AFTER)})", re.I)
# A tail cue right after the thing it belongs to, said after the number ("卡号后四位",
# "手机的后四位", "card's last four").
_TAIL_OF_OWNER_RE = re.compile(
    r"(?:'s|[\s的之])*"
    rf"(?P<cue>{_alternation([p for p, c in _AFTER_BY_PHRASE.items() if c.min_digits < 6])})",
    re.I)
_UNIT_RE = re.compile(rf"\s?(?:{_alternation(list(UNITS_AFTER))})", re.I)
_DIGITS_AFTER_UNIT = re.compile(r"\d{3}")
# The same said in Chinese digits, a homophone between ("次两摇8" for 七两幺八): a digit,
# then any character but a unit or a place word, then a digit.
_ZH_DIGITS_AFTER_UNIT = re.compile(
    r"[\d零〇一二三四五六七八九幺两][^\d零〇一二三四五六七八九幺两十百千万亿元块角分个件次天号年月日点]?"
    r"[\d零〇一二三四五六七八九幺两]")
# A single digit, a "unit", then a separator and a digit group ("要三次,2766,7667" for 幺三四，
# 二七零六…): the unit is a digit misheard, since nobody says an amount of one digit and then
# goes on reading digits.
_GROUP_AFTER_UNIT = re.compile(r"[\s,，、.-]\d{3}")
_CURRENCY_RE = re.compile(rf"(?:{_alternation(list(CURRENCY_BEFORE))})\s?$", re.I)
# Verbs of paying said right before a number make it an amount when the ASR dropped its
# unit ("显示退了5335，一般3-5个工作日到账", "you charged 4599 twice").
AMOUNT_VERBS_BEFORE = ("退了", "扣了", "付了", "交了", "充了", "花了", "收了", "转了", "退回了",
                       "退款", "扣款", "refunded", "charged", "paid", "cost", "costs",
                       # "a pending charge of 9,672": the noun of an amount, then "of"
                       "charge of", "charges of", "payment of", "balance of", "fee of",
                       "amount of", "total of", "credit of", "refund of", "deposit of")
_AMOUNT_VERB_RE = re.compile(rf"(?:{_alternation(list(AMOUNT_VERBS_BEFORE))})[\s,，]?$", re.I)
# How far before a number a verb of paying is looked for (characters).
_AMOUNT_VERB_CHARS = 12
# Words of a date or a clock time: never a stray syllable inside a number.
_DATE_WORDS = frozenset("年月日号点时秒")


@dataclass(frozen=True, slots=True)
class CueMatch:
    """A cue phrase found in a text: characters ``[start, end)``, its family, and whether it
    matched by sound only (a misheard cue).
    """

    start: int
    end: int
    cue: Cue
    by_sound: bool = False


# Chinese cue phrases by their syllables, and English ones long enough to match within one
# edit (shorter words have too many one-edit neighbours: "card" ~ "car", "cell" ~ "sell").
_ZH_PHRASES = tuple((p, cue) for cue in CUES if cue.by_sound for p in cue.phrases
                    if not p.isascii())
_EN_FUZZY_MIN_LETTERS = 6
_EN_PHRASES = tuple((p.split(), cue) for cue in CUES if cue.by_sound for p in cue.phrases
                    if p.isascii() and sum(c.isalpha() for c in p) >= _EN_FUZZY_MIN_LETTERS
                    and p not in GENERIC_NOUNS)  # "numbers" is no misheard cue
_EN_WORD = re.compile(r"[A-Za-z]+")
_VOWELS = frozenset("aeiouv")


def find_cues(text: str) -> list[CueMatch]:
    """Every cue in ``text``, in order, non-overlapping: exact matches, then matches by sound
    where digits follow within :data:`WINDOW_CHARS` and no exact cue is in the way.
    """
    found = [CueMatch(m.start(), m.end(), _BY_PHRASE[" ".join(m.group("cue").lower().split())])
             for m in _CUE_RE.finditer(text)]
    if not any(ch.isdigit() for ch in text) and not digit_runs(text, min_digits=1):
        return found
    # Where two matches by sound overlap, the longer one wins: more syllables agree ("卡后" of
    # "卡后肤为6139" for 卡号, or 后肤为 for 后四位: the tail).
    by_sound = sorted(_zh_by_sound(text) + _en_by_sound(text), key=lambda m: (m[0] - m[1], m[0]))
    for start, end, cue, phrase in by_sound:
        if not any(start < c.end and end > c.start for c in found) and digit_runs(
                text[end:end + WINDOW_CHARS], min_digits=1):
            if phrase in GENERIC_NOUNS and any(0 <= start - c.end <= 1 for c in found):
                continue  # "公单后马": the noun (号码) of the cue before it, misheard
            if cue.kind != REFERENCE and any(0 <= start - c.end <= 1 and c.cue.kind == REFERENCE
                                             for c in found):
                continue  # "公单点号" (工单编号): a reference's own noun, heard as 电话
            found.append(CueMatch(start, end, cue, by_sound=True))
    found.sort(key=lambda c: c.start)
    # "the last four years", "最后三年": a duration or a count, not a tail cue
    found = [c for c in found if not (c.cue.kind == TAIL and unit_follows(text, c.end))]
    return _nouns_joined(text, found)


def _nouns_joined(text: str, found: list[CueMatch]) -> list[CueMatch]:
    """``found`` with a generic noun said right after a cue heard by sound made part of it
    ("past port number": the passport's number, not a phone number).
    """
    out: list[CueMatch] = []
    for c in found:
        prev = out[-1] if out else None
        if prev is not None and prev.by_sound and not c.by_sound \
                and 0 <= c.start - prev.end <= 1 \
                and " ".join(text[c.start:c.end].lower().split()) in GENERIC_NOUNS:
            out[-1] = CueMatch(prev.start, c.end, prev.cue, by_sound=True)
            continue
        out.append(c)
    return out


def _initial(syllable: str) -> str:
    """The consonant a (merged) pinyin syllable starts with ('' for a vowel)."""
    return "" if not syllable or syllable[0] in _VOWELS else syllable[0]


def _close_syllable(heard: str, said: str) -> bool:
    """Whether ``heard`` may stand for the cue's syllable ``said``: the same initial and at
    most two letters changed (hou for hao, heng for hang, duan for dan; not ge for gong).
    """
    return bool(_initial(said)) and _initial(heard) == _initial(said) and \
        Levenshtein.distance(heard, said, score_cutoff=2) <= 2


_ZH_NUMERALS = "零一二三四五六七八九"


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _zh_by_sound(text: str) -> list[tuple[int, int, Cue, str]]:
    """Chinese cue phrases matched by toneless, confusion-merged pinyin: every syllable
    equal, except at most one close to it (:func:`_close_syllable`: "尾后" for "尾号",
    "银横卡" for "银行卡"). Punctuation between two characters (one mark) is skipped. A lone
    digit between two Chinese characters is read as its Chinese digit ("莫4位", "最后4个号":
    the ASR writes the count of a tail cue as a numeral).
    """
    chars = [_ZH_NUMERALS[int(ch)] if ch.isascii() and ch.isdigit() and 0 < i < len(text) - 1
             and _is_han(text[i - 1]) and _is_han(text[i + 1]) else ch
             for i, ch in enumerate(text)]
    han = [i for i, ch in enumerate(chars) if _is_han(ch)]
    if not han:
        return []
    from qa_pipeline.rubric.matching import pinyin_syllables

    syl = pinyin_syllables("".join(chars[i] for i in han))
    # With at most one syllable off, a match has its first or its second syllable exact:
    # only windows starting where one of those occurs are compared.
    by_syllable = _zh_phrase_index()
    starts: set[tuple[int, int]] = set()
    for pos, name in enumerate(syl):
        for phrase_no, j in by_syllable.get(name, ()):
            if pos - j >= 0:
                starts.add((phrase_no, pos - j))
    out: list[tuple[int, int, Cue, str]] = []
    for phrase_no, k in sorted(starts):
        p_syl, cue = _zh_phrase_syllables()[phrase_no]
        n = len(p_syl)
        if k + n > len(han) or han[k + n - 1] - han[k] > 2 * (n - 1):
            continue  # past the end, or more than one mark between two of its characters
        window = syl[k:k + n]
        wrong = [j for j in range(n) if window[j] != p_syl[j]]
        if len(wrong) > 1 or (wrong and (n < 2 or not _close_syllable(
                window[wrong[0]], p_syl[wrong[0]])) and not _count_slot(
                    _ZH_PHRASES[phrase_no], wrong[0])):
            continue
        out.append((han[k], han[k + n - 1] + 1, cue, _ZH_PHRASES[phrase_no][0]))
    return out


# The count in a Chinese tail cue ("后四位", "后面几个数"): the ASR hears any syllable for it
# ("后肤为" for 后四位), the words around it carry the cue.
_COUNT_CHARS = "四六几4"
_COUNT_SLOT_MIN_CHARS = 3


def _count_slot(phrase: tuple[str, Cue], j: int) -> bool:
    """Whether character ``j`` of a Chinese cue phrase is the count of a tail cue, which a
    match by sound may have wrong (the phrase has at least three characters).
    """
    text, cue = phrase
    return cue.kind == TAIL and len(text) >= _COUNT_SLOT_MIN_CHARS and text[j] in _COUNT_CHARS


@cache
def _zh_phrase_syllables() -> tuple[tuple[tuple[str, ...], Cue], ...]:
    from qa_pipeline.rubric.matching import pinyin_syllables

    return tuple((pinyin_syllables(p), cue) for p, cue in _ZH_PHRASES)


@cache
def _zh_phrase_index() -> dict[str, list[tuple[int, int]]]:
    """Syllable -> (phrase number, position 0 or 1) of the phrases it starts or follows."""
    index: dict[str, list[tuple[int, int]]] = {}
    for phrase_no, (p_syl, _) in enumerate(_zh_phrase_syllables()):
        for j in range(min(2, len(p_syl))):
            index.setdefault(p_syl[j], []).append((phrase_no, j))
    return index


# Short cue nouns that an 8 kHz ASR writes with another first consonant ("my bell is" for
# "my cell is", "the bard number"): matched so only after a possessive or an article, where
# a noun must follow.
_EN_SHORT_NOUNS = ("cell", "phone", "card", "visa", "mobile")
_EN_DETERMINERS = frozenset(("my", "the", "your", "his", "her", "our", "their"))


def _en_by_sound(text: str) -> list[tuple[int, int, Cue, str]]:
    """English cue phrases of six or more letters matched within one edit ("nending in"),
    and short cue nouns after a determiner with their first letter changed ("my bell").
    """
    words = [(m.group(0).lower(), m.start(), m.end()) for m in _EN_WORD.finditer(text)]
    out: list[tuple[int, int, Cue, str]] = []
    for k in range(1, len(words)):
        word = words[k][0]
        if words[k - 1][0] in _EN_DETERMINERS:
            noun = next((n for n in _EN_SHORT_NOUNS if len(word) == len(n)
                         and word[0] != n[0] and word[1:] == n[1:]), None)
            if noun is not None:
                out.append((words[k][1], words[k][2], _BY_PHRASE[noun], noun))
    for p_words, cue in _EN_PHRASES:
        n = len(p_words)
        phrase = " ".join(p_words)
        for k in range(len(words) - n + 1):
            window = " ".join(w for w, _, _ in words[k:k + n])
            if window != phrase and Levenshtein.distance(window, phrase, score_cutoff=1) <= 1:
                out.append((words[k][1], words[k + n - 1][2], cue, phrase))
        if n == 1:
            # One word the ASR wrote as two ("past port" for "passport", "land line"),
            # matched within one edit once joined.
            for k in range(len(words) - 1):
                if Levenshtein.distance(words[k][0] + words[k + 1][0], phrase,
                                        score_cutoff=1) <= 1:
                    out.append((words[k][1], words[k + 1][2], cue, phrase))
    return out


def cues_before(cues: list[CueMatch], text: str, start: int) -> list[CueMatch]:
    """Those of ``cues`` (from :func:`find_cues`, in text order) that may govern a number
    starting at ``start``: ending at most :data:`WINDOW_CHARS` before it, with no other
    number (three or more digits) between.
    """
    lo = start - WINDOW_CHARS
    return [c for c in cues if lo <= c.end <= start
            and not digit_runs(text[c.end:start], min_digits=3)]


def cue_before(cues: list[CueMatch], text: str, start: int) -> CueHit | None:
    """What the cues governing a number starting at ``start`` (:func:`cues_before`) say,
    resolved; None when there is none.
    """
    hits = [c.cue for c in cues_before(cues, text, start)]
    return resolve(hits) if hits else None


# How far before a cue-less number a reference cue still makes it a reference ("the tracking
# number on the package says …", "快递单后文件一下…"), when no personal cue is said between.
REFERENCE_FAR_CHARS = 48


def cue_reference_far(cues: list[CueMatch], start: int) -> CueHit | None:
    """A reference cue among ``cues`` ending at most :data:`REFERENCE_FAR_CHARS` before
    ``start`` and nearer than any personal cue, else None.
    """
    before = [c for c in cues if start - REFERENCE_FAR_CHARS <= c.end <= start]
    if before and before[-1].cue.kind == REFERENCE:
        return CueHit(REFERENCE, 0, before[-1].cue.or_mobile)
    return None


def resolve(hits: list[Cue]) -> CueHit:
    """What a run after the last of ``hits`` (cues in text order) is: its kind, or for a
    tail cue ("手机尾号…", "card ending in…") the kind of the thing named before it.
    """
    nearest = hits[-1]
    if nearest.kind != TAIL:
        tail = next((c for c in reversed(hits[:-1]) if c.kind in (TAIL, REFERENCE)), None)
        if nearest.kind != REFERENCE and tail is not None and tail.kind == TAIL:
            # "last four of my phone, phone on, …": the tail of the thing named after it
            return CueHit(nearest.kind, min(nearest.min_digits, tail.min_digits))
        return CueHit(nearest.kind, nearest.min_digits, nearest.or_mobile)
    owner = next((c.kind for c in reversed(hits[:-1]) if c.kind not in (TAIL, REFERENCE)),
                 "long_number")
    return CueHit(owner, nearest.min_digits, names_digits=nearest.names_digits)


def cue_after(text: str, end: int) -> CueHit | None:
    """The cue said right after a number ending at ``end`` ("的那个手机", " is my mobile",
    "，对吗"), or after up to :data:`AFTER_WORDS` other words for a cue that names a thing
    ("that once the cell", "捷尾"), or None.
    """
    hit = _cue_after(text, end)
    if hit is None or hit.min_digits > TAIL_DIGITS:
        # "7337,这是我手机莫四尾": a Chinese tail cue heard by sound, after its owner
        tail = _zh_tail_after(text, end)
        if tail is not None:
            return tail
    return hit


# The digits of a tail number.
TAIL_DIGITS = 4
# How far after a number a Chinese tail cue heard by sound is looked for, and what may come
# between: joining characters and the thing the tail belongs to ("这是我手机").
_ZH_TAIL_AFTER_CHARS = 12
_ZH_TAIL_PREFIX = re.compile(
    r"[\s,，、]*(?:[这是我的那个就为您你他她张]|手机|卡号|卡|银行卡|账户|账号|号码)*")
_OWNER_KINDS = (("手机", "phone"), ("号码", "phone"), ("卡", "bank_card"), ("账", "bank_card"))


def _zh_tail_after(text: str, end: int) -> CueHit | None:
    """A Chinese tail cue matched by sound after a number ending at ``end``, with only
    joining characters and its owner between: the owner's kind, or a number of no named
    kind.
    """
    segment = text[end:end + _ZH_TAIL_AFTER_CHARS]
    prefix = _ZH_TAIL_PREFIX.match(segment)
    assert prefix is not None  # the pattern matches the empty string
    for start, end_, cue, _ in _zh_by_sound(segment):
        if cue.kind == TAIL and start == prefix.end() and not unit_follows(segment, end_):
            owner = next((kind for word, kind in _OWNER_KINDS if word in prefix.group(0)),
                         "long_number")
            return CueHit(owner, cue.min_digits)
    return None


def _cue_after(text: str, end: int) -> CueHit | None:
    m = _AFTER_RE.match(text, end)
    if m is not None and unit_follows(text, m.end()):
        return None  # "2019, the last four years": a duration after the number, no cue
    if m is not None:
        cue = _AFTER_BY_PHRASE[" ".join(m.group("cue").lower().split())]
        tail = _TAIL_OF_OWNER_RE.match(text, m.end()) if cue.kind != "long_number" else None
        if tail is not None:
            # "4431是卡号后四位", "… is my card's last four": the owner's tail
            return CueHit(cue.kind, _AFTER_BY_PHRASE[" ".join(
                tail.group("cue").lower().split())].min_digits)
        return CueHit(cue.kind, cue.min_digits)
    m = _AFTER_FAR_RE.match(text, end)
    if m is not None and unit_follows(text, m.end()):
        m = None
    if m is None:
        return _short_noun_after(text, end)
    cue = _AFTER_BY_PHRASE[" ".join(m.group("cue").lower().split())]
    # Past other words the cue may be about something else ("验证码400013，您在手机上输入"):
    # a named number must be longer than a one-time code.
    return CueHit(cue.kind, cue.min_digits if cue.kind == "long_number"
                  else max(cue.min_digits, _FAR_AFTER_DIGITS))


_TAIL_OWNER_RE = re.compile(rf"(?:{_alternation(list(TAIL_OWNERS))})", re.I)
# "…, and that's my bell": joining words, a determiner and one word after the number.
_DETERMINER_NOUN_AFTER = re.compile(
    r"[\s,.]*(?:(?:and|so|that's|thats|that|is|it's|its|was)[\s,]+){0,3}"
    rf"(?:{'|'.join(sorted(_EN_DETERMINERS))})\s+(?P<noun>[A-Za-z]+)(?![A-Za-z'])", re.I)


# Everyday words one letter from a cue noun that a caller says after a number as themselves.
_COMMON_LOOKALIKES = frozenset(("well", "tell", "hard", "yard", "fell", "sell"))


def _short_noun_after(text: str, end: int) -> CueHit | None:
    """A short cue noun with its first letter misheard after a determiner, said after the
    number ("…, and that's my bell" for "that's my cell"): its kind, for a number as long as
    a cue far after it asks.
    """
    m = _DETERMINER_NOUN_AFTER.match(text, end)
    if m is None:
        return None
    word = m.group("noun").lower()
    noun = next((n for n in _EN_SHORT_NOUNS if len(word) == len(n) and word[0] != n[0]
                 and word[1:] == n[1:]), None) if word not in _COMMON_LOOKALIKES else None
    if noun is None:
        return None
    cue = _AFTER_BY_PHRASE.get(noun) or _BY_PHRASE[noun]
    return CueHit(cue.kind, max(cue.min_digits, _FAR_AFTER_DIGITS))


def owns_tail(text: str, cue: CueMatch) -> bool:
    """Whether ``cue`` names a thing that has a tail (:data:`TAIL_OWNERS`)."""
    m = _TAIL_OWNER_RE.match(text, cue.start)
    return m is not None and m.end() <= cue.end


def dates_a_tail(between: str) -> bool:
    """Whether words between a tail's owner and four digits make the digits a date."""
    return bool(_NOT_TAIL_WORDS.search(between))


def cue_spans(cues: list[CueMatch]) -> list[tuple[int, int]]:
    """Where cue phrases are: never part of a number, though some contain a digit word
    ("last four 0842", "后四位").
    """
    return [(c.start, c.end) for c in cues]


def bridgeable(gap: str) -> bool:
    """Whether ``gap`` between two digit groups after a personal cue is a stray syllable
    (not a separator word, a unit or a blanked date / amount).
    """
    return (0 < len(gap) <= BRIDGE_CHARS and not gap.isspace() and "|" not in gap
            and not _UNIT_RE.match(gap) and not _CUE_RE.match(gap)
            and not _DATE_WORDS.intersection(gap))


def said_as_amount(text: str, start: int, end: int, in_window: bool = False) -> bool:
    """Whether characters ``[start, end)`` are followed by a unit or preceded by a currency
    sign or a verb of paying ("12999元", "$778899", "退了5335"): an amount or a quantity.
    ``in_window``: the digits begin a number a personal cue announced, where one digit, a
    "unit" and more digit groups are the number ("手机是要三次,2766,7667").
    """
    unit = _UNIT_RE.match(text, end)
    # A "unit" with a run of digits right after it is a digit misheard inside the number
    # ("15次72640905"), not a quantity ("12999元3台" is).
    if unit and not _DIGITS_AFTER_UNIT.match(text, unit.end()) \
            and not _ZH_DIGITS_AFTER_UNIT.match(text, unit.end()) \
            and not (in_window and end - start == 1
                     and _GROUP_AFTER_UNIT.match(text, unit.end())):
        return True
    return bool(_CURRENCY_RE.search(text[max(0, start - 4):start])
                or _AMOUNT_VERB_RE.search(text[max(0, start - _AMOUNT_VERB_CHARS):start]))
