from __future__ import annotations

import pytest

from qa_pipeline.rubric.matching import MatchOptions, match_phrase, pinyin_syllables
from qa_pipeline.text import normalize, zh_numeral_to_int


@pytest.mark.parametrize("raw,expected", [
    ("您好，很高興為您服務！", "您好很高兴为您服务"),
    ("ＡＢＣ１２３", "abc123"),
    ("三百二十元", "320元"),
    ("两万五", "25000"),
    ("尾号一三八九", "尾号1389"),
    ("幺三八", "138"),
    ("请稍等一下", "请稍等一下"),
    ("十五分钟", "15分钟"),
])
def test_normalize_zh(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("I don't know!", "i do not know"),
    ("We can't help, it's late.", "we can not help it is late"),
    ("twenty five dollars", "25 dollars"),
    ("two hundred and fifty", "250"),
    ("I'm sure", "i am sure"),
    # Digits read out one by one are separate numbers, not summed (was "6" and "18").
    ("one two three", "1 2 3"),
    ("four five seven two", "4 5 7 2"),
    ("one hundred twenty three", "123"),
    ("two thousand and five", "2005"),
    ("nineteen eighty four", "19 84"),
])
def test_normalize_en(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("run,value", [("三百二十", 320), ("二十四", 24), ("十", 10),
                                       ("一千零五", 1005), ("三百五", 350)])
def test_zh_numerals(run, value):
    assert zh_numeral_to_int(run) == value


def test_pinyin_merges_confusable_sounds():
    assert pinyin_syllables("是") == pinyin_syllables("四")  # shi/si


@pytest.mark.parametrize("phrase,text,method", [
    ("客服", "我是克服小王", "pinyin"),
    ("投诉", "我要投注", "pinyin"),
    ("账户余额", "您的账户娱乐是", "pinyin"),
])
def test_homophones(phrase, text, method):
    hit = match_phrase(phrase, text, MatchOptions(pinyin=True))
    assert hit is not None and hit.method == method


@pytest.mark.parametrize("phrase,text", [
    ("理赔给您", "我们会在二十四小时内给您回复"),
    ("投诉", "头发"),
])
def test_pinyin_rejects_distant_sounds(phrase, text):
    assert match_phrase(phrase, text, MatchOptions(pinyin=True)) is None


def test_hit_records_what_matched():
    hit = match_phrase("thank you for calling", "thank you for caling acme",
                       MatchOptions(fuzzy=0.85))
    assert hit is not None and hit.method == "fuzzy"
    assert hit.matched_text.startswith("thank you for caling") and 0.85 <= hit.score < 1
