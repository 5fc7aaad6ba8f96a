"""The compiled rubric kernels (_kernels.c) must return exactly what their pure-Python twins
(qa_pipeline.kernels.py_*) return, on random inputs, and the engine must score calls
the same with either set."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_pipeline import kernels
from qa_pipeline.types import Role, Utterance, Word

REPO = Path(__file__).resolve().parents[2]

try:
    from qa_pipeline import _kernels as native
except ImportError:  # pragma: no cover - only without a C compiler at install time
    native = None

needs_native = pytest.mark.skipif(
    native is None and not os.environ.get("CI"),
    reason="the C kernels are not built (no compiler at install time)")

probabilities = st.one_of(st.floats(0, 1), st.sampled_from([0.1, 0.2, 0.3, 1e-300, 1e16]))
short = st.text(alphabet="ab c中文 ", max_size=4)


def _word(text: str, p: float) -> Word:
    return Word(0.0, 1.0, text, p)


def _utterance(i: int, probs: list[float], role_confidence: float) -> Utterance:
    return Utterance(i, "S0", Role.AGENT, role_confidence, 0.0, 1.0, "x", "en",
                     tuple(_word("w", p) for p in probs))


def test_ci_builds_and_uses_the_compiled_kernels():
    # CI installs with QA_PIPELINE_REQUIRE_NATIVE=1; this catches a build that silently fell
    # back to the twins anyway.
    if os.environ.get("CI"):
        assert native is not None and kernels.NATIVE
    assert kernels.NATIVE == (native is not None
                              and os.environ.get("QA_PIPELINE_PURE_PYTHON", "") in ("", "0"))


fuzzy_text = st.text(alphabet="abcde fg中文国", max_size=40)
ascii_text = st.text(alphabet="aabcde fg", max_size=40)


def _reachable_and_sound(phrase: str, texts: list[str], bound: float, min_length: int) -> None:
    from rapidfuzz import fuzz

    found = native.reachable(phrase, texts, bound, min_length)
    assert found == kernels.py_reachable(phrase, texts, bound, min_length)
    for k, text in enumerate(texts):
        if len(text) < min_length:
            assert k not in found
        elif k not in found:  # sound: the alignment it lets the caller skip finds nothing
            assert fuzz.partial_ratio_alignment(phrase, text, score_cutoff=bound) is None


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcde fg中文国", min_size=0, max_size=12),
       st.lists(fuzzy_text, max_size=4), st.floats(0, 100), st.integers(0, 12))
def test_reachable_equals_its_twin_and_never_rules_out_a_passing_alignment(
        phrase, texts, bound, min_length):
    _reachable_and_sound(phrase, texts, bound, min_length)


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aabcde f", min_size=1, max_size=12), st.lists(ascii_text, max_size=6),
       st.floats(30, 100))
def test_reachable_on_one_byte_texts_equals_its_twin(phrase, texts, bound):
    # The one-byte path counts in a table shared by the texts of a call and resets only what
    # it touched: a leftover count would show in the texts after it.
    _reachable_and_sound(phrase, texts, bound, 0)


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aab", min_size=3, max_size=8), st.lists(st.text(
    alphabet="aabc", min_size=9, max_size=40), max_size=3), st.floats(55, 100))
def test_reachable_counts_repeated_characters_as_its_twin(phrase, texts, bound):
    # Windows holding a character more often than the phrase does (the count must not
    # drop when one copy too many leaves the window).
    assert native.reachable(phrase, texts, bound, 0) == kernels.py_reachable(
        phrase, texts, bound, 0)


def test_reachable_rules_out_what_shares_too_little():
    from rapidfuzz import fuzz

    phrase, text = "i apologize for that", "thank you for calling have a nice day " * 5
    bound = 100 * 0.85 / (2 - 0.85)
    assert fuzz.partial_ratio_alignment(phrase, text, score_cutoff=bound) is None
    for reachable in {kernels.py_reachable, kernels.reachable}:
        assert reachable(phrase, [text], bound, 0) == []
        assert reachable(phrase, [text, text + " i apologise for that"], bound, 0) == [1]
        assert reachable(phrase, ["x" * 70 + phrase[:-1]], bound, 0) == [0]
        # Only a prefix (or suffix) shorter than the phrase reaches 50 here: 200 * 4 / 14.
        for text in ("ghij" + "z" * 30, "z" * 30 + "abcd"):
            assert fuzz.partial_ratio_alignment("abcdefghij", text, score_cutoff=50)
            assert reachable("abcdefghij", [text], 50.0, 0) == [0]
            assert reachable("abcdefghij", [text], 58.0, 0) == []
        assert reachable("x" * 65, ["y" * 100], 99.0, 0) == [0]  # not bounded here
        # Texts shorter than min_length are left out; texts no longer than the phrase are
        # not bounded.
        assert reachable("abcdefghij", ["abc", "zzzzzzzzzz"], 99.0, 4) == [1]


@dataclasses.dataclass(frozen=True, slots=True)
class _Frozen:
    a: int
    b: object = None


@pytest.mark.parametrize("make", [kernels.py_frozen_new, getattr(native, "frozen_new", None)])
def test_frozen_new_builds_what_the_dataclass_init_builds(make):
    if make is None:
        pytest.skip("the C kernels are not built")
    from qa_pipeline.rubric.engine import CriterionResult
    from qa_pipeline.types import Evidence, MatchHit

    hit = MatchHit("p", "exact", 1.0, "p")
    evidence = make(Evidence, ("utterance_index", "role", "start_s", "end_s", "quote",
                               "word_probability", "role_confidence", "match", "note"),
                    3, Role.AGENT, 1.0, 2.0, "q", 0.5, 0.9, hit, "n")
    assert evidence == Evidence(3, Role.AGENT, 1.0, 2.0, "q", 0.5, 0.9, hit, "n")
    assert hash(evidence) == hash(Evidence(3, Role.AGENT, 1.0, 2.0, "q", 0.5, 0.9, hit, "n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        evidence.note = "changed"  # type: ignore[misc]
    assert make(_Frozen, ("a", "b"), 1, [2]) == _Frozen(1, [2])
    with pytest.raises(ValueError):
        make(_Frozen, ("a", "b"), 1)
    with pytest.raises(AttributeError):
        make(_Frozen, ("a", "c"), 1, 2)
    # constructor() takes every field in order and refuses what __init__ must run for.
    new = kernels.constructor(CriterionResult)
    if kernels.NATIVE:
        assert new.args[1] == tuple(f.name for f in dataclasses.fields(CriterionResult))
    else:
        assert new is CriterionResult

    @dataclasses.dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError

    with pytest.raises(TypeError):
        kernels.constructor(Checked)


def test_pure_python_is_chosen_by_environment():
    code = "from qa_pipeline import kernels as k; print(k.NATIVE, k.covered_mean.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO,
                         env={**os.environ, "QA_PIPELINE_PURE_PYTHON": "1"}).stdout.split()
    assert out == ["False", "py_covered_mean"]


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(short, probabilities), max_size=12),
       st.text(alphabet="ab c中文", max_size=12), st.dictionaries(short, short, max_size=4))
def test_covered_mean_equals_its_twin(pairs, target, cached):
    words = tuple(_word(text, p) for text, p in pairs)

    def form_of(text: str) -> str:
        return text.replace(" ", "")[::-1]  # any function of the text

    forms: dict[str, str] = {}
    want = kernels.py_covered_mean(words, target, {}, form_of)
    for _ in range(2):  # the second time from the forms the first one cached
        assert native.covered_mean(words, target, forms, form_of) == want
    assert forms == {w.text: form_of(w.text) for w in words}
    # Cached forms are used as they are (not recomputed).
    assert native.covered_mean(words, target, dict(cached), form_of) == \
        kernels.py_covered_mean(words, target, dict(cached), form_of)


@needs_native
def test_float_sums_follow_the_interpreters_sum():
    # sum() adds floats plainly before Python 3.12 and with Neumaier compensation from 3.12
    # on; these values give different totals under the two (checked under 3.11 and 3.12).
    probs = [1e16, 1.0, -1e16, 0.1, 0.2]
    words = tuple(_word("a", p) for p in probs)
    assert native.covered_mean(words, "a", {}, str) == sum(probs) / len(probs)
    utterance = _utterance(0, probs, 1.0)
    assert native.word_stats([utterance])[0] == [sum(probs)]


@needs_native
def test_covered_mean_fails_as_its_twin_fails():
    def broken(text: str) -> str:
        raise KeyError(text)

    for covered_mean in (native.covered_mean, kernels.py_covered_mean):
        with pytest.raises(KeyError):
            covered_mean((_word("a", 0.5),), "a", {}, broken)
        with pytest.raises(AttributeError):
            covered_mean((object(),), "a", {}, str)
    # An empty form never counts as covered.
    assert native.covered_mean((_word("a", 0.5),), "a", {"a": ""}, str) is None


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(short, probabilities), max_size=10), st.floats(0, 1),
       st.one_of(st.none(), st.text(alphabet="ab c中文 ", max_size=10)), short)
def test_quote_equals_its_twin(pairs, role_confidence, matched, note):
    from qa_pipeline.rubric.rules.conditions import _compact_form
    from qa_pipeline.types import Evidence, MatchHit

    words = tuple(_word(text, p) for text, p in pairs)
    utterance = Utterance(7, "S1", Role.CUSTOMER, role_confidence, 1.5, 4.25, "quoted text",
                          "zh", words)
    hit = None if matched is None else MatchHit("phrase", "fuzzy", 0.9, matched)
    names = tuple(f.name for f in dataclasses.fields(Evidence))
    forms: dict[str, str] = {}
    want = kernels.py_quote(Evidence, names, {}, _compact_form, utterance, hit, note)
    for _ in range(2):  # the second time from the forms the first one cached
        got = native.quote(Evidence, names, forms, _compact_form, utterance, hit, note)
        assert type(got) is Evidence and repr(got) == repr(want) and got == want
    # No hit, nothing matched or no word covered: the utterance's mean word probability.
    if matched is None or not matched or kernels.py_covered_mean(
            words, matched.replace(" ", ""), {}, _compact_form) is None:
        assert want.word_probability == utterance.mean_word_probability


class _ScaledWord(Word):
    """A Word whose probability is a property over the base class's slot."""

    __slots__ = ()

    def _scaled(self) -> float:
        return 0.5 * Word.probability.__get__(self)  # type: ignore[attr-defined]

    def _store(self, value: float) -> None:
        Word.probability.__set__(self, value)  # type: ignore[attr-defined]

    probability = property(_scaled, _store)  # type: ignore[assignment]


class _LoudWord(Word):
    """A Word with its own attribute lookup."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> object:
        value = super().__getattribute__(name)
        return value.upper() if name == "text" else value


@needs_native
def test_kernels_read_attributes_of_any_type_as_python_does():
    # The kernels read slots directly where a type keeps an attribute in one, and through
    # getattr otherwise: objects of several kinds mixed in one call must read as the twins
    # read them (the per-type cache switches with the type).
    from types import SimpleNamespace

    words = (_word("a", 0.25), SimpleNamespace(text="b", probability=0.75), _word("c", 1.0),
             _ScaledWord(0.0, 1.0, "d", 0.9), SimpleNamespace(text="a", probability=0.5),
             _LoudWord(0.0, 1.0, "e", 0.125))
    for target in ("abcdE", "b", "d", "e", "x"):
        assert native.covered_mean(words, target, {}, str) == \
            kernels.py_covered_mean(words, target, {}, str)
    utterances = [_utterance(0, [0.5, 0.25], 0.75),
                  SimpleNamespace(words=words, role_confidence=0.5), _utterance(2, [], 1.0)]
    assert native.word_stats(utterances) == kernels.py_word_stats(utterances)
    # An unset slot raises AttributeError, as the attribute read does.
    empty = object.__new__(Word)
    for word_stats in (native.word_stats, kernels.py_word_stats):
        with pytest.raises(AttributeError):
            word_stats([SimpleNamespace(words=(empty,), role_confidence=1.0)])


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 5), st.one_of(st.floats(0, 1), st.just(float("nan"))),
                          st.floats(0, 1)), max_size=6))
def test_best_quote_equals_its_twin(items):
    from qa_pipeline.types import Evidence

    evidence = tuple(Evidence(i, Role.AGENT, 0.0, 1.0, "q", p, r) for i, p, r in items)
    assert repr(native.best_quote(evidence)) == repr(kernels.py_best_quote(evidence))


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.lists(probabilities, max_size=5),
                          st.one_of(st.floats(0, 1), st.just(float("nan")))), max_size=6),
       st.lists(st.integers(-3, 8), max_size=8))
def test_mean_confidence_equals_its_twin(spec, considered):
    # From word_stats' lists (an utterance without words sums to the int 0), any indices.
    stats = kernels.py_word_stats([_utterance(i, probs, role)
                                   for i, (probs, role) in enumerate(spec)])
    want = kernels.py_mean_confidence(tuple(considered), *stats)
    assert repr(native.mean_confidence(tuple(considered), *stats)) == repr(want)


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["one", "twenty", "on", "ones", "tw", "x", "\x00"]),
                          st.text(alphabet=" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x00abo",
                                  max_size=4)), max_size=12),
       st.sampled_from(["\x00", "a", "\x1f", "é"]))
def test_squeeze_words_equals_its_twin(pieces, separator):
    # Every ASCII character str.split() treats as whitespace, separators next to words and
    # to each other, words that only start like a vocabulary word.
    text = "".join(pieces)
    vocabulary = ("one", "twenty", "zéro", "")
    assert native.squeeze_words(text, separator, vocabulary) == \
        kernels.py_squeeze_words(text, separator, vocabulary)


@needs_native
def test_squeeze_words_refuses_what_its_twin_refuses():
    for squeeze_words in (native.squeeze_words, kernels.py_squeeze_words):
        with pytest.raises(ValueError, match="ASCII"):
            squeeze_words("naïve one", "\x00", ("one",))
        with pytest.raises(TypeError):
            squeeze_words("one", "", ("one",))
    assert native.squeeze_words("", "\x00", ()) == ([""], False)
    assert native.squeeze_words(" a  b \x00\x00 one ", "\x00", ("one",)) == (
        ["a b", "", "one"], True)


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab 中文\x1f\ud800\U0001f600", max_size=30), st.sampled_from([2, 4]),
       st.integers(1, 0x1FFFF))
def test_code_bytes_equals_its_twin(text, width, big):
    table = np.zeros(0x110000, dtype=np.uint32)
    for k, ch in enumerate("ab 中文\x1f\ud800"):
        table[ord(ch)] = k + 1
    table[0x1F600] = big  # may not fit in two bytes
    outcomes = []
    for code_bytes in (native.code_bytes, kernels.py_code_bytes):
        try:
            outcomes.append(code_bytes(text, table, width))
        except ValueError as e:
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], bytes):
        assert list(np.frombuffer(outcomes[0], dtype="<u2" if width == 2 else "<u4")) == \
            [int(table[ord(ch)]) for ch in text]
    table[ord("a")] = 0  # an unseen character
    assert native.code_bytes("ba", table, width) is None


def test_call_syllables_are_the_syllable_ids_of_its_text():
    from qa_pipeline.rubric.call_text import CallText
    from qa_pipeline.rubric.matching import syllable_ids

    call = CallText(("您好请问有什么可以帮您", "我要投诉 order 42", "", "謝謝"))
    ids = syllable_ids(call.joined).tolist()
    assert list(call.syllables) == ids
    codes, width = call.syllable_codes
    assert list(np.frombuffer(codes, dtype="<u2" if width == 2 else "<u4")) == ids


@needs_native
def test_quote_fails_as_its_twin_fails():
    from qa_pipeline.types import Evidence, MatchHit

    names = tuple(f.name for f in dataclasses.fields(Evidence))
    hit = MatchHit("a", "exact", 1.0, "a")
    utterance = _utterance(0, [0.5], 1.0)
    for quote in (native.quote, kernels.py_quote):
        with pytest.raises(AttributeError):
            quote(Evidence, names, {}, str, object(), hit, "")
        with pytest.raises(AttributeError):
            quote(Evidence, names, {}, str, utterance, object(), "")
    with pytest.raises(TypeError, match="tuple of 9"):
        native.quote(Evidence, names[:8], {}, str, utterance, hit, "")
    with pytest.raises(TypeError, match="9 fields"):
        kernels.quoter(_Frozen, {}, str)


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(probabilities, max_size=8), st.floats(0, 1)), max_size=10))
def test_word_stats_equals_its_twin(spec):
    utterances = [_utterance(i, probs, rc) for i, (probs, rc) in enumerate(spec)]
    got = native.word_stats(utterances)
    want = kernels.py_word_stats(utterances)
    assert got == want
    # An utterance without words sums to the int 0, as sum() gives.
    assert [type(x) for x in got[0]] == [type(x) for x in want[0]]


@st.composite
def _exact_case(draw):
    utterances = draw(st.lists(st.text(alphabet="ab1 中", max_size=6), min_size=1, max_size=6))
    text = "\x1f".join(utterances).encode("utf-8")
    offsets = [0]
    for u in utterances[:-1]:
        offsets.append(offsets[-1] + len(u.encode("utf-8")) + 1)
    phrases = draw(st.integers(1, 6))
    slots = draw(st.integers(1, 4))
    rank = draw(st.permutations(range(phrases)))
    bounded = draw(st.lists(st.booleans(), min_size=phrases, max_size=phrases))
    by_rank = [(f"p{r}", tuple(sorted(draw(st.sets(st.integers(0, slots - 1), max_size=3)))))
               for r in range(phrases)]
    matches = []
    for _ in range(draw(st.integers(0, 30))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, len(text)))
        matches.append((draw(st.integers(0, phrases - 1)), start, end))
    return matches, text, bounded, list(rank), offsets, by_rank, slots


@needs_native
@settings(max_examples=400, deadline=None)
@given(_exact_case())
def test_first_exact_hits_equals_its_twin(case):
    got = native.first_exact_hits(*case)
    want = kernels.py_first_exact_hits(*case)
    assert got == want
    assert [list(d) for d in got] == [list(d) for d in want]  # same key order too


@st.composite
def _pinyin_case(draw):
    width = draw(st.sampled_from([1, 2, 4]))
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    parts = draw(st.lists(st.integers(0, 8), min_size=1, max_size=6))
    offsets, ends, position = [], [], 0
    for size in parts:
        offsets.append(position)
        ends.append(position + size)
        position += size + 1
    chinese = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
    keys = draw(st.integers(1, 5))
    entries = [tuple(draw(st.lists(st.tuples(st.integers(0, len(lengths) - 1),
                                             st.integers(0, 5)), max_size=3)))
               for _ in range(keys)]
    skips = [set(draw(st.lists(st.integers(0, len(parts) - 1), max_size=2)))
             for _ in lengths]
    matches = []
    for _ in range(draw(st.integers(0, 30))):
        start = draw(st.integers(0, position * width))
        end = start + width * draw(st.integers(1, 4)) + draw(st.sampled_from([0, 0, 1]))
        matches.append((draw(st.integers(0, keys - 1)), start, end))
    return matches, width, entries, lengths, offsets, ends, chinese, skips


@needs_native
@settings(max_examples=400, deadline=None)
@given(_pinyin_case())
def test_pinyin_windows_equals_its_twin(case):
    assert native.pinyin_windows(*case) == kernels.py_pinyin_windows(*case)


@needs_native
def test_kernels_reject_malformed_arguments():
    with pytest.raises(ValueError, match="out of range"):
        native.first_exact_hits([(0, 0, 99)], b"ab", [False], [0], [0], [("a", (0,))], 1)
    with pytest.raises(TypeError):
        native.first_exact_hits([(0, 0)], b"ab", [False], [0], [0], [("a", (0,))], 1)
    with pytest.raises(ValueError, match="bucket out of range"):
        native.pinyin_windows([(0, 0, 1)], 1, [((3, 0),)], [1], [0], [1], [True], [set()])
    with pytest.raises(ValueError, match="width"):
        native.pinyin_windows([], 0, [], [], [], [], [], [])
    with pytest.raises(TypeError, match="one length"):
        native.mean_confidence((0,), [1.0], [1], [])
    with pytest.raises(TypeError, match="texts a list"):
        native.reachable("ab", ("abc",), 50.0, 0)


def _flags_table(draw) -> np.ndarray:
    """A one-byte table with random flags for the test alphabet (some left unseen: 0)."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for ch in ALPHABET:
        table[ord(ch)] = draw(st.integers(0, 31))
    return table


ALPHABET = "ab 1一二中國，\x00\x1f\ud800\U0001f600é"


@st.composite
def _flags_case(draw):
    return draw(st.text(alphabet=ALPHABET, max_size=40)), _flags_table(draw)


@needs_native
@settings(max_examples=400, deadline=None)
@given(_flags_case(), st.sampled_from(["\x00", "\x1f", "a"]), st.integers(0, 31),
       st.integers(0, 31))
def test_scan_flags_equals_its_twin(case, separator, part_flag, position_flag):
    text, table = case
    assert native.scan_flags(text, table, separator, part_flag, position_flag) == \
        kernels.py_scan_flags(text, table, separator, part_flag, position_flag)


@needs_native
@settings(max_examples=400, deadline=None)
@given(_flags_case(), st.integers(0, 31))
def test_drop_flagged_equals_its_twin(case, flag):
    text, table = case
    got = native.drop_flagged(text, table, flag)
    assert got == kernels.py_drop_flagged(text, table, flag)
    if got is not None:  # a str in its narrowest form, hashing and comparing as such
        assert hash(got) == hash("".join(list(got)))


@needs_native
def test_flag_kernels_reject_a_table_of_the_wrong_shape():
    with pytest.raises(ValueError, match="0x110000"):
        native.scan_flags("a", np.zeros(10, dtype=np.uint8), "\x00", 1, 1)
    with pytest.raises(ValueError, match="0x110000"):
        native.drop_flagged("a", np.zeros(0x110000, dtype=np.uint32), 1)


def _reference_calls(language: str) -> list:
    """The sample calls' reference transcripts, with varied word probabilities and each line
    also written once more with a homophone or typo (so pinyin and fuzzy matching run)."""
    import csv
    import random

    from tests.helpers import make_conversation

    rng = random.Random(5)
    swaps = {"投诉": "投注", "客服": "克服", "您好": "你号", "抱歉": "包歉"}
    calls = []
    for path in sorted((REPO / "data_samples" / "reference").glob(f"{language}_*.tsv")):
        with path.open(encoding="utf-8") as f:
            lines = list(csv.DictReader(f, delimiter="\t"))
        rows = []
        for line in lines:
            text = line["text"]
            rows.append([line["role"], float(line["start_s"]), float(line["end_s"]), text,
                         rng.uniform(0.3, 1.0)])
            for right, wrong in swaps.items():
                text = text.replace(right, wrong)
            # English: a letter dropped from every longer word (fuzzy matching's typos).
            text = " ".join(w[:2] + w[3:] if len(w) > 5 else w for w in text.split(" "))
            rows.append([line["role"], float(line["end_s"]), float(line["end_s"]) + 0.5, text,
                         rng.uniform(0.3, 1.0)])
        calls.append(make_conversation(rows, language=language, call_id=path.stem))
    return calls


def scores_json(language: str) -> str:
    """The shipped rubric's results on the reference calls, as JSON (run in two processes:
    one with each kernel set)."""
    import json

    from qa_pipeline.conversation.metrics import compute_metrics
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric

    rubric = load_rubric(REPO / "rubrics" / f"customer_service_{language}.yaml")
    results = [evaluate(rubric, EvaluationContext(c, compute_metrics(c)))
               for c in _reference_calls(language)]
    assert results, "data_samples/reference holds no call in this language"
    assert any(e.match is not None and e.match.method in ("pinyin", "fuzzy")
               for result in results for item in result.results for e in item.evidence)
    # repr keeps every float exactly (to_dict rounds them).
    return json.dumps([[repr(item) for item in result.results] for result in results])


@needs_native
@pytest.mark.parametrize("language", ["zh", "en"])
def test_engine_scores_calls_the_same_with_either_kernel_set(language):
    code = f"from tests.unit.test_kernels import scores_json; print(scores_json({language!r}))"
    runs = {pure: subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
        env={**os.environ, "QA_PIPELINE_PURE_PYTHON": pure}).stdout for pure in ("0", "1")}
    assert runs["0"] == runs["1"]
    assert runs["0"].count("CriterionResult(") > 10
