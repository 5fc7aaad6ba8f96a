"""Call-level matching (CallText, one scan of the call for all phrase lists) must give exactly
what matching each utterance on its own gives; these tests compare the two on generated
calls, and check fuzzy, pinyin and exact matching on their own."""

from __future__ import annotations

import random

import pytest
from rapidfuzz import fuzz

from qa_pipeline.rubric.call_text import CallText
from qa_pipeline.rubric.matching import (
    CompiledMatcher,
    MatchOptions,
    _fuzzy,
    match_phrase,
    syllable_bytes,
    syllable_ids,
)
from qa_pipeline.rubric.phrase_index import PhraseIndex
from qa_pipeline.text import normalize


def _typo(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        if not chars:
            break
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.4:
            del chars[i]
        elif op < 0.8:
            chars[i] = rng.choice("aeiostn您你好号不步管关")
        else:
            chars.insert(i, rng.choice("xyz嗯的"))
    return "".join(chars)


FUZZY_PHRASES = {"en": ["thank you for calling", "is there anything else", "i guarantee", "sorry"],
                 "zh": ["不知道", "这不归我管", "您好", "很高兴为您服务"]}
FUZZY_FILLER = {"en": ["okay let me check that", "your order shipped", "yes", "thank",
                       "for calling us"],
                "zh": ["好的我帮您查一下", "订单已经发货了", "嗯", "我管", "不知"]}


def _fuzzy_call(rng: random.Random, language: str, min_utterances: int,
                planted: float) -> list[str]:
    """Filler utterances, each holding a typo'd phrase with probability ``planted``."""
    utts = []
    for _ in range(rng.randint(min_utterances, 12)):
        parts = [rng.choice(FUZZY_FILLER[language])]
        if rng.random() < planted:
            parts.insert(rng.randint(0, 1), _typo(rng, rng.choice(FUZZY_PHRASES[language])))
        utts.append((" " if language == "en" else "").join(parts))
    return utts


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("threshold", [0.75, 0.85, 0.9])
def test_first_fuzzy_hit_is_the_first_of_all_fuzzy_hits(language, threshold):
    rng = random.Random(f"first{language}{threshold}")
    matcher = CompiledMatcher(tuple(FUZZY_PHRASES[language]), (), MatchOptions(fuzzy=threshold))
    found = 0
    for _ in range(300):
        utts = _fuzzy_call(rng, language, 0, 0.15)
        texts = [(3 * i, normalize(t)) for i, t in enumerate(utts)]  # any increasing indices
        every = matcher.fuzzy_hits(dict(texts))
        expected = next(((i, every[i]) for i, _ in texts if i in every), None)
        assert matcher.first_fuzzy_hit(texts) == expected, utts
        found += expected is not None
    assert found > 50


def test_fuzzy_matching_of_a_long_call_finds_every_hit():
    matcher = CompiledMatcher(("thank you",), (), MatchOptions(fuzzy=0.85))
    texts = [(i, "thank you so much" if i % 2 else "thank yu so much") for i in range(3000)]
    assert len(matcher.fuzzy_hits(dict(texts))) == 3000
    assert matcher.first_fuzzy_hit(texts)[0] == 0
    assert matcher.first_fuzzy_hit([(i, "zzz qqq xxx") for i in range(3000)]) is None


def test_chinese_fuzzy_does_not_match_a_fragment_of_the_phrase():
    # Aligned inside the phrase, 我管 scored 100 against 这不归我管.
    assert match_phrase("这不归我管", "我管", MatchOptions(fuzzy=0.85)) is None
    hit = match_phrase("这不归我管", "这个不归我管", MatchOptions(fuzzy=0.85))
    assert hit is not None and hit.method == "fuzzy"


HOMOPHONES = {"诉": "注", "服": "福", "您": "你", "好": "号", "歉": "欠", "再": "在", "见": "建",
              "核": "合", "实": "是", "身": "生", "份": "分", "证": "正"}


def test_pinyin_call_scan_finds_exactly_the_per_utterance_hits():
    rng = random.Random(11)
    phrases = ("投诉", "客服", "您好", "抱歉", "再见", "核实身份", "身份证后四位", "很高兴为您服务")
    filler = ["好的", "我帮您查一下", "订单已经发货了", "嗯", "您的号码", "再来"]
    matcher = CompiledMatcher(phrases, (), MatchOptions(pinyin=True))
    total = 0
    for _ in range(200):
        utts = []
        for _ in range(rng.randint(1, 10)):
            text = rng.choice(filler)
            if rng.random() < 0.6:
                p = "".join(HOMOPHONES.get(ch, ch) if rng.random() < 0.3 else ch
                            for ch in rng.choice(phrases))
                text = text + p if rng.random() < 0.5 else p + text
            if rng.random() < 0.1:
                text = "okay " + text if rng.random() < 0.5 else "okay thanks"
            utts.append(text)
        call = CallText(tuple(utts))
        indices = sorted(rng.sample(range(len(utts)), rng.randint(1, len(utts))))
        candidates = PhraseIndex((matcher,)).pinyin_candidates(call)[id(matcher)]
        got = {i: (h.pattern, h.score, h.matched_text)
               for i, h in matcher.pinyin_hits(call, candidates, indices).items()}
        expected = {}
        for i in indices:
            norm = call.normalized[i]
            if matcher.exact is not None and matcher.exact.search(norm):
                continue  # exact beats pinyin: compare only utterances left to pinyin
            hit = matcher.find_tolerant(utts[i], norm)
            if hit is not None:
                expected[i] = (hit.pattern, hit.score, hit.matched_text)
        got = {i: v for i, v in got.items() if not matcher.exact.search(call.normalized[i])}
        assert got == expected, utts
        total += len(got)
    assert total > 50


def test_one_scan_for_many_phrase_lists_equals_each_list_on_each_utterance():
    # Overlapping lists (a phrase inside another, shared phrases, mixed scripts) and English
    # word boundaries: the rubric-wide automaton must pick, per list and utterance, the hit
    # that list's own regular expression picks.
    rng = random.Random(23)
    lists = [("thank you", "thank you for calling", "you"), ("you for", "calling", "call"),
             ("客服", "客服电话", "服务"), ("vip客服", "ok", "for calling"), ("a", "an", "banana")]
    matchers = [CompiledMatcher(p, (), MatchOptions()) for p in lists]
    index = PhraseIndex(matchers)
    words = ["thank", "you", "for", "calling", "calls", "yous", "客服", "电话", "服务", "vip",
             "ok", "okay", "banana", "a", "an", "bananas", "1", "x"]
    total = 0
    for _ in range(300):
        utts = [(" " if rng.random() < 0.7 else "").join(
            rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(1, 9))]
        call = CallText(tuple(utts))
        exact = index.exact_hits(call)
        for matcher in matchers:
            expected = {}
            for i, norm in enumerate(call.normalized):
                m = next(matcher._exact_matches(norm), None)
                if m is not None:
                    expected[i] = m.group(0)
            assert exact[id(matcher)] == expected, (matcher.normalized_phrases, utts)
            total += len(expected)
    assert total > 500


def test_syllable_ids_are_per_merged_syllable():
    ids = syllable_ids("是四在再")  # shi/si merge; zai/zai
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    # Byte codes for the automaton scan: little-endian, four bytes per id.
    assert syllable_bytes([1, 0x12345]) == bytes([1, 0, 0, 0, 0x45, 0x23, 0x01, 0])
    call = CallText(("是在", "ok"))
    assert call.syllables == syllable_ids("是在\x1fok") and call.syllables[2] == 1


def test_context_hits_on_parts_of_the_call_equal_hits_on_the_whole_call():
    from qa_pipeline.rubric.context import EvaluationContext
    from tests.helpers import make_conversation

    rng = random.Random(5)
    texts = ["您好很高兴为您服务", "我要投注你们", "不好意思给您带来不便", "你好", "再建",
             "okay sure", "thank you for colling", "核实身份", "嗯"]
    rows = [[rng.choice(["agent", "customer"]), 2.0 * i, 2.0 * i + 1.5, rng.choice(texts)]
            for i in range(40)]
    conv = make_conversation(rows)
    matcher = CompiledMatcher(("您好", "投诉", "抱歉", "再见", "thank you for calling"), (),
                              MatchOptions(pinyin=True, fuzzy=0.85))
    whole = EvaluationContext(conv).hits(matcher, conv.utterances)
    assert whole  # the call does hold matches of every kind
    assert {h.method for h in whole.values()} >= {"exact", "pinyin", "fuzzy"}
    parts = EvaluationContext(conv)
    seen: dict = {}
    for chunk in (conv.utterances[30:], conv.utterances[5:12], conv.utterances[::3],
                  conv.utterances):
        seen.update(parts.hits(matcher, chunk))
        assert parts.hits(matcher, chunk) == {u.index: whole[u.index] for u in chunk
                                               if u.index in whole}
    assert seen == whole


def test_scanned_matcher_hits_in_a_call_equal_find_on_each_utterance():
    # Exact and pinyin phrases only: the context takes every hit from the call's scan (pinyin
    # windows only where the matcher has no exact hit); each must be what matching the
    # utterance alone gives.
    from qa_pipeline.rubric.context import EvaluationContext
    from tests.helpers import make_conversation

    rng = random.Random(17)
    phrases = ("投诉", "客服", "您好", "抱歉", "核实身份", "身份证后四位", "很高兴为您服务")
    matcher = CompiledMatcher(phrases, (), MatchOptions(pinyin=True))
    assert matcher.scanned
    filler = ["好的", "我帮您查一下", "订单已经发货了", "嗯", "您的号码", "okay"]
    methods: list[str] = []
    for _ in range(80):
        rows = []
        for i in range(rng.randint(1, 12)):
            text = rng.choice(filler)
            if rng.random() < 0.6:
                text += "".join(HOMOPHONES.get(ch, ch) if rng.random() < 0.3 else ch
                                for ch in rng.choice(phrases))
            rows.append([rng.choice(["agent", "customer"]), 2.0 * i, 2.0 * i + 1.5, text])
        conv = make_conversation(rows)
        got = EvaluationContext(conv).hits(matcher, conv.utterances)
        expected = {u.index: hit for u in conv.utterances
                    if (hit := matcher.find(u.text)) is not None}
        assert got == expected, [u.text for u in conv.utterances]
        methods.extend(h.method for h in got.values())
    assert {"exact", "pinyin"} <= set(methods)


def test_pinyin_index_learns_syllables_first_seen_after_it_was_built(monkeypatch):
    # The automaton holds the phrase variants built from the syllables seen so far; a call
    # that brings a new confusable syllable must still be matched (the index rebuilds).
    from qa_pipeline.rubric import matching

    monkeypatch.setattr(matching, "_SYLLABLE_NAMES", ["", matching.SEPARATOR])
    monkeypatch.setattr(matching, "_ID_OF_NAME", {})
    monkeypatch.setattr(matching, "_ID_OF_CHAR", {matching.SEPARATOR: 1})
    monkeypatch.setattr(matching, "_NEIGHBOURS", {})
    matcher = CompiledMatcher(("投诉电话",), (), MatchOptions(pinyin=True))
    index = PhraseIndex((matcher,))
    quiet = CallText(("好的", "我帮您查一下"))
    assert index.pinyin_candidates(quiet)[id(matcher)] == {}
    # 注 (zhu -> zu) was never seen: one confusable syllable in a four-syllable phrase.
    call = CallText(("好的", "我要打投注电话"))
    candidates = index.pinyin_candidates(call)[id(matcher)]
    hits = matcher.pinyin_hits(call, candidates, [0, 1])
    assert set(hits) == {1} and hits[1].matched_text == "投注电话"
    assert hits[1].method == "pinyin" and hits[1].score == 1 - 1 / 8


FIRST_HIT_CASES = {
    "pinyin and fuzzy": (
        ("您好", "投诉", "抱歉", "再见", "thank you for calling"),
        MatchOptions(pinyin=True, fuzzy=0.85),
        ["您好很高兴为您服务", "我要投注你们", "不好意思给您带来不便", "你好", "再建", "okay",
         "thank you for colling", "thank you for calling", "核实身份", "嗯", "投诉"],
        {"exact", "fuzzy", "pinyin"}),
    # Pinyin only: every hit is named by the call's scan (no per-utterance matching).
    "pinyin only": (
        ("您好", "投诉", "抱歉", "再见", "核实身份"),
        MatchOptions(pinyin=True),
        ["您好很高兴为您服务", "我要投注你们", "不好意思给您带来不便", "你好", "再建", "okay",
         "核实身分", "嗯", "投诉", "报欠报欠"],
        {"exact", "pinyin"}),
    # Fuzzy only: the search stops at the first fuzzy hit (first_fuzzy_hit).
    "fuzzy only": (
        ("your balance is", "account balance", "verify", "date of birth"),
        MatchOptions(fuzzy=0.85),
        ["your balance is ten", "your balanse is", "the acount balance", "yes", "verifi",
         "let me verify that", "date of brith please", "okay thanks", "balance", "dat of birth"],
        {"exact", "fuzzy"}),
}


@pytest.mark.parametrize("case", sorted(FIRST_HIT_CASES))
def test_first_hit_is_the_first_of_all_hits_that_passes(case):
    """Order rules ask only for the first hit; tolerant matching then runs only up to the next
    exact hit (fuzzy matching alone: up to its first hit), and the answer must be what
    matching every utterance gives."""
    from qa_pipeline.rubric.context import EvaluationContext
    from tests.helpers import make_conversation

    phrases, options, texts, expected_kinds = FIRST_HIT_CASES[case]
    rng = random.Random(11)
    matcher = CompiledMatcher(phrases, (), options)
    kinds = set()
    for _ in range(60):
        rows = [[rng.choice(["agent", "customer"]), 2.0 * i, 2.0 * i + 1.5, rng.choice(texts)]
                for i in range(rng.randint(1, 25))]
        conv = make_conversation(rows)
        pairs = EvaluationContext(conv).hit_pairs(matcher, conv.utterances)
        shared = EvaluationContext(conv)  # caches filled by earlier questions
        for _ in range(6):
            start = rng.randrange(len(conv.utterances))
            chunk = conv.utterances[start:start + rng.randint(0, 12)]
            banned = {u.index for u in conv.utterances if rng.random() < 0.3}

            def accept(u, _hit, banned=banned):
                return u.index not in banned

            expected = next(((u, h) for u, h in pairs if u in chunk and accept(u, h)), None)
            assert EvaluationContext(conv).first_hit(matcher, chunk, accept) == expected
            assert shared.first_hit(matcher, chunk, accept) == expected
            assert shared.first_hit(matcher, chunk) == next(
                ((u, h) for u, h in pairs if u in chunk), None)
            if expected is not None:
                kinds.add(expected[1].method)
    assert kinds >= expected_kinds


def test_contractions_gated_by_their_literal_equal_every_pattern_applied():
    import re

    from qa_pipeline.text import _CONTRACTIONS, _expand_contractions

    rng = random.Random(6)
    pieces = ["won't", "can't", "cannot", "ain't", "shan't", "n't", "'re", "'ll", "'ve", "'d",
              "i'm", "let's", "it's", "who's", "'s", "i", "m", "it", " ", "x", "'", "d", "s"]
    changed = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        expected = text
        for _, pattern, repl in _CONTRACTIONS:
            expected = re.sub(pattern, repl, expected)
        assert _expand_contractions(text) == expected, text
        changed += expected != text
    assert changed > 10000


def test_english_fuzzy_window_is_the_best_scoring_first_window():
    # _fuzzy scores the word windows with rapidfuzz's extractOne; it must pick what scoring
    # each window in turn picks: the best score at or above the threshold, the first of equals.
    def reference(phrase: str, text: str, threshold: float) -> tuple[float, str] | None:
        words = text.split()
        n = len(phrase.split())
        best = None
        for size in sorted({max(1, n - 1), n, n + 1}):
            for i in range(0, max(1, len(words) - size + 1)):
                window = " ".join(words[i:i + size])
                score = fuzz.ratio(phrase, window) / 100.0
                if score >= threshold and (best is None or score > best[0]):
                    best = (score, window)
        return best

    rng = random.Random(8)
    vocab = ["your", "balance", "balanse", "is", "the", "account", "acount", "thank", "you",
             "for", "calling", "colling", "abcdefghij", "abcdefghiz", "a", "x"]
    found = 0
    for _ in range(3000):
        phrase = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3)))
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 9))]
        # mostly normalised spacing (windows are slices), sometimes not (windows are joined)
        text = rng.choice(["", "", " "]) + rng.choice([" ", " ", "  "]).join(words)
        threshold = rng.choice([0.5, 0.6, 0.85, 0.9, 0.95])
        expected = reference(phrase, text, threshold)
        assert _fuzzy(phrase, text, threshold) == expected, (phrase, text, threshold)
        found += expected is not None
    # A window scoring exactly the threshold passes.
    assert _fuzzy("abcdefghijklmnopqrst", "x abcdefghijkzzzzzzzzz", 0.55) == (
        0.55, "abcdefghijkzzzzzzzzz")
    assert found > 500


def test_scopes_equal_filtering_every_utterance():
    # Time-window scopes are taken from the role's (cached) utterances; they must equal
    # filtering the whole call by role, start and end, and repeat as the same tuple.
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.types import Role
    from tests.helpers import make_conversation

    rng = random.Random(9)
    for _ in range(200):
        rows, t = [], 0.0
        for _ in range(rng.randint(0, 25)):
            start = t + rng.uniform(-1.0, 3.0)  # overlaps and gaps
            rows.append([rng.choice(["agent", "customer"]), max(start, 0.0),
                         max(start, 0.0) + rng.uniform(0.2, 6.0), "好的"])
            t = max(start, 0.0)
        conv = make_conversation(rows, duration_s=t + rng.uniform(1.0, 20.0))
        ctx = EvaluationContext(conv)
        for role in (None, Role.AGENT, Role.CUSTOMER):
            for within_s in (None, 5.0, 15.0):
                for last_s in (None, 10.0, 30.0):
                    got = ctx.utterances(role, within_s, last_s)
                    expected = tuple(u for u in conv.utterances if (
                        role is None or u.role is role) and (
                        within_s is None or u.start_s <= within_s) and (
                        last_s is None or u.end_s >= conv.duration_s - last_s))
                    assert got == expected
                    assert ctx.utterances(role, within_s, last_s) is got
                    assert ctx.indices(got) == tuple(u.index for u in expected)


def test_confidence_of_considered_utterances_is_the_word_weighted_mean():
    from qa_pipeline.rubric.context import EvaluationContext
    from tests.helpers import make_conversation

    conv = make_conversation([["agent", 0, 2, "one two three", 0.9],
                              ["customer", 3, 4, "four", 0.5],
                              ["agent", 5, 6, "five six", 0.3]], language="en")
    ctx = EvaluationContext(conv)
    wp, role = ctx.confidence_of((0, 1, 2))
    assert wp == pytest.approx((3 * 0.9 + 0.5 + 2 * 0.3) / 6) and role == 1.0
    assert ctx.confidence_of((0, 2, 99, -1)) == pytest.approx(((3 * 0.9 + 2 * 0.3) / 5, 1.0))
    assert ctx.confidence_of((99,)) is None
    assert ctx.confidence_of((0, 1, 2)) == (wp, role)  # answered again from the cache


@pytest.mark.parametrize("texts", [("hello there", "", "ok. thanks"), ("您好", "ok", "", "谢谢您")])
def test_utf8_offsets_are_where_each_utterance_starts_in_the_bytes(texts):
    call = CallText(texts)
    expected, position = [], 0
    for n in call.normalized:
        expected.append(position)
        position += len(n.encode("utf-8")) + 1
    assert call.utf8_offsets == expected


def test_hits_in_a_scope_are_those_of_its_utterances_in_the_order_given():
    """A scope from ``utterances()`` with few hits looks the hits up in the scope; any other
    tuple (reversed, repeated) is walked as given. Both must give what matching each
    utterance gives."""
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.types import Role
    from tests.helpers import make_conversation

    matcher = CompiledMatcher(("投诉", "您好"), (), MatchOptions(pinyin=True))
    rng = random.Random(5)
    texts = ["好的", "我要投注", "您好", "嗯", "没问题", "稍等", "可以", "谢谢", "对", "是的",
             "明白", "请讲", "好", "行", "知道了", "马上"]
    for _ in range(40):
        rows = [[rng.choice(["agent", "customer"]), 2.0 * i, 2.0 * i + 1.5, rng.choice(texts)]
                for i in range(rng.randint(1, 40))]
        conv = make_conversation(rows)
        ctx = EvaluationContext(conv)
        expected = {u.index: matcher.find(u.text) for u in conv.utterances}
        for role in (None, Role.AGENT, Role.CUSTOMER):
            scope = ctx.utterances(role)
            for utterances in (scope, scope, tuple(reversed(scope)), scope + scope[:3]):
                assert ctx.hit_pairs(matcher, utterances) == [
                    (u, expected[u.index]) for u in utterances if expected[u.index]]
