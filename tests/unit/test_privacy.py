"""PII / PCI redaction: checksums, spoken digits in zh and en, conversations (word spans,
timing kept), audio beeps, the CLI, and accuracy on the labelled set.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.privacy import (
    cn_id_ok,
    detect,
    digit_runs,
    luhn_ok,
    redact_audio,
    redact_conversation,
    redact_scorecard,
    redact_text,
)
from qa_pipeline.privacy.cues import find_cues
from qa_pipeline.privacy.detect import (
    detect_rules,
    learned_spans,
    said_otherwise,
    span_candidates,
)
from qa_pipeline.privacy.spans import SpanModel, candidates, shipped_model
from qa_pipeline.privacy.testset import (
    ASR_LINES,
    ASR_LINES_HELDOUT2,
    ASR_LINES_HELDOUT3,
    ASR_LINES_HELDOUT4,
    ASR_LINES_HELDOUT5,
    ASR_LINES_HELDOUT6,
    ASR_LINES_HELDOUT7,
    ASR_LINES_HELDOUT8,
    ASR_LINES_HELDOUT9,
    ASR_LINES_HELDOUT10,
    ASR_LINES_OWN4,
    ASR_LINES_OWN5,
    ASR_LINES_OWN6,
    DEV_SEED,
    HALVES,
    HELDOUT_SEED,
    build_testset,
    load_asr_lines,
)
from tests.helpers import load_script, make_conversation


def test_checksums():
    assert cn_id_ok("11010519491231002", "X")  # the GB 11643 example
    assert not cn_id_ok("11010519491231002", "1")
    assert not cn_id_ok("11010519491331002", "X")  # month 13
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")


@pytest.mark.parametrize("text,digits", [
    ("一三八零零一三八零零零", "13800138000"),
    ("幺三九 幺二三四 五六七八", "13912345678"),
    ("one three eight double oh one three eight oh double oh", "13800138000"),
    ("１３８００１３８０００", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("triple five one two", "55512"),
])
def test_spoken_and_written_digits(text, digits):
    [run] = digit_runs(text)
    assert run.digits == digits
    assert text[run.start:run.end].strip() == text.strip()


@pytest.mark.parametrize("text,kind", [
    ("我的手机号是一三八零零一三八零零零，谢谢", "phone"),
    ("call me on one three eight double oh one three eight oh double oh", "phone"),
    ("身份证号 11010519491231002X", "cn_id"),
    ("身份证幺幺零幺零五幺九四九幺二三幺零零二叉", "cn_id"),
    ("card four five three nine one four eight eight zero three four three six four six seven",
     "bank_card"),
    ("座机 010-6552-9988", "phone"),
    ("mail me at amy.chen@example.com", "email"),
])
def test_detects_each_kind(text, kind):
    [span] = detect(text)
    assert span.kind == kind


@pytest.mark.parametrize("text", [
    "总共优惠了￥12,800.00", "订单创建时间是2026-11-23 14:30:05", "您的快递单号是SF1402837795",
    "your order 20261123-0045 has shipped", "预计三到五个工作日送达", "工号一零二四为您服务",
])
def test_numbers_that_are_not_personal_data(text):
    assert detect(text) == []


def test_two_numbers_said_back_to_back_are_split():
    spans = detect("手机13800138000银行卡4539148803436467")
    assert [s.kind for s in spans] == ["phone", "bank_card"]


def test_redact_text_replaces_only_the_mention():
    out, spans = redact_text("请打13800138000找我，谢谢")
    assert out == "请打[PHONE]找我，谢谢" and len(spans) == 1
    assert "13800138000" not in json.dumps([s.to_dict() for s in spans])


def test_redact_conversation_masks_words_and_keeps_timing():
    conv = make_conversation([
        ["agent", 0.0, 2.0, "can I have your number"],
        ["customer", 2.5, 8.5, "sure it is one three eight double oh one three eight oh double oh"],
    ], language="en")
    red, removed = redact_conversation(conv)
    u = red.utterances[1]
    assert u.text == "sure it is [PHONE]"
    assert [w.text for w in u.words[:3]] == ["sure", "it", "is"]
    assert all(set(w.text) == {"#"} for w in u.words[3:])
    assert [(w.start_s, w.end_s) for w in u.words] == [
        (w.start_s, w.end_s) for w in conv.utterances[1].words]
    [r] = removed
    assert r.kind == "phone" and r.spoken
    assert r.start_s == pytest.approx(conv.utterances[1].words[3].start_s)
    assert r.end_s == pytest.approx(8.5)
    assert red.utterances[0] == conv.utterances[0]

    audio = np.full((1, 16000 * 9), 0.5, dtype=np.float32)
    beeped = redact_audio(audio, 16000, removed)
    a, b = int(r.start_s * 16000), int(r.end_s * 16000)
    assert np.all(beeped[0, :a - 1600] == 0.5)
    assert np.abs(beeped[0, a:b]).max() == pytest.approx(0.1, abs=1e-3)
    silenced = redact_audio(audio, 16000, removed, mode="silence")
    assert np.all(silenced[0, a:b] == 0)
    with pytest.raises(ValueError, match="beep or silence"):
        redact_audio(audio, 16000, removed, mode="bleep")


def test_redact_scorecard_quotes():
    card = {"items": [{"criterion_id": "x", "evidence": [
        {"quote": "我的卡号是6222020200001234560", "role": "customer"}]}]}
    out, n = redact_scorecard(card)
    assert n == 1 and "6222" not in json.dumps(out, ensure_ascii=False)
    assert card["items"][0]["evidence"][0]["quote"].startswith("我的卡号是6222")  # copy


def test_cli_redact_text_and_conversation(tmp_path):
    r = CliRunner().invoke(app, ["redact", "-", "--json"], input="打一三八零零一三八零零零\n")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["redacted"] == "打[PHONE]\n" and doc["removed"][0]["kind"] == "phone"
    conv = make_conversation([["customer", 0, 4, "邮箱 amy.chen@example.com"]])
    path = tmp_path / "conversation.json"
    path.write_text(json.dumps(conv.to_dict(), ensure_ascii=False), encoding="utf-8")
    r = CliRunner().invoke(app, ["redact", str(path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["redacted"]["utterances"][0]["text"] == "邮箱 [EMAIL]"


@pytest.mark.parametrize("seed", [DEV_SEED, HELDOUT_SEED])
def test_labelled_set_recall_and_precision(seed):
    samples = build_testset(seed)
    mentions = sum(len(s.mentions) for s in samples)
    assert mentions >= 200
    hit = detected = false = 0
    for s in samples:
        det = detect(s.text)
        covered = {i for d in det for i in range(d.start, d.end)}
        for m in s.mentions:
            hit += {i for i in range(m.start, m.end) if s.text[i] not in " ，,-、"} <= covered
        detected += len(det)
        false += sum(not any(d.start < m.end and d.end > m.start for m in s.mentions)
                     for d in det)
    assert hit / mentions >= 0.99
    assert (detected - false) / detected >= 0.95


def test_number_spread_over_turns_with_a_backchannel_in_between():
    conv = make_conversation([
        ["agent", 0.0, 2.0, "请问您的手机号"],
        ["customer", 2.5, 5.0, "一三八零零"],
        ["agent", 5.2, 5.6, "嗯"],
        ["customer", 6.0, 8.0, "一三八零零零"],
        ["customer", 30.0, 32.0, "一三八零零"],  # after a long pause: a different matter
    ])
    red, removed = redact_conversation(conv)
    assert [u.text for u in red.utterances] == ["请问您的手机号", "[PHONE]", "嗯", "[PHONE]",
                                                 "一三八零零"]
    assert [(r.utterance_index, r.kind) for r in removed] == [(1, "phone"), (3, "phone")]
    alone, _ = redact_conversation(conv, max_gap_s=0.1)
    assert alone.utterances[1].text == "一三八零零"  # 5 digits alone are not a number


# Issue 27, finding 5: personal numbers as speech recognition delivers them. A cue word before
# a digit run decides what it is when its shape alone does not.

@pytest.mark.parametrize("text", [
    "身份证号是幺幺零幺零五幺九四九幺二三幺零零幺叉",  # these 17 digits check to 1, not X
    "我的身份证号码是 1101 0519 4912 3100 1X",
    "my ID number is one one zero one zero five one nine four nine one two three one zero "
    "zero one X",
    "证件号码幺幺零幺零五幺九四九幺三三幺零零二三",  # month 13: a misheard digit
])
def test_resident_id_failing_its_checksum_after_a_cue_is_redacted(text):
    [span] = detect(text)
    assert span.kind == "cn_id"
    assert len(span.digits) == 17 + (not span.text.endswith(("X", "叉")))


@pytest.mark.parametrize("text,digits,kind", [
    ("my phone ends with 7-78899", "778899", "phone"),
    ("手机尾号11-23", "1123", "phone"),
    ("我手机 7-78899", "778899", "phone"),
    ("卡号后四位是 4619", "4619", "bank_card"),
    ("it's the card with last four 0842", "0842", "bank_card"),
    ("my card number is 6222,020,200,001,234", "6222020200001234", "bank_card"),
    ("手机号是138,1234,5678", "13812345678", "phone"),
    ("the account number is 7788 99", "778899", "bank_card"),
    # ASR turned a digit into a homophone, a dot or a letter
    ("您打我电话要4702清9025就行", "47029025", "phone"),
    ("My phone number is 176. 172.11.428", "17617211428", "phone"),
    ("My ID number is W-3-0-106-197-60806-6713", "30106197608066713", "cn_id"),
])
def test_split_or_shortened_numbers_after_a_cue_are_redacted(text, digits, kind):
    [span] = detect(text)
    assert (span.digits, span.kind) == (digits, kind)
    redacted = redact_text(text)[0]
    assert f"[{kind.upper()}]" in redacted and not any(c in redacted for c in digits)


@pytest.mark.parametrize("personal,kept", [
    ("手机尾号7439", "手机价格7439元"),
    ("my phone ends with 7-78899", "my phone order number is 7-78899"),
    ("电话 778899", "电话是2026-11-23打的"),
    ("电话 778899", "电话 10:45:12 打过来的"),
    ("card ending in 4619", "the card costs $4,619"),
    ("the account number is 778899", "the account balance is 778899 dollars"),
    ("手机号 138,1234,5678", "手机一共 1,234,567 元"),
    ("快递员电话 778899", "快递单号 7788 9900 1122"),
    ("身份证尾号 4619", "身份证上周 11-23 办的，订单 2026 1123 0045"),
    ("手机 4702清9025", "手机 12999元3台"),
    ("my phone number is 176. 172.11.428", "the phone plan is 172.11 a year"),
    ("my ID number is W-3-0-106-197-60806-6713", "the model number is W-3-0-106-197-60806"),
])
def test_cues_still_keep_dates_times_money_and_references(personal, kept):
    assert detect(personal), personal
    assert detect(kept) == [], kept


@pytest.mark.parametrize("text,said", [
    # the cue misheard: matched by pinyin (尾后 ~ 尾号, 政见后马 ~ 证件号码) or one edit
    ("银行卡尾后二九四零的那张", "二九四零"),
    ("银横卡尾,后4846的那张", "4846"),
    ("政见后马131010份197012094361您何对", "131010份197012094361"),
    ("It is a car nending in 4.252.", "4.252"),
    # digits the ASR wrote as other words, codes and decimals between the groups
    ("The account number is 4 times 3 times I'm time 2 for 2 for 6 nero 1 8 6 6",
     "4 times 3 times I'm time 2 for 2 for 6 nero 1 8 6 6"),
    ("My phone number is 1.0. Double Ford I'm Time. 4240.", "1.0. Double Ford I'm Time. 4240"),
    ("The account number in 6217, 3i1, 8210, 2774.", "6217, 3i1, 8210, 2774"),
    ("the account number in 622, 087, 1xxx6638", "622, 087, 1xxx6638"),
    # a number read two digits at a time
    ("call me on one forty, thirty three forty four, fifty eight ninety",
     "one forty, thirty three forty four, fifty eight ninety"),
])
def test_a_cue_window_takes_the_whole_number(text, said):
    covered = {i for d in detect(text) for i in range(d.start, d.end)}
    start = text.index(said)
    assert set(range(start, start + len(said))) <= covered, detect(text)


@pytest.mark.parametrize("text", [
    "身份证是二零一九年十二月三十一号办的",
    "我手机上个月话费一百二十八元",
    "手机 12999元3台",
    "my phone bill was 128 dollars and 50 cents",
    "call me at 3 pm or after 5:30",
    "my ID card expires on the 30th of June 2030",
    "order numbers 2095-6898-9059.",  # "numbers" is not a misheard phone cue
    "the contract number is 2026 1123 4456",  # nor "contract" a misheard "contact"
    "您的快递单号12-05-88-7845-1390已经发出了",  # the ASR added a digit to a waybill
    "您的快地单好1201854069970已经发出了",  # and misheard its cue (快递单号)
])
def test_windows_and_cues_by_sound_keep_dates_money_and_references(text):
    assert detect(text) == []


def test_cues_match_by_sound_only_where_digits_follow():
    from qa_pipeline.privacy.cues import find_cues

    assert [c.by_sound for c in find_cues("银行卡尾后4846")] == [False, True]
    assert [c.by_sound for c in find_cues("银行卡尾后再说")] == [False]


def test_a_cue_by_sound_needs_a_close_syllable():
    # 个号 (ge hao) shares only an initial with 工号 (gong hao): no reference cue, so the
    # long number stays personal data (the new held-out half found this).
    from qa_pipeline.privacy.cues import find_cues

    assert find_cues("您记一下我这个号 2212 2544 101") == []
    [span] = detect("您记一下我这个号 2212 2544 101")
    assert span.kind == "long_number" and span.digits == "22122544101"


def _hits_and_false_alarms(samples, detector=detect):
    hit = false = 0
    for s in samples:
        det = detector(s.text)
        covered = {i for d in det for i in range(d.start, d.end)}
        for m in s.mentions:
            hit += {i for i in range(m.start, m.end) if s.text[i] not in " ，,-、。."} <= covered
        false += sum(not any(d.start < m.end and d.end > m.start for m in s.mentions)
                     for d in det)
    return hit, false


def test_asr_lines_halves_are_split_by_phrasing():
    rows = []
    for path in (ASR_LINES, ASR_LINES_HELDOUT2, ASR_LINES_HELDOUT3, ASR_LINES_OWN4,
                 ASR_LINES_HELDOUT4, ASR_LINES_OWN5, ASR_LINES_HELDOUT5, ASR_LINES_OWN6,
                 ASR_LINES_HELDOUT6, ASR_LINES_HELDOUT7, ASR_LINES_HELDOUT8,
                 ASR_LINES_HELDOUT9, ASR_LINES_HELDOUT10):
        with path.open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    halves = {half: {r["template"] for r in rows if r["half"] == half} for half in HALVES}
    for a, b in itertools.combinations(HALVES, 2):
        assert halves[a] and halves[b] and not halves[a] & halves[b]
    for half in HALVES:
        lines = load_asr_lines(half)
        assert {s.language for s in lines.samples} == {"zh", "en"}
        # negatives (own6 was rendered with 6 negative phrasings x 3 lines)
        assert sum(not s.mentions for s in lines.samples) >= (18 if half == "own6" else 20)
        assert sum(len(s.mentions) for s in lines.samples) >= 60
    with pytest.raises(ValueError, match="tune, heldout, heldout2, heldout3"):
        load_asr_lines("test")


# Floors at the figures measured in benchmarks/README.md. The code before the cue tables
# found 53 / 88 and 58 / 92 with 6 and 8 false alarms; before the cue windows and cues by
# sound, 72 / 88 and 70 / 92 with 2 and 4; before the broad cue lexicon, cues after the
# number and cue-less shapes, 76 / 102 on heldout2; before the ASR classes of the fourth
# session (cues after the number past other words, far cues, cue-less card / ID lengths, ...),
# 87 / 88, 88 / 92, 96 / 102, 193 / 237 with 6 false alarms, and 90 / 98 on own4. heldout4
# (an independent author's phrasings, scored once after those changes): 186 / 222 with 3
# false alarms before them, 195 / 222 with 2 after. Before the fifth session's classes
# (homophones as digits, cues in questions, fillers, ...): 220 / 237 on heldout3, 91 / 98 on
# own4, 99 / 102 on heldout2, 195 / 222 with 2 false alarms on heldout4, and 90 / 92 on
# own5 (its own phrasings, rendered before those changes; its one gain, a cue word heard
# inside the number, is a heldout2 class that was fixed after own5's misses were read).
# heldout5 (a fifth independent author, rendered before those changes, scored once before
# and once after them): 196 / 220 with 1 false alarm before, 206 / 220 with 1 after. The
# sixth session's classes (from heldout5's misses, then own6's): 92 / 92 on heldout, 215 /
# 222 on heldout4, 92 / 92 on own5, 216 / 220 with no false alarm on heldout5; own6 (its own
# phrasings, rendered before those changes) 65 / 80 before, 72 / 80 after the classes read
# from heldout5, 78 / 80 after those read from its own misses. heldout6 (a sixth independent
# author, rendered before those classes, scored once before and once after them): 177 / 204
# with no false alarm both times (none of the classes reached its wording). The seventh
# round added the learned reading of digit stretches, whose shipped model is trained on every
# half, so these floors are in-sample: 88, 92, 102, 237, 96 / 98, 220 / 222, 92, 218 / 220,
# 80 and 198 / 204 with no new false alarm. What it does on an author it never saw is
# measured leave one author out (benchmarks/redaction/span_model.py; the test below).
# heldout7 (a seventh independent author, rendered before this round, never fitted on, scored
# once before and once after it): 245 / 271 with 9 false alarms, then 261 / 271 with 10;
# it was then added to the model's folds (in-sample since: 261 / 271 with 9). The eighth
# round (a reference cue heard by sound yields to a personal lead, features of the words
# inside a number, ASR-written dates and round thousands, a reference's misheard noun; model
# refitted): 200 / 204 on heldout6, 264 / 271 with 4 false alarms on heldout7, in-sample.
# heldout8 (an eighth independent author, never fitted on, scored once with the detector of
# the start of those two rounds and once after them): 177 / 194 with no false alarm, then
# 187 / 194 with 2. The ninth round (heldout8 an eleventh fold; a bare or misheard reference
# cue yields to a sure model, a certain shape is not cut at a misheard unit, numbers read in
# parts around a generic noun are one; model refitted on all eleven folds), in-sample:
# own4 96 -> 97, heldout7 264 -> 265, heldout8 187 -> 191 with no false alarm.
# heldout9 (a ninth independent author, rendered at the start of that round, never fitted
# on): 207 / 215 with 5 false alarms before it, 210 / 215 with 4 after. It is now the twelfth
# fold (an end-of-number word before a time or count unit, "the last four years", no longer
# lifts the year veto; model refitted on twelve folds): no half's count moved, in-sample.
# Round 13: the labelling rule leaves digits the ASR made of the prose around the number out
# (预留 heard as 一流, "that one", 两笔 as 2笔; heldout5 and heldout7 lose a mention each, now
# lost), and English month-name dates, a date after a long number's cue and an end word read
# whole past its window were fixed: heldout4 220 -> 221, heldout5 218 -> 218 / 219, heldout6
# 200 -> 204, heldout7 265 -> 267 / 270, heldout8 191 -> 193, heldout9 210 -> 214 with 4 -> 0
# false alarms (shipped model not refitted: benchmarks/README.md, round 13).
# heldout10 (a tenth independent author, rendered at the start of the tenth round, never
# fitted on): 213 / 219 with 4 false alarms before round 13 and after it (none of its
# classes reached this author's wording); then spent: a day before a month name whose own
# day follows is no date ("9 April 3, 2020"), 213 / 219 with 3; a 13-digit Luhn-valid run
# after 快递单号 is the waybill, not a card: 2.
@pytest.mark.parametrize("half,mentions,min_hits,max_false", [
    ("tune", 88, 88, 1), ("heldout", 92, 92, 0), ("heldout2", 102, 102, 0),
    ("heldout3", 237, 237, 0), ("own4", 98, 97, 0), ("heldout4", 222, 221, 0),
    ("own5", 92, 92, 0), ("heldout5", 219, 218, 0), ("own6", 80, 80, 0),
    ("heldout6", 204, 204, 0), ("heldout7", 270, 267, 4),
    ("heldout8", 194, 193, 0), ("heldout9", 215, 214, 0),
    ("heldout10", 219, 213, 2)])
def test_asr_lines_recall_and_precision(half, mentions, min_hits, max_false):
    samples = load_asr_lines(half).samples
    assert sum(len(s.mentions) for s in samples) == mentions
    hit, false = _hits_and_false_alarms(samples)
    assert hit >= min_hits and false <= max_false


# Cue words for tails, accounts and phones said in more ways, cues after the number,
# read-backs, and cue-less numbers whose shape is certain once ASR's pieces are joined.
@pytest.mark.parametrize("text,number", [
    ("尾数是4065的那个手机", "4065"),
    ("4065是我的尾号", "4065"),
    ("one three eight, one two three four, five six seven eight is my mobile",
     "one three eight, one two three four, five six seven eight"),
    ("so that's 6 2 2 2 0 2 1 2 3 4 5 6 7 8, correct?", "6 2 2 2 0 2 1 2 3 4 5 6 7 8"),
    ("回电请拨153552要8505", "153552要8505"),
    ("有时候打我这个号16按92384859", "16按92384859"),
    ("It's my account ending 9852.", "9852"),
    ("the card on file ends in 4431", "4431"),
    ("我的预留手机是一三八要二三四五六七八", "一三八要二三四五六七八"),
    ("开户行留的是6222 0212 3456 7891", "6222 0212 3456 7891"),
    ("you can reach me on 1-6th time. No more 2-9-2, 2-7-1-5.",
     "1-6th time. No more 2-9-2, 2-7-1-5"),
    ("call me back, 15 3 55 要 8505", "15 3 55 要 8505"),
])
def test_broad_cues_and_cueless_shapes_are_found(text, number):
    start = text.index(number)
    covered = {i for d in detect(text) for i in range(d.start, d.end)}
    assert {i for i in range(start, start + len(number)) if text[i] not in " ,.-"} <= covered


@pytest.mark.parametrize("text", [
    "我们下午3点之前给您回电", "每个月月费一百二十八元，对吗", "合同是2025年3月12号签的，对吧",
    "the fee is 1299 dollars a month, correct?", "the quarter ending 2024 was good",
    "订单号是2024061512345，对吗", "套餐是一百九十九元的那个手机套餐", "it ends at 6 pm",
    "the meeting is on the 16th", "运单号 773012345678901，对吗", "收到了15件，对吗",
    "2019年开户的", "the total is 15,820 dollars, is that right?",
])
def test_broad_cues_keep_dates_money_and_references(text):
    assert detect(text) == []


def test_asr_label_leaves_the_phrasings_own_digit_words_out(monkeypatch):
    mod = load_script("benchmarks/redaction/make_asr_lines.py", "make_asr_lines")
    monkeypatch.setitem(sys.modules, "make_asr_lines", mod)  # its dataclasses look it up
    prose = "我再跟您确认一遍，证件号码{}，最后一位是X对吗？"
    text = "我再跟您确认一遍,证件号码110105 19900101 1234,最后一位是X对吗?"
    start, end = mod.label("110105199001011234", text, "cn_id", prose)
    assert text[start:end] == "110105 19900101 1234"
    prose = "{}, that one's the cell, so please stop calling the house phone."
    text = "1 3 8, double 1, 2 3 4 5 6 7, that one's the cell."
    start, end = mod.label("13811234567", text, "phone", prose)
    assert text[start:end] == "1 3 8, double 1, 2 3 4 5 6 7"
    # "too" heard as "2": a run that does not align with the said number stays out, a wrong
    # digit inside the number's own run stays in.
    text = "440305-19990122-1955. It's on the Passport Application 2"
    assert mod.label("440305199901221953", text, "cn_id", "{}, it's on the passport "
                     "application too.", align=True) == (0, len("440305-19990122-1955"))
    assert mod.label("440305199901221953", text, "cn_id", "", align=False)[1] == len(text)


# Classes of ASR behaviour read from the misses of the spent held-out halves (each case is
# one class, not one line): a unit or a generic noun misheard inside a cued number, "mobile"
# written "model", a tail said before the thing it belongs to, cues after the number past
# other words, a code-shaped ID with its cue after it, 结尾 misheard, a cue said well before
# a long number, cue-less card / ID lengths, tails said as "four digits", an ordinal or a
# long garble deep inside a long number.
@pytest.mark.parametrize("text,number", [
    ("我的手机号码是15次72640905", "15次72640905"),
    ("My model is 186-171-0134", "186-171-0134"),
    ("My model is 138, 3.628, M822.", "138, 3.628, M822"),
    ("My modal is 1i1, 415i6, double 3, 4.", "1i1, 415i6, double 3, 4"),
    ("Up, last four of my phone, hold on, 3713.", "3713"),
    ("45398408 on 9801.6. That's the checking account, not the savings.",
     "45398408 on 9801.6"),
    ("W10105197808133975 That's my national ID from China", "10105197808133975"),
    ("就是4804捷尾的那个号我平时不怎么用", "4804"),
    ("系统显示扣款的是摸41221053的那张厨序卡", "41221053"),
    ("167,3i算,1i要9这个是我本人的手机", "167,3i算,1i要9"),
    ("Probably not shoot a text over to one free famine, 8-1-4, 1-2-7-4, that might work "
     "phone.", "one free famine, 8-1-4, 1-2-7-4"),
    ("联系方式的话,就是我刚才跟你说的那个就是现在打进来这个174,490,565,565", "174,490,565,565"),
    ("公司卡的话是6案7157 35289508不过那张卡我很少用", "6案7157 35289508"),
    ("for verification I just need the title for digits okay 5264 thank you", "5264"),
    ("the ID card I registered with, let me get it out of my wallet, okay, double 10105, "
     "1i1108.0107, I'm free 8th fix", "double 10105, 1i1108.0107, I'm free 8"),
    ("my ID card is 1 0 1 0 5 1 I'm time to go fix, one three six seven one",
     "1 0 1 0 5 1 I'm time to go fix, one three six seven one"),
])
def test_asr_classes_of_the_spent_halves_are_found(text, number):
    start = text.index(number)
    covered = {i for d in detect(text) for i in range(d.start, d.end)}
    missing = {i for i in range(start, start + len(number)) if text[i] not in " ,.-"} - covered
    assert not missing, detect(text)


@pytest.mark.parametrize("text", [
    "公单后马2091372812后续有问题报这个号就行",  # 工单号码 misheard: 号码 is the reference's noun
    "The tracking number on the package says 206-970-866-6382.",  # the cue far before
    "快递单后文件一下205次26800836您可以在官网查",
    "我记得12.22.07.20号下的单到现在还没发货",  # a date in digit groups
    "我记得是2020、25、8、11号下的单",
    "the model number is 2095 6898 9059",  # a model number not shaped like a mobile
    "the model is 1500, the newer model is WF45T6000AW",
    "I left for 2 weeks in 2024 and came back on the 8th",
    "手机 12999元3台",
    "so that's a credit of 1299 back to your account, correct?",
    "我们人工客服的服务时间到晚上九点，号码还是这个热线",
    "your order 2026112300451234 will reach you, I'll text the courier's phone",
    # a one-time code: its cue is a reference, and a cue far after it wants a longer number
    "验证码400013，您在手机上输入", "the verification code is 483920, type it on your phone",
])
def test_asr_classes_keep_references_dates_and_amounts(text):
    assert detect(text) == []


# Classes of the fifth session, read from the misses of heldout4 and the earlier spent
# halves (each case one class, not one line): homophones of digits ("for", "free", "fix",
# "Nero", "I'm") before and inside a cued number, a homophone as the number's first digit
# (要 for 幺) with or without a cue, a cue in a question and its number in the answer, a
# tail whose owner is named after it and whose digits look like a year, the tail said as
# 后面四个数, a unit followed by spoken digits (次 for 七), a certain mobile after a
# reference cue, cues after the number ("the best way to get me") and verbs ("text",
# "call"), "last four" heard as "left for", a question mark inside a number, fillers
# (嗯, 呃, um) between groups, a short cue noun with its first letter misheard after a
# determiner ("my bell"), "finishing in".
@pytest.mark.parametrize("text,number", [
    ('The resident identity card number is double for Nero Free-O-5. 1-I-N-I-N-O-1-2-2-5. '
     '5-2-3-O. Correct.',
     'double for Nero Free-O-5. 1-I-N-I-N-O-1-2-2-5. 5-2-3-O'),
    ('好的，跟您确认一下，您的手机是要75595420113，没错吧',
     '要75595420113'),
    ('那个，您有事就打这个腰舞腰四腰两三三三七腰白天都开机',
     '腰舞腰四腰两三三三七'),
    ('Could you confirm the last four of the card on the account? I have 1352.',
     '1352'),
    ('尾号1985的那张卡被扣了两次钱',
     '1985'),
    ('就是我老婆用的那张，后面四个数是3258',
     '3258'),
    ('开户用的是我爸的证件号码是310104197704次两摇8',
     '310104197704次两摇8'),
    ('到时候验证码您发到1325805要748上面就好',
     '1325805要748'),
    ("one four one, eight, I'm six, six, I'm four, seven, seven, that's the best way to get me.",
     "one four one, eight, I'm six, six, I'm four, seven, seven"),
    ("you can just text 265 free 889 104 when the driver's outside",
     '265 free 889 104'),
    ("just have him call 1 9 4 free 8 1 free 4 5 0 1 and I'll come out",
     '1 9 4 free 8 1 free 4 5 0 1'),
    ("I can confirm the left for our 5270, ma'am.",
     '5270'),
    ('So the card number I have here is 1, Nero 1, Nero 5? 1, 8, 1, 2, 3, 3',
     '1, Nero 1, Nero 5? 1, 8, 1, 2, 3, 3'),
    ('您记一下，一三八，嗯，六六七七，呃，八八九九',
     '一三八，嗯，六六七七，呃，八八九九'),
    ('yeah my bell is 131 541',
     '131 541'),
    ('the checking one, the one finishing in 3838, they pulled from it',
     '3838'),
    # a cue word heard inside the number; a question mark inside it after a misheard word,
    # the check X; the cue's digit glued to the number's
    ("the ID card is 1 neuro 1 or 7, 1 ID, I'm neuro 6, neuro 2, 6, 3, 2 7.",
     "1 neuro 1 or 7, 1 ID, I'm neuro 6, neuro 2, 6, 3, 2 7"),
    ("the card number I have here in Pied 1, Nero 1, Nero Famine? 1, I'm Famine 8, 1, "
     "Nubble 2, 3, 3, 3, 3, X, ending with an X, correct.",
     "1, Nero 1, Nero Famine? 1, I'm Famine 8, 1, Nubble 2, 3, 3, 3, 3, X"),
    ("I can confirm the last 465-38, ma'am.", "465-38"),
    ("ring me on 1 9 4 free 8 1 free 4 5 0 1 tonight", "1 9 4 free 8 1 free 4 5 0 1"),
    # far from its cue, words heard for a digit count towards the digits a number needs
    ("The ID card I registered with, let me get it out of my wallet. Okay, so here it is, "
     "101.05. One to go fix. One three six seven one.",
     "101.05. One to go fix. One three six seven one"),
])
def test_asr_classes_of_the_fifth_session_are_found(text, number):
    _assert_number_covered(text, number)


def _assert_number_covered(text: str, number: str) -> None:
    """Every character of ``number`` in ``text`` but its separators is inside a detection."""
    start = text.index(number)
    covered = {i for d in detect(text) for i in range(d.start, d.end)}
    missing = {i for i in range(start, start + len(number)) if text[i] not in " ,.-，?"}
    assert not missing - covered, detect(text)


@pytest.mark.parametrize("text", [
    '您这个号码的套餐是2026、6年3月2号到期，到期前我们会短信提醒您',
    '银行卡那边显示退了5335一般3-5个工作日到账',
    # the window's new bridges keep years, times and amounts out
    "was it 2019 or 2020? 2021 I think", "I left for the office at 8:30 and came back at 5",
    "you charged me 4599 twice", "text STOP to 12345 to unsubscribe",
    "the fee went from 120 to 150 to 199 dollars", "我3点到5点之间都在，嗯，6点以后也行",
])
def test_asr_classes_of_the_fifth_session_keep_dates_and_amounts(text):
    # a date word is no stray syllable inside a number; a verb of paying makes an amount
    assert detect(text) == []


@pytest.mark.parametrize("text", [
    "your booking number is 2012345678, see you then", "the claim number is 2034567812",
    "your reservation number is 201234567890", "您的流水号是2012345678", "您的预约号是2012345678",
    "取件码是2012345678", "my account has 1234567 pounds in it",
    "the phone plan is 1299000 cents a year",
    # a card's checksum over the pieces of a code after a reference cue is chance
    "the tracking number is 1Z999AA10123456784",
])
def test_more_references_and_units_are_kept(text):
    # business references beyond orders and tickets, and amounts in more currencies
    assert detect(text) == []


def test_extra_references_match_as_written_only():
    # "报给" sounds like 包裹 (a parcel): matched by sound it would make the ID a reference
    text = "郡建号码我报给您爱440305197507272046最后一位是自母"
    assert any("440305197507272046" in d.text for d in detect(text))


# Classes of the sixth session, read from the misses of heldout5 and the earlier spent halves
# (each case one class, not one line): a one-digit "amount" followed by more digit groups (次
# for a digit), the count of a Chinese tail cue misheard (后肤为 for 后四位), a group glued by
# one character deep inside a long number before a "unit", "work line" said after the
# number, a check character glued to a cue-less number's last group ("78x"), the count
# digit of "last 4" next to the number, "the left digits" for "the last digits" (and no year
# after a cue that says digits follow), four digits right after the thing that owns them
# when "ending" was misheard, a question mark inside a cue-less card number, words heard for
# digits counted after "model" and in a tail, a tail cue said after the number.
@pytest.mark.parametrize("text,number", [
    ("我的手机是要五次,3821,4406,您记一下", "要五次,3821,4406"),
    ("就是那个卡后肤为6139的那个", "6139"),
    ("我的卡号是62284810937次152次是建设银行的", "62284810937次152"),
    ("Five time I'm nine 4.0.2. Nine double 7.3 in my workline, but the other is better.",
     "Five time I'm nine 4.0.2. Nine double 7.3"),
    ("I think it's 130px, 47.52x, 66x, I'm not gonna use phone so I'm not sure.",
     "130px, 47.52x, 66x"),
    ("Is it the one with the last 4, 7, 1, 0, 6?", "4, 7, 1, 0, 6"),
    ("the savings one, the left digits are 2071.", "2071"),
    ("can you confirm the phone number on file any 6021 is it still good?", "6021"),
    ("the card on file N557O is that the one?", "557O"),
    ("Can you charge 6228-413-0972? 44185 instead, the other one got declined.",
     "6228-413-0972? 44185"),
    ("My modal is 1.3.9.2.7. Nable Nero 6.1.", "1.3.9.2.7. Nable Nero 6.1"),
    ("the card ending 4 for 3 1.", "4 for 3 1"),
    ("8812, those are the last four.", "8812"),
    ("the Amex that finishes 3390", "3390"),
    # tail cues said after the number, also right after their owner; 最后是 / 后面是
    ("5206这个是后四位", "5206"), ("7713, that's the ending", "7713"),
    ("3308 is what it ends with", "3308"), ("卡号最后是6604", "6604"),
    ("0921是卡号后四位", "0921"), ("1187 is my card's last four", "1187"),
    # words Whisper writes for digits: "px" for six glued to a number, "nubble" for double
    ("I think it's 130px, 60px 41, 27 when the driver's outside", "130px, 60px 41, 27"),
    ("1 3 9, nubble 4, 2 1 5, nuddle 8, 1 6 when you get in",
     "1 3 9, nubble 4, 2 1 5, nuddle 8, 1 6"),
    # a Chinese tail cue heard by sound after its owner (莫四尾 for 末四位), its count written
    # as a numeral (莫4位, 最后4个号)
    ("6021,这是我手机莫四尾", "6021"), ("8 3 1 5这是我手机莫4位", "8 3 1 5"),
    ("您看一下最后4个号是7206的那个账户", "7206"),
    # a number's first group cut off from it by a word heard for a digit
    ("Okay, write this down, one time eight, I'm 4-0-2, 7-7-1-3, and that's it.",
     "one time eight, I'm 4-0-2, 7-7-1-3"),
    ("My work folded one six, I'm two, three two one, four four six, extension not needed.",
     "one six, I'm two, three two one, four four six"),
    # a short cue noun with its first letter misheard, said after the number
    ("Sure, 4 5 2 go 1 7 go 9 3 0, and that's my bell.", "4 5 2 go 1 7 go 9 3 0"),
    # more ways to say after the number how it reaches the caller or what it is
    ("Sure, 4 5 2 go 1 7 go 9 3 0, that's my number.", "4 5 2 go 1 7 go 9 3 0"),
    ("Sure, 6 1 8 go 2 2 go 7 4 1, you can call me there.", "6 1 8 go 2 2 go 7 4 1"),
    ("Sure, 3 0 9 go 5 5 go 1 2 8, is my social.", "3 0 9 go 5 5 go 1 2 8"),
    ("好的，5 2 7 嗯 1 9 走 8 8 3，那是我的微信", "5 2 7 嗯 1 9 走 8 8 3"),
    # "my social" for a social security number, "my digits" for a phone number
    ("my social is 4 5 2 go 1 7 go 9 3 0.", "4 5 2 go 1 7 go 9 3 0"),
    ("my digits are 6 1 8 go 2 2 go 7 4 1.", "6 1 8 go 2 2 go 7 4 1"),
    # "last four" heard beyond one edit
    ("it's the one lost for 8127.", "8127"), ("the card last floor 3306.", "3306"),
    # a cue word the ASR wrote as two words
    ("or the past port is 31012, one item 004, two item 00X, issued last year.",
     "31012, one item 004, two item 00X"),
])
def test_asr_classes_of_the_sixth_session_are_found(text, number):
    _assert_number_covered(text, number)


@pytest.mark.parametrize("text", [
    # a charge, a payment, a balance "of" an amount: an amount whatever cue follows
    "I see a pending charge of 9,672 on your account number",
    "there is a balance of 1450 on the card",
    # four digits after a card or a phone that are a date, an amount, a year or a count
    "your card expires 0927", "the card expiry is 1128", "my phone 2019 model",
    "the account had 1,500 in it", "my card has 2 to 3 days left",
    "your phone bill is 1299 this month", "my account balance 2450", "手机费是1299", "卡里有2450",
    "the card I had for 3 years, 2021 to 2024",
    "2019, the last four years", "was it 2019 or 2020? 2021 I think",
    "the image is 1024px wide and 768px high", "I'm 150px tall",
    "in the past four years, 2021 was best", "I was lost for 20 minutes",
    "the order 12345678, call me when it ships", "I waited 30 minutes, call me back",
    "最后是2024年", "后面是1500元", "2024 ends in a week", "the fiscal year 2024 ends in March",
    # a one-digit amount followed by a written amount, not digit groups
    "我充了5元，再充50元",
])
def test_asr_classes_of_the_sixth_session_keep_dates_and_amounts(text):
    assert detect(text) == []


def test_a_quantity_before_a_number_stays_out_of_it():
    # "3天" is how long the caller waited, not the mobile number's first digit
    text = "我等了3天,13800138000"
    assert [d.text for d in detect(text)] == ["13800138000"]


@pytest.mark.parametrize("text", ["my pass port number is 1234567",
                                  "my passpart number is 1234567"])
def test_a_generic_noun_after_a_misheard_cue_belongs_to_it(text):
    # "number" after a cue heard by sound is that cue's noun, not a phone cue of its own
    assert [d.kind for d in detect(text)] == ["cn_id"]


# Issue 27, seventh round: the learned reading of digit stretches (qa_pipeline.privacy.spans).
# A number is judged by its shape and by whatever words are around it, listed or not; only
# what is said around it as money, a quantity, a date, a year or a reference keeps it.
@pytest.mark.parametrize("text,number", [
    # carriers no cue table lists, written for this test (not lines of any half)
    ("我用的是4619结束的那张", "4619"), ("it's the visa that stops at 4619", "4619"),
    ("微信绑的是四六一九那张", "四六一九"), ("the one I use most is 7 4 4 0", "7 4 4 0"),
])
def test_learned_spans_take_numbers_whatever_carries_them(text, number):
    assert detect_rules(text) == []  # no listed cue, no certain shape
    _assert_number_covered(text, number)


# Under the flipped default a number with no word around it that says otherwise is taken:
# the rules keep these (a code sent to a phone, digits said before a word that is no cue),
# the learned reading redacts them; over-redaction is the safe error here.
@pytest.mark.parametrize("text", ["483920，这个是发到我手机上的",
                                  "Sure, 4 5 2 go 1 7 go 9 3 0, and that's my well."])
def test_numbers_the_rules_keep_are_taken_when_nothing_says_otherwise(text):
    assert detect_rules(text) == []
    assert detect(text) != []


@pytest.mark.parametrize("text", [
    # what is said around a number marks it, whatever the model reads
    "总共是4955人", "the fee went from 120 to 150 to 199 dollars", "you charged me 4599 twice",
    "was it 2019 or 2020? 2021 I think", "身份证上周 11-23 办的", "the image is 1024px wide",
    "your phone bill is 1299 this month", "my account balance 2450", "卡里有2450",
    "the model is 1500", "订单是2026 1123 0045", "手机价格7439元",
    # written for this test after a probe over the call scripts of benchmarks/*/calls_*.jsonl
    # (no labelled redaction line): magnitudes, prices said in pairs, the numbers of roles
    # and places, public service numbers, codes glued to letters, amounts with thousands
    "it came to two thousand four hundred and ten", "the plan is nineteen ninety-nine",
    "hi, this is Priya, agent ID 5521", "I'm in room 714 and it's freezing",
    "staff number 8830 took my call", "我要打12345投诉", "我那个CA幺二三四航班取消了",
    "客服代表八八一六为您服务",
])
def test_learned_spans_keep_what_the_words_around_mark(text):
    assert detect(text) == []


# Issue 27, eighth round: a reference cue matched only by sound ("留的号" for 单号, "云打" for
# 运单) vetoes no number that starts like a personal one (a mobile's 1[3-9] and most of its
# digits, an ID's birth year): the model reads those characters and decides. An exact
# reference cue, or a number that starts like none, stays a reference. Written for this test.
@pytest.mark.parametrize("text,number", [
    ("银行要我留的号就是现在用的分解158001266771", "158001266771"),
    ("银行让我留的号，就是现在用的，嗯，幺五八零零幺二六六七七幺", "幺五八零零幺二六六七七幺"),
    ("那个云打143503843919白天都能接", "143503843919"),
])
def test_a_reference_heard_by_sound_yields_to_a_personal_lead(text, number):
    _assert_number_covered(text, number)


@pytest.mark.parametrize("text", ["订单号是158001266772", "运单号是139021266774，明天到",
                                  "您的顶端号120923656660"])
def test_an_exact_reference_or_an_impersonal_lead_stays_a_reference(text):
    assert detect(text) == []


# Issue 27, ninth round: a reference cue before a learned span yields to a model that is sure
# (REFERENCE_YIELD_PROBABILITY, chosen leave one author out): an 8 kHz ASR writes "checking"
# as "tracking" and 预留 / 单号 by sound, and the model reads the words around the number
# ("deposit it into my …", no "number" after the cue), the cue table only the cue. Written for
# this test.
def test_a_reference_cue_yields_to_a_sure_model_only():
    text = "Please send it to my tracking 6217 3302 1948 5, same bank as before"
    number = "6217 3302 1948 5"
    start = text.index(number)
    from qa_pipeline.privacy.cues import find_cues

    cues = find_cues(text)
    digits = "6217330219485"
    assert said_otherwise(text, cues, start, start + len(number), digits, probability=0.9)
    assert not said_otherwise(text, cues, start, start + len(number), digits,
                              probability=0.99)
    _assert_number_covered(text, number)
    # a cue that names a number ("tracking number", "单号") vetoes whatever the model says
    named = "The tracking number is 6217 3302 1948 5, same bank as before"
    start = named.index(number)
    assert said_otherwise(named, find_cues(named), start, start + len(number), digits,
                          probability=0.99)
    assert detect("The tracking number is 7731 0042 5519 0036.") == []


# Ninth round: a stretch of digit groups whose joined digits have a certain shape (a mobile
# number, a checksummed card) is one candidate though a group in it reads as an amount: the
# ASR heard a digit as a unit ("136,452分,90817"). Written for this test.
@pytest.mark.parametrize("text,number", [
    ("136,452分,90817,这是我的手机后,有事打就行", "136,452分,90817"),
    ("嗯136,452分,90817这个是我平时用的", "136,452分,90817"),
    ("you can text 139,284 hours, 50617 any time", "139,284 hours, 50617"),
])
def test_a_certain_shape_is_not_cut_at_a_misheard_unit(text, number):
    spans = [text[c.start:c.end] for c in candidates(text, certain=lambda d: len(d) == 11)]
    assert number in spans
    assert [text[c.start:c.end] for c in candidates(text)] != spans
    _assert_number_covered(text, number)


# Ninth round: two numbers that only a generic noun separates are one number read in parts,
# the cue word heard inside it ("621782444 Number 4148653"). Written for this test.
@pytest.mark.parametrize("text,number", [
    ("my savings account number 553219074 Number 4418026 and the sort code is on the letter",
     "553219074 Number 4418026"),
    ("银行卡是622848013 号码 5572019 谢谢", "622848013 号码 5572019"),
])
def test_a_number_read_in_parts_around_a_generic_noun_is_one(text, number):
    assert [p.text for p in detect(text)] == [number]


def test_amounts_with_units_are_still_cut_apart():
    assert detect("我买了135件衣服，花了620分钟，47781元") == []
    text = "退了30元3天到账"
    assert [text[c.start:c.end] for c in candidates(text, certain=lambda d: len(d) == 11)] \
        == ["30", "3"]


# Eighth round: dates and amounts as an 8 kHz ASR writes them, with no cue (written for this
# test): a year and month run into a month word, a date written with dots, round thousands
# whose first group is no thousands group. The rules kept none of them.
@pytest.mark.parametrize("text", ["您的卡是2027-0311月到期", "我是03.05.2019那天下的单",
                                  "the balance came to 1450,000 in total",
                                  # British money in the singular, after a word of a
                                  # number's end ("last"), which lifts other vetoes
                                  "your last bill was for thirty one pound eighty"])
def test_dates_and_round_amounts_written_by_asr_are_kept(text):
    assert detect(text) == []


@pytest.mark.parametrize("text,number", [("我的手机是138,1234,5000", "138,1234,5000"),
                                         ("卡号是6222,0212,3400,0000", "6222,0212,3400,0000")])
def test_a_personal_number_ending_in_zeros_is_still_taken(text, number):
    _assert_number_covered(text, number)


# Eighth round: a personal cue heard only by sound right after a reference cue is that
# reference's own noun misheard (工单编号 as "公单点号", 点号 sounding like 电话); a personal
# cue said exactly there still counts. Written for this test.
@pytest.mark.parametrize("text", ["给您生成了一个公单点号二零三一，四八七九，三四七三，您记一下",
                                  "给您生成了一个公单五点号203148793473您记一下"])
def test_a_cue_heard_right_after_a_reference_is_its_noun(text):
    assert detect(text) == []


def test_an_exact_personal_cue_after_a_reference_still_counts():
    _assert_number_covered("工单电话2031487934您记一下", "2031487934")


def test_a_number_said_alone_is_left_to_its_shape():
    assert learned_spans("三八零零九") == []  # no word on either side: the rules decide
    assert learned_spans("我的是三八零零九") != []


def test_span_features_read_the_words_inside_a_number_and_a_word_of_its_end():
    # eighth round: a word heard inside the stretch (a digit misheard: 次 for 四, "free" for
    # three) and a word of a number's end around it are features of their own
    (_, feats), = [x for x in span_candidates("我的是一五次二八八七六五")
                   if len(x[0].digits) > 3]
    assert feats.get("in:次") == 1.0 and "shape:end_word" not in feats
    (_, feats), = span_candidates("the card ending one free two seven")
    assert feats.get("in:free") == 1.0 and feats.get("shape:end_word") == 1.0


def test_span_candidates_join_groups_and_stop_at_amounts():
    text = "我的是一三九，要二七七，5846，退了30元"
    spans = [(text[c.start:c.end], c.groups) for c in candidates(text)]
    assert spans == [("一三九，要二七七，5846", (3, 3, 4)), ("30", (2,))]


def test_span_model_round_trips_and_reads_its_weights():
    model = SpanModel({"a": 2.0, "b": -1.0}, 0.5, 0.5)
    again = SpanModel.from_json(model.to_json())
    assert again == model
    assert again.probability({"a": 1.0}) == pytest.approx(1 / (1 + math.exp(-2.5)))
    assert again.probability({"b": 1.0}) < 0.5 < again.probability({"a": 1.0})
    shipped = shipped_model()
    assert shipped.weights and 0 < shipped.threshold < 1


def test_span_model_fit_learns_from_labelled_candidates():
    mod = load_script("benchmarks/redaction/span_model.py", "span_model")
    rows = [({"len:11": 1.0, "L:手机": 1.0}, 1)] * 20 + [({"len:4": 1.0, "R:元": 1.0}, 0)] * 20
    model = mod.fit(rows)
    assert model.probability({"len:11": 1.0, "L:手机": 1.0}) > 0.5
    assert model.probability({"len:4": 1.0, "R:元": 1.0}) < 0.5


def test_a_unit_two_words_after_a_number_keeps_it():
    assert detect("you have 2380 reward points") == []
    assert detect("it takes 30 business days") == []


def test_span_model_fitted_without_an_author_finds_that_authors_numbers():
    # leave one author out, the sixth independent half: the rules alone find 177 / 204 there
    mod = load_script("benchmarks/redaction/span_model.py", "span_model")
    folds = mod.fold_samples()
    rows = [r for fold, samples in folds.items() if fold != "heldout6" for s in samples
            for r in mod.labelled(s, span_candidates(s.text))]
    model = mod.fit(rows)
    samples = folds["heldout6"]
    assert sum(len(s.mentions) for s in samples) == 204
    hit, false = _hits_and_false_alarms(samples, lambda t: detect(t, span_model=model))
    # 196 before the eighth round, 200 after it with nine other folds; with heldout8 as a
    # tenth other fold one line ("末税好的290-80", a tail cue misheard) falls to p 0.48
    assert hit >= 199 and false <= 1


# Issue 27, twelfth fold: a word of a number's end followed by a time or a count unit says how
# long or how many ("the last four years", "最后三次"), so it lifts neither the year veto nor
# the learned reading's end_word feature; the same word before digits still names a tail.
@pytest.mark.parametrize("text,number,otherwise", [
    ("2019, the last four years", "2019", True),
    ("2019 for the last 3 months", "2019", True),
    ("2020 was the last time", "2020", True),
    ("2019，最后三年", "2019", True),
    ("2019，最后两个月都在用", "2019", True),
    ("最后一次是2019", "2019", True),
    ("2019 is the last four", "2019", False),
    ("the last four is 2019", "2019", False),
    ("2019是后四位", "2019", False),
    ("最后四个是2019", "2019", False),
])
def test_a_duration_after_an_end_word_is_no_tail(text, number, otherwise):
    start = text.index(number)
    end = start + len(number)
    assert said_otherwise(text, find_cues(text), start, end, number) is otherwise
    cands = [feats for c, feats in span_candidates(text) if c.start == start]
    assert cands and ("shape:end_word" in cands[0]) is not otherwise


# Issue 27, round 13 (written for these tests): a word of a number's end that starts within
# reach after the number is read whole ("…, that's the last bit of it": "last" began inside
# the window and was cut); five digits starting with 1 ("the debit one, 0456") are then a
# tail, not a public service number.
@pytest.mark.parametrize("text,number", [
    ("use the savings one, 0457, that's the last bit of it.", "0457"),
    ("the visa one, two nine two three, that is the last bit of it", "two nine two three"),
])
def test_an_end_word_that_starts_within_reach_after_a_number_is_read_whole(text, number):
    _assert_number_covered(text, number)


def test_an_end_word_before_another_number_is_that_numbers():
    # "ending" after an amount names the card number after it, not the amount
    text = "we renewed the plan at one nineteen ninety-nine, on the card ending 4471."
    assert [p.text for p in detect(text)] == ["4471"]


# Round 13: dates said with an English month name ("December 12, 2025", "October, and 2020"
# with the day lost), and a year said after a long number's cue ("那个号码我12.026.5月8号才办的":
# 年 lost) are dates; a date of month 95 is none ("1.1962.95. 7.1992.95" is a phone
# number the ASR wrote as decimals). Written for these tests.
@pytest.mark.parametrize("text", [
    "The card was activated on March 14, 2024, so it should work.",
    "my account number changed around June, and 2019, and 21, after the move",
    "the card expires Oct 2027",
    "I opened the account on the 3rd of May 2024",
    "the card arrived on 14 February 2023",
    "那个号码我是12.025.3月9号才开通的",
    "那个电话1219 24年10月2号就停了",
    # a stray digit before the month, whose own day follows (heldout10 after its scoring)
    "my ID card was issued 9 April 3, 2020, so it is still valid",
    "the ID card on file was issued 7 June 12 2019",
])
def test_dates_with_month_names_or_after_a_cue_are_kept(text):
    assert detect(text) == []


@pytest.mark.parametrize("text,number", [
    ("you can call me at 1.2051.85. 3.1984.66 in the evening", "1.2051.85. 3.1984.66"),
    ("this is Jan, 13812345678 is my mobile", "13812345678"),
    ("我的手机号是13812345678，2019年办的", "13812345678"),
])
def test_a_number_beside_a_date_word_is_still_taken(text, number):
    _assert_number_covered(text, number)


# A Luhn check passes one number in ten: after a reference cue, a "card" of 13-15 digits is
# the waybill or order number the cue names; a 16-digit card is still a card. Written for
# this test (heldout10, after its scoring, had "快递单号" + 13 digits).
@pytest.mark.parametrize("text", [
    "快递单号30175 5289 1047 显示签收了",   # 13 digits, Luhn-valid
    "the tracking number is 7730194421876",
])
def test_a_short_luhn_number_after_a_reference_cue_is_the_reference(text):
    digits = "".join(c for c in text if c.isdigit())
    assert luhn_ok(digits) and len(digits) == 13
    assert detect(text) == []


def test_a_card_after_a_reference_cue_is_still_a_card():
    _assert_number_covered("my order number is 4539 1488 0343 6467", "4539 1488 0343 6467")


def test_asr_label_leaves_digits_the_asr_made_of_the_prose_out(monkeypatch):
    # round 13: 预留 heard as 一流, "the one" as "that one", 两笔 after the number as 2笔,
    # "after five" as "Five": digits inside the transcript's copy of the prose around the
    # number are not the number, even where they align with its digits
    mod = load_script("benchmarks/redaction/make_asr_lines.py", "make_asr_lines")
    monkeypatch.setitem(sys.modules, "make_asr_lines", mod)
    prose = "好的，跟您确认一下，您预留的手机是{}，没错吧？"
    text = "好的,跟您确认一下,您一流的手机是要3812345678,没错吧"
    start, end = mod.label("13812345678", text, "phone", prose, align=True)
    assert text[start:end] == "3812345678"
    prose = "I think the one on my profile is {}, but I'm not sure."
    text = "I think that one on my profile is 1 3 8, 1 2 3 4, 5 6 7 8, but I'm not sure."
    start, end = mod.label("13812345678", text, "phone", prose, align=True)
    assert text[start:end] == "1 3 8, 1 2 3 4, 5 6 7 8"
    prose = "我那张卡尾号是{}，昨天被扣了两笔钱。"
    assert mod.label("6932", "我那张卡尾号是6932 昨天被扣了2笔钱", "tail", prose,
                     align=True) == (7, 11)
    assert mod.label("6932", "我那张卡尾号是693 昨天被扣了2笔钱", "tail", prose,
                     align=True) == (-1, -1)  # three digits kept: lost
    prose = "You can reach me at {} any time after five."
    text = "you can reach me at 1-9-0-5-6-1-7-5-7-0-8 Penny time after Five."
    start, end = mod.label("19056175708", text, "phone", prose, align=True)
    assert text[start:end] == "1-9-0-5-6-1-7-5-7-0-8"
    # a piece of a word is no copy of the prose (" th" of "that's" is not " th" of "three")
    prose = "Yeah, my cell is {}, that's the best way to get me."
    text = "my cell is one five zero eight eight four one eight time three four, and the " \
           "best way to get me."
    start, end = mod.label("15088418534", text, "phone", prose, align=True)
    assert text[start:end].endswith("three four")
