"""Evaluation-harness metrics against hand-computed cases, pyannote.metrics and jiwer."""

from __future__ import annotations

import random
import warnings

import pytest

from qa_pipeline.bench.metrics import (
    BinaryCounts,
    diarization_error,
    edit_counts,
    error_free_share,
    error_rate,
    evaluation_regions,
    macro_f1,
    role_accuracy,
    score_units,
    unit_for,
)


# --- DER ---------------------------------------------------------------------------------
def test_der_perfect_hypothesis_with_other_label_names_is_zero():
    ref = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
    hyp = [(0.0, 10.0, "spk1"), (10.0, 20.0, "spk0")]
    d = diarization_error(ref, hyp)
    assert d.der == 0.0 and d.total_s == 20.0


def test_der_boundary_error_is_confusion():
    ref = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
    hyp = [(0.0, 9.0, "x"), (9.0, 20.0, "y")]
    d = diarization_error(ref, hyp)
    assert (d.missed_s, d.false_alarm_s) == (0.0, 0.0)
    assert d.confusion_s == pytest.approx(1.0)
    assert d.der == pytest.approx(1.0 / 20.0)


def test_der_collar_is_centred_on_reference_boundaries():
    ref = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
    hyp = [(0.0, 9.0, "x"), (9.0, 20.0, "y")]
    # A 1 s collar removes [-0.5, 0.5], [9.5, 10.5], [19.5, 20.5]: 0.5 s of the 1 s error
    # (9.0-9.5) is still scored, out of 18 s.
    assert evaluation_regions(ref, hyp, collar_s=1.0) == [(0.5, 9.5), (10.5, 19.5)]
    d = diarization_error(ref, hyp, collar_s=1.0)
    assert d.total_s == pytest.approx(18.0)
    assert d.confusion_s == pytest.approx(0.5)


def test_der_missed_and_false_alarm():
    d = diarization_error([(0.0, 10.0, "A")], [(2.0, 12.0, "x")])
    assert d.missed_s == pytest.approx(2.0)
    assert d.false_alarm_s == pytest.approx(2.0)
    assert d.confusion_s == 0.0
    assert d.der == pytest.approx(0.4)


def test_der_overlap_and_skip_overlap():
    ref = [(0.0, 10.0, "A"), (5.0, 15.0, "B")]
    hyp = [(0.0, 15.0, "x")]
    d = diarization_error(ref, hyp)
    # 0-5: right; 5-10: two speakers, one found (5 s missed); 10-15: one label is mapped
    # to A or B, whichever, the other's 5 s are confusion.
    assert d.total_s == pytest.approx(20.0)
    assert d.missed_s == pytest.approx(5.0)
    assert d.confusion_s == pytest.approx(5.0)
    skipped = diarization_error(ref, hyp, skip_overlap=True)
    assert skipped.total_s == pytest.approx(10.0) and skipped.missed_s == 0.0


def test_der_uem_limits_scoring_and_empty_hypothesis_misses_everything():
    ref = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
    d = diarization_error(ref, [], uem=[(5.0, 15.0)])
    assert d.total_s == pytest.approx(10.0) and d.missed_s == pytest.approx(10.0)
    assert d.der == pytest.approx(1.0)
    assert diarization_error([], []).der == 0.0


def _random_annotation(rng: random.Random, labels: list[str], n: int):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for k in range(n):
        start = round(rng.uniform(0, 30), 2)
        a[Segment(start, start + round(rng.uniform(0.2, 5), 2)), k] = rng.choice(labels)
    a = a.support()  # one label never overlaps itself (RTTM turns of one speaker)
    return a, [(s.start, s.end, lab) for s, _, lab in a.itertracks(yield_label=True)]


def test_der_matches_pyannote_metrics_on_random_annotations():
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    rng = random.Random(20261123)
    for _ in range(150):
        ref_a, ref = _random_annotation(rng, ["A", "B", "C"], rng.randint(1, 12))
        hyp_a, hyp = _random_annotation(rng, ["x", "y", "z", "w"], rng.randint(0, 12))
        collar, skip = rng.choice([0.0, 0.25, 0.5]), rng.random() < 0.3
        uem = [(2.0, 25.0)] if rng.random() < 0.3 else None
        kwargs = {"uem": Timeline([Segment(*uem[0])])} if uem else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyannote warns when it approximates the UEM
            expected = DiarizationErrorRate(collar=collar, skip_overlap=skip)(
                ref_a, hyp_a, detailed=True, **kwargs)
        got = diarization_error(ref, hyp, collar_s=collar, skip_overlap=skip, uem=uem)
        assert got.missed_s == pytest.approx(expected["missed detection"], abs=1e-6)
        assert got.false_alarm_s == pytest.approx(expected["false alarm"], abs=1e-6)
        assert got.confusion_s == pytest.approx(expected["confusion"], abs=1e-6)
        assert got.total_s == pytest.approx(expected["total"], abs=1e-6)


# --- WER / CER ---------------------------------------------------------------------------
def test_wer_counts_substitutions_deletions_insertions():
    c = edit_counts("the cat sat on the mat", "the cat sit on mat", "word")
    assert (c.substitutions, c.deletions, c.insertions, c.reference_units) == (1, 1, 0, 6)
    assert c.rate == pytest.approx(2 / 6)
    c = edit_counts("hello world", "hello there world", "word")
    assert (c.substitutions, c.deletions, c.insertions) == (0, 0, 1)


def test_wer_normalisation_ignores_case_punctuation_contractions_and_number_words():
    assert edit_counts("It's twenty five dollars.", "it is 25 dollars", "word").rate == 0.0
    assert score_units("Hello, World!", "word") == ["hello", "world"]


def test_cer_on_chinese_with_normalisation():
    c = edit_counts("你好世界", "你好视界", "char")
    assert (c.substitutions, c.reference_units) == (1, 4)
    # Punctuation, full width, Traditional characters and Chinese numerals are normalised.
    assert edit_counts("您好，說話！", "您好说话", "char").rate == 0.0
    assert edit_counts("一共一百二十元", "一共120元", "char").rate == 0.0
    assert unit_for("你好 VIP") == "char" and unit_for("hello") == "word"


def test_corpus_error_rate_sums_errors_over_summed_length_and_matches_jiwer():
    import jiwer

    pairs = [("a b c d", "a x c d"), ("e f", "e f g h"), ("red green blue", "red blue")]
    total = error_rate(pairs, "word")
    assert total.items == 3 and total.reference_units == 9
    # 1 substitution + 2 insertions + 1 deletion over 9 words (not the mean of the rates).
    assert total.rate == pytest.approx(4 / 9)
    refs = [" ".join(score_units(r, "word")) for r, _ in pairs]
    hyps = [" ".join(score_units(h, "word")) for _, h in pairs]
    assert total.rate == pytest.approx(jiwer.wer(refs, hyps))


def test_empty_reference_rates():
    assert edit_counts("", "", "word").rate == 0.0
    assert edit_counts("", "noise", "word").rate == 1.0
    with pytest.raises(ValueError, match="unit"):
        score_units("x", "phone")


# --- roles and classification ---------------------------------------------------------------
def test_role_accuracy_by_speech_time():
    ref = [(0.0, 5.0, "agent"), (5.0, 10.0, "customer")]
    r = role_accuracy(ref, [(0.0, 4.0, "agent"), (4.0, 10.0, "customer")])
    assert r.accuracy == pytest.approx(0.9, abs=1e-6)
    assert r.coverage == pytest.approx(1.0, abs=1e-6)
    r = role_accuracy(ref, [(0.0, 5.0, "agent"), (5.0, 8.0, "customer")])
    assert r.accuracy == pytest.approx(1.0) and r.coverage == pytest.approx(0.8, abs=1e-6)
    # Both parties speaking in the reference: naming either one is right.
    r = role_accuracy([(0.0, 4.0, "agent"), (2.0, 4.0, "customer")], [(0.0, 4.0, "customer")])
    assert r.accuracy == pytest.approx(0.5, abs=1e-6)


def test_binary_counts_and_macro_f1():
    c = BinaryCounts()
    for truth, pred in [(True, True), (True, False), (False, True), (False, False),
                        (True, True)]:
        c = c.add(truth, pred)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert BinaryCounts().precision == 1.0 and BinaryCounts().recall == 1.0
    gold = ["negative", "negative", "neutral", "positive"]
    pred = ["negative", "neutral", "neutral", "positive"]
    f1, per = macro_f1(gold, pred, ("negative", "neutral", "positive"))
    # negative: P 1, R 0.5 -> 2/3; neutral: P 0.5, R 1 -> 2/3; positive: 1.
    assert per == pytest.approx({"negative": 2 / 3, "neutral": 2 / 3, "positive": 1.0})
    assert f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    with pytest.raises(ValueError):
        macro_f1(["a"], [])


def test_error_free_share_is_domain_kpi():
    # DOMAIN.md: fatal-error accuracy = 1 - fatal-error calls / total calls.
    assert error_free_share([True, False, False, False]) == pytest.approx(0.75)
    assert error_free_share([]) == 1.0
