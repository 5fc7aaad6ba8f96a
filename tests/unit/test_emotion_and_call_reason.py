"""Acoustic features on synthetic voices with known pitch and loudness, the emotion
trajectory, and call-reason classification (keywords + a deterministic embedder).
"""

from __future__ import annotations

import numpy as np
import pytest

from qa_pipeline.call_reason import CallReasonClassifier, Taxonomy, load_taxonomy
from qa_pipeline.emotion import EmotionOptions, extract_acoustics, summarize_emotion
from qa_pipeline.errors import ConfigError
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.sentiment import SentimentTrack, UtteranceSentiment
from qa_pipeline.types import LoadedAudio
from tests.helpers import make_conversation

SR = 16000


def voice(f0_hz: float, duration_s: float, amp: float) -> np.ndarray:
    """A harmonic-rich vowel-like tone (first five harmonics) with a little vibrato."""
    t = np.arange(int(duration_s * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / SR
    return amp * sum(np.sin(k * phase) / k for k in range(1, 6)).astype(np.float32)


def _call(segments: list[tuple[str, float, float, float, str]], channels: int = 1):
    """segments: (role, f0, amplitude, seconds, text); a 0.5 s pause after each."""
    total = sum(s[3] + 0.5 for s in segments)
    samples = np.zeros((channels, int(total * SR) + SR), dtype=np.float32)
    samples += 1e-4 * np.random.default_rng(0).standard_normal(samples.shape).astype(np.float32)
    rows, t = [], 0.0
    for role, f0, amp, dur, text in segments:
        ch = 0 if (channels == 1 or role == "agent") else 1
        a = int(t * SR)
        samples[ch, a:a + int(dur * SR)] += voice(f0, dur, amp)
        rows.append([role, t, t + dur, text])
        t += dur + 0.5
    conv = make_conversation(rows, duration_s=samples.shape[1] / SR, language="en")
    if channels == 2:
        from dataclasses import replace

        conv = replace(conv, channels=2, utterances=tuple(
            replace(u, channel=0 if u.role.value == "agent" else 1) for u in conv.utterances))
    audio = LoadedAudio("c1", "mem", samples, SR, SR, "synthetic", "0" * 64)
    return conv, audio


def test_pitch_and_energy_are_measured_and_the_agitated_utterance_scores_highest():
    segs = [("customer", 180.0, 0.1, 1.5, "hello there"),
            ("customer", 185.0, 0.1, 1.5, "my bill is wrong"),
            ("customer", 175.0, 0.1, 1.5, "can you check"),
            ("customer", 260.0, 0.4, 1.5, "this is ridiculous"),
            ("customer", 182.0, 0.1, 1.5, "okay thanks")]
    conv, audio = _call(segs)
    track = extract_acoustics(audio, conv)
    assert [i.utterance_index for i in track.items] == [0, 1, 2, 3, 4]
    for item, (_, f0, *_rest) in zip(track.items, segs, strict=True):
        assert item.pitch_median_hz == pytest.approx(f0, rel=0.03)
        assert item.voiced_fraction > 0.8
    loud = track.items[3]
    assert loud.energy_db > max(i.energy_db for i in track.items if i is not loud) + 9
    assert loud.arousal == max(i.arousal for i in track.items) and loud.arousal > 0.5
    assert all(abs(i.arousal) < 0.5 for i in track.items if i is not loud)


def test_stereo_reads_each_speakers_own_channel_and_short_speakers_have_no_baseline():
    segs = [("agent", 120.0, 0.2, 1.2, "hello how can I help"),
            ("customer", 220.0, 0.2, 1.2, "hi"),
            ("agent", 125.0, 0.2, 1.2, "sure")]
    conv, audio = _call(segs, channels=2)
    track = extract_acoustics(audio, conv)
    assert track.items[0].pitch_median_hz == pytest.approx(120, rel=0.03)
    assert track.items[1].pitch_median_hz == pytest.approx(220, rel=0.03)
    # Fewer than three utterances per speaker: no baseline, arousal neutral.
    assert all(i.arousal == 0.0 for i in track.items)


def test_silent_utterance_has_no_pitch():
    conv, audio = _call([("customer", 180.0, 0.1, 1.0, "hello")])
    audio.samples[:] = 0.0
    item = extract_acoustics(audio, conv).items[0]
    assert item.pitch_median_hz is None and item.voiced_fraction == 0.0


def _track(conv, scores):
    return SentimentTrack(conv.call_id, tuple(
        UtteranceSentiment(i, "negative" if s < -0.2 else "positive" if s > 0.2 else "neutral",
                           s) for i, s in scores), "test")


def test_trajectory_phases_and_agitated_escalation():
    segs = [("customer", 180.0, 0.1, 1.0, "hi"), ("customer", 180.0, 0.1, 1.0, "my bill"),
            ("customer", 182.0, 0.1, 1.0, "it is wrong"),
            ("customer", 260.0, 0.4, 1.0, "this is a joke"),
            ("customer", 265.0, 0.4, 1.0, "I am furious"),
            ("customer", 181.0, 0.1, 1.0, "fine")]
    conv, audio = _call(segs)
    sentiment = _track(conv, [(0, -0.4), (1, -0.5), (2, -0.4), (3, -0.7), (4, -0.8), (5, 0.0)])
    summary = summarize_emotion(conv, sentiment, extract_acoustics(audio, conv))
    assert summary.start.utterance_indices == (0, 1)
    assert summary.end.utterance_indices == (4, 5)
    assert summary.start.valence == pytest.approx(-0.45)
    # Negative from the start (no drop) -- but agitated in utterances 3-4.
    assert summary.escalation.detected and summary.escalation.utterance_indices == (3, 4)
    assert "agitated" in summary.escalation.reason
    # Without audio the same words are not an escalation: no drop, arousal unknown.
    assert not summarize_emotion(conv, sentiment).escalation.detected
    assert len(summary.curve) == 6 and summary.curve[3][2] is not None


def test_complaint_intent_by_cue_or_by_negativity():
    conv = make_conversation([["customer", 0, 2, "I want to speak to a Manager"],
                              ["agent", 2, 4, "sure"]])
    found = summarize_emotion(conv, _track(conv, [(0, 0.0), (1, 0.0)])).complaint_intent
    assert found.detected and found.utterance_indices == (0,) and found.confidence == 0.9
    conv = make_conversation([["customer", 0, 2, "the food was cold"],
                              ["customer", 2, 4, "and late again"],
                              ["customer", 4, 6, "ok"]])
    found = summarize_emotion(conv, _track(conv, [(0, -0.6), (1, -0.7), (2, 0.0)])
                              ).complaint_intent
    assert found.detected and found.confidence == 0.6 and found.utterance_indices == (0, 1)
    calm = summarize_emotion(conv, _track(conv, [(0, -0.6), (1, 0.1), (2, 0.0)]))
    assert not calm.complaint_intent.detected
    custom = EmotionOptions(complaint_cues=("cold",))
    assert summarize_emotion(conv, _track(conv, [(0, 0.0), (1, 0.0), (2, 0.0)]),
                             options=custom).complaint_intent.detected


def _taxonomy() -> Taxonomy:
    return Taxonomy.model_validate({
        "id": "t", "version": "2", "fallback": "other",
        "classes": [
            {"id": "lookup", "keywords": ["查一下", "check my balance"],
             "examples": ["帮我查一下话费", "I want to check my balance"]},
            {"id": "complaint", "keywords": ["投诉", "complaint"],
             "examples": ["我要投诉你们", "I want to make a complaint"]},
            {"id": "other"}]})


def test_call_reason_from_keywords_and_embeddings_with_evidence():
    clf = CallReasonClassifier(_taxonomy(), embedder_factory=CharNgramEmbedder)
    conv = make_conversation([["agent", 0, 2, "您好，请问有什么可以帮您"],
                              ["customer", 2, 4, "你好，我要投诉你们的快递员"],
                              ["customer", 4, 6, "他态度太差了"]])
    reason = clf.classify(conv)
    assert reason.label == "complaint" and reason.utterance_indices == (1,)
    assert reason.taxonomy == "t@2" and reason.method == "keywords+embeddings"
    assert sum(reason.probabilities.values()) == pytest.approx(1.0)
    conv = make_conversation([["customer", 0, 2, "hi, could you check my balance please"]],
                             language="en")
    assert clf.classify(conv).label == "lookup"


def test_call_reason_falls_back_without_evidence():
    clf = CallReasonClassifier(_taxonomy(), embedder_factory=CharNgramEmbedder)
    assert clf.classify(make_conversation([["agent", 0, 2, "hello"]])).label in {
        "lookup", "complaint", "other"}
    empty = make_conversation([])
    reason = clf.classify(empty)
    assert reason.label == "other" and reason.method == "no customer speech"
    strict = CallReasonClassifier(_taxonomy().model_copy(update={"min_confidence": 0.99}),
                                  embedder_factory=CharNgramEmbedder)
    assert strict.classify(make_conversation([["customer", 0, 2, "嗯"]])).label == "other"


def test_taxonomy_validation(tmp_path):
    assert load_taxonomy("rubrics/call_reasons/default.yaml").ref == "default_call_reasons@2"
    bad = tmp_path / "t.yaml"
    bad.write_text("id: x\nfallback: nope\nclasses:\n  - {id: a, keywords: [k]}\n"
                   "  - {id: b, keywords: [j]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="fallback 'nope'"):
        load_taxonomy(bad)
    bad.write_text("id: x\nclasses:\n  - {id: a}\n  - {id: other}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs keywords or examples"):
        load_taxonomy(bad)
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_taxonomy(bad)
