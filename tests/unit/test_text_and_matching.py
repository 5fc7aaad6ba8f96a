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
    # A numeral inside these words is not a number.
    ("我们一起统一处理", "我们一起统一处理"),
    ("十分感谢万一不行", "十分感谢万一不行"),
    ("等一下再打一三八", "等一下再打138"),
    ("两个", "2个"),
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
    # Typographic apostrophes and full-width forms are read as their ASCII equivalents.
    ("I don\u2019t know", "i do not know"),
    ("ＯＫ，thanks", "ok thanks"),
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


def test_exact_english_phrases_match_whole_words_only():
    options = MatchOptions()
    assert match_phrase("refund", "your refund is on its way", options).method == "exact"
    assert match_phrase("refund", "refunds are on their way", options) is None
    assert match_phrase("fund", "your refund", options) is None
    assert match_phrase("thank you", "thank you2", options) is None


def test_exact_chinese_phrases_match_anywhere():
    hit = match_phrase("客服", "我是vip客服小王", MatchOptions())
    assert hit is not None and (hit.method, hit.score, hit.matched_text) == ("exact", 1.0, "客服")


def test_exact_beats_fuzzy_and_pinyin():
    hit = match_phrase("投诉", "我要投诉", MatchOptions(fuzzy=0.85, pinyin=True))
    assert hit is not None and hit.method == "exact"


def test_fuzzy_hit_is_the_first_phrase_in_list_order():
    from qa_pipeline.rubric.matching import CompiledMatcher

    matcher = CompiledMatcher(("account balance", "your balance is"), (), MatchOptions(fuzzy=0.8))
    texts = {0: normalize("your acount balance is ten"), 1: normalize("nothing here"),
             2: normalize("your balanse is")}
    hits = matcher.fuzzy_hits(texts)
    assert set(hits) == {0, 2}
    assert hits[0].pattern == "account balance"  # both phrases match: the first listed wins
    assert hits[2].pattern == "your balance is" and hits[2].method == "fuzzy"
    assert matcher.first_fuzzy_hit(sorted(texts.items())) == (0, hits[0])
    assert matcher.first_fuzzy_hit([(1, texts[1])]) is None


def _utterance(text: str, probabilities: list[float], language: str):
    from qa_pipeline.types import Role, Utterance, Word

    tokens = list(text) if language == "zh" else text.split()
    assert len(tokens) == len(probabilities)
    words = tuple(Word(float(k), k + 1.0, t, p)
                  for k, (t, p) in enumerate(zip(tokens, probabilities, strict=True)))
    return Utterance(3, "spk_agent", Role.AGENT, 0.7, 1.0, 9.0, text, language, words)


def test_evidence_probability_is_the_mean_of_the_words_the_match_covers():
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.rules.conditions import evidence_for
    from qa_pipeline.types import MatchHit
    from tests.helpers import make_conversation

    ctx = EvaluationContext(make_conversation([["agent", 0, 1, "ok"]]))
    u = _utterance("thank you for calling", [0.9, 0.7, 0.2, 0.4], "en")
    hit = MatchHit("thank you", "exact", 1.0, "thank you")
    e = evidence_for(ctx, u, hit, "note")
    assert e.word_probability == pytest.approx(0.8)  # "thank" and "you" only
    assert (e.utterance_index, e.role, e.start_s, e.end_s, e.quote, e.role_confidence,
            e.match, e.note) == (3, u.role, 1.0, 9.0, u.text, 0.7, hit, "note")
    # No hit, or a match that no word lies inside: the utterance's mean.
    assert evidence_for(ctx, u, None).word_probability == pytest.approx(0.55)
    odd = MatchHit("x", "regex", 1.0, "zzz")
    assert evidence_for(ctx, u, odd).word_probability == pytest.approx(0.55)
    # Chinese: characters are the words; the match's spaces are ignored.
    zh = _utterance("您好很高兴", [0.2, 0.4, 0.9, 0.9, 0.9], "zh")
    hit = MatchHit("您好", "pinyin", 0.75, "您 好")
    assert evidence_for(ctx, zh, hit).word_probability == pytest.approx(0.3)


def test_review_basis_is_the_best_quote_or_the_considered_utterances():
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import _confidence_basis
    from qa_pipeline.types import Evidence, Role, RuleOutcome, Status
    from tests.helpers import make_conversation

    ctx = EvaluationContext(make_conversation(
        [["agent", 0, 1, "one two", 0.6], ["customer", 2, 3, "three", 0.3]], language="en",
        role_confidence=0.8))

    def quote(index: int, p: float, role: float) -> Evidence:
        return Evidence(index, Role.AGENT, 0.0, 1.0, "x", p, role)

    outcome = RuleOutcome(Status.PASS, (quote(0, 0.4, 0.9), quote(1, 0.7, 0.5),
                                        quote(-1, 1.0, 1.0)), "", considered=(0, 1))
    # Highest word probability and highest role confidence among quotes of utterances.
    assert _confidence_basis(outcome, ctx) == (0.7, 0.9)
    # Only a metric quote (no utterance): the considered utterances, word-weighted.
    outcome = RuleOutcome(Status.PASS, (quote(-1, 1.0, 1.0),), "", considered=(0, 1))
    assert _confidence_basis(outcome, ctx) == pytest.approx((0.5, 0.8))
    assert _confidence_basis(RuleOutcome(Status.PASS, (), ""), ctx) is None
