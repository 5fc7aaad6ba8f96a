"""One notion of a complaint, weak evidence included: a customer who states a grievance twice,
each time below the complaint act's threshold, complains for the act track, the emotion stage,
call reason and the default rubrics alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.acts.track import Repeated, track_from_labels
from qa_pipeline.call_reason import CallReasonClassifier, Taxonomy
from qa_pipeline.emotion import COMPLAINT_REPEATED, EmotionOptions, summarize_emotion
from qa_pipeline.emotion.trajectory import COMPLAINT_ACTS
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.sentiment import SentimentTrack, UtteranceSentiment
from tests.helpers import make_conversation

RUBRICS = Path(__file__).resolve().parents[2] / "rubrics"
ACTS = ("complaint", "escalation_threat", "apology_empathy")
ROWS = [["customer", 0, 2, "it still hasn't come"], ["agent", 2, 4, "let me check"],
        ["customer", 4, 6, "two weeks now"], ["agent", 6, 8, "one moment"]]


def _acts(conv, p0: float, p2: float):
    return track_from_labels(conv, {0: {"complaint": p0}, 2: {"complaint": p2}}, ACTS,
                             threshold=0.35)


def _negative(conv) -> SentimentTrack:
    # complaint acts count on lines read as negative (COMPLAINT_SENTIMENT)
    return SentimentTrack(conv.call_id, tuple(UtteranceSentiment(u.index, "negative", -0.6)
                                              for u in conv.utterances), "test")


def test_track_counts_weak_acts_only_when_they_recur():
    conv = make_conversation(ROWS, language="en")
    weak = Repeated(("complaint",), 0.25, 2)
    assert _acts(conv, 0.3, 0.28).carriers([0, 2], ["complaint"]) == []
    assert _acts(conv, 0.3, 0.28).carriers([0, 2], ["complaint"], None, weak) == [
        (0, "complaint", 0.3), (2, "complaint", 0.28)]
    assert _acts(conv, 0.3, 0.1).carriers([0, 2], ["complaint"], None, weak) == []
    # a strong act counts alone; one weak line beside it is not a repetition
    assert _acts(conv, 0.9, 0.3).carriers([0, 2], ["complaint"], None, weak) == [
        (0, "complaint", 0.9)]


@pytest.mark.parametrize("p2,detected", [(0.28, True), (0.1, False)])
def test_emotion_complaint_intent_reads_repeated_weak_complaints(p2, detected):
    conv = make_conversation(ROWS, language="en")
    found = summarize_emotion(conv, _negative(conv), acts=_acts(conv, 0.3, p2)).complaint_intent
    assert found.detected is detected
    off = EmotionOptions(complaint_repeated=None)
    assert not summarize_emotion(conv, _negative(conv), options=off,
                                 acts=_acts(conv, 0.3, 0.28)).complaint_intent.detected


def test_call_reason_complaint_class_reads_repeated_weak_complaints():
    taxonomy = Taxonomy.model_validate({
        "id": "t", "version": "1", "fallback": "other",
        "classes": [{"id": "delivery", "keywords": ["parcel"]},
                    {"id": "complaint", "acts": ["complaint", "escalation_threat"]},
                    {"id": "other"}]})
    clf = CallReasonClassifier(taxonomy, embedder_factory=CharNgramEmbedder)
    conv = make_conversation(ROWS, language="en")
    assert clf.classify(conv, acts=_acts(conv, 0.3, 0.28)).label == "complaint"
    assert clf.classify(conv, acts=_acts(conv, 0.3, 0.1)).label != "complaint"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_rubrics_use_the_emotion_stages_notion(lang):
    rubric = load_rubric(RUBRICS / f"customer_service_{lang}.yaml")
    rules = {c.id: c.rule for _, c in rubric.criteria()}
    flag = rules["customer_complaint"]
    trigger = rules["empathy_on_complaint"]["trigger"]
    for operand in (flag, trigger):
        assert tuple(operand["acts"]) == COMPLAINT_ACTS
        repeated = operand["repeated"]
        assert Repeated(tuple(repeated["acts"]), repeated["min_probability"],
                        repeated.get("min_count", 2)) == COMPLAINT_REPEATED
