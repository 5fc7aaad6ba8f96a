"""One notion of a complaint, read with the line's sentiment (issue 24): the complaint acts
count only on a customer line the sentiment model reads as negative. A neutral next step ("then
I'll contact the landlord myself") or a pleased reaction carries the acts' wording but no
grievance; the act track, the emotion stage, call reason and the default rubrics agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.acts.track import track_from_labels
from qa_pipeline.call_reason import CallReasonClassifier, Taxonomy
from qa_pipeline.emotion import (
    COMPLAINT_SENTIMENT,
    EmotionOptions,
    complaint_eligible,
    summarize_emotion,
)
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text
from qa_pipeline.sentiment import SentimentTrack, UtteranceSentiment
from tests.helpers import criterion_status as _status
from tests.helpers import make_conversation
from tests.helpers import score_turns as _score

RUBRICS = Path(__file__).resolve().parents[2] / "rubrics"
ACTS = ("complaint", "escalation_threat", "apology_empathy")
ROWS = [["agent", 0, 2, "how can I help"], ["customer", 2, 4, "the heating is off again"],
        ["agent", 4, 6, "let me check"], ["customer", 6, 8, "then I'll call the landlord"]]


def _sentiment(conv, label: str) -> SentimentTrack:
    score = {"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label]
    return SentimentTrack(conv.call_id, tuple(UtteranceSentiment(u.index, label, score)
                                              for u in conv.utterances), "test")


def _acts(conv):
    return track_from_labels(conv, {1: {"complaint": 0.9}, 3: {"escalation_threat": 0.9}},
                             ACTS)


def test_only_lines_read_as_negative_are_eligible():
    assert COMPLAINT_SENTIMENT == ("negative",)
    labels = {1: "negative", 3: "neutral", 5: "positive"}
    assert complaint_eligible([1, 3, 5, 7], labels) == [1, 7]  # 7: no label, counts
    assert complaint_eligible([1, 3, 5], labels, ()) == [1, 3, 5]


@pytest.mark.parametrize("label,detected", [("negative", True), ("neutral", False),
                                            ("positive", False)])
def test_emotion_complaint_intent_needs_a_negative_line(label, detected):
    conv = make_conversation(ROWS, language="en")
    found = summarize_emotion(conv, _sentiment(conv, label), acts=_acts(conv)).complaint_intent
    assert found.detected is detected
    anyhow = EmotionOptions(complaint_sentiment=())
    assert summarize_emotion(conv, _sentiment(conv, label), options=anyhow,
                             acts=_acts(conv)).complaint_intent.detected


@pytest.mark.parametrize("label,complaint", [("negative", True), ("neutral", False)])
def test_call_reason_complaint_class_needs_a_negative_line(label, complaint):
    taxonomy = Taxonomy.model_validate({
        "id": "t", "version": "1", "fallback": "other",
        "classes": [{"id": "billing", "keywords": ["invoice"]},
                    {"id": "complaint", "acts": ["complaint", "escalation_threat"]},
                    {"id": "other"}]})
    clf = CallReasonClassifier(taxonomy, embedder_factory=CharNgramEmbedder)
    conv = make_conversation(ROWS, language="en")
    reason = clf.classify(conv, acts=_acts(conv), sentiment=_sentiment(conv, label))
    assert (reason.label == "complaint") is complaint
    # without a sentiment track the acts count as before
    assert clf.classify(conv, acts=_acts(conv)).label == "complaint"


FLAG = """id: t
version: 1
tenant: "*"
sections:
  - id: s
    weight: 1
    criteria:
      - id: complaint
        kind: flag
        rule: {{type: act, role: customer, mode: forbid,
                acts: [complaint, escalation_threat]{extra}}}
"""


@pytest.mark.parametrize("label,flagged", [("negative", "fail"), ("neutral", "pass"),
                                           ("positive", "pass")])
def test_act_operand_sentiment_labels(label, flagged):
    conv = make_conversation(ROWS, language="en")
    gated = load_rubric_text(FLAG.format(extra=", sentiment_labels: [negative]"))
    ctx = EvaluationContext(conv, sentiment=_sentiment(conv, label),
                            act_track_factory=lambda: _acts(conv))
    assert evaluate(gated, ctx).results[0].status.value == flagged
    # without the option, or without a sentiment track, every line counts
    plain = load_rubric_text(FLAG.format(extra=""))
    ctx = EvaluationContext(conv, sentiment=_sentiment(conv, label),
                            act_track_factory=lambda: _acts(conv))
    assert evaluate(plain, ctx).results[0].status.value == "fail"
    ctx = EvaluationContext(conv, act_track_factory=lambda: _acts(conv))
    assert evaluate(gated, ctx).results[0].status.value == "fail"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_rubrics_read_complaints_with_the_emotion_stages_sentiment(lang):
    rubric = load_rubric(RUBRICS / f"customer_service_{lang}.yaml")
    rules = {c.id: c.rule for _, c in rubric.criteria()}
    for operand in (rules["customer_complaint"], rules["empathy_on_complaint"]["trigger"]):
        assert tuple(operand["sentiment_labels"]) == COMPLAINT_SENTIMENT


# Written for this test (none is in an evaluation set): a customer line the act model reads as
# a complaint or an escalation threat, said without any grievance.
NOT_A_GRIEVANCE = {"en": "Then I'll contact the landlord about it myself.",
                   "zh": "赔三倍？不会吧，那也太好了。"}
OPENING = {"en": "Good morning, Harbor Gas, this is Lee.", "zh": "您好，安达燃气，我是小李。"}
ASK = {"en": "Which address is it about?", "zh": "请问是哪个地址？"}





@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_line_without_grievance_is_no_complaint_anywhere(lang):
    card = _score(lang, [("agent", OPENING[lang]), ("customer", NOT_A_GRIEVANCE[lang]),
                         ("agent", ASK[lang])])
    assert _status(card, "customer_complaint") == "pass"
    assert _status(card, "empathy_on_complaint") == "not_applicable"
    assert card.emotion is not None and not card.emotion["complaint_intent"]["detected"]
