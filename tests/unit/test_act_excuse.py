"""An act rule's ``excuse`` covers a hit only when the same sentence or clause carries the
excuse act: in a long ASR line that joins several turns, a security question said in another
sentence does not explain an insult away."""

from __future__ import annotations

from qa_pipeline.acts.track import ActTrack
from qa_pipeline.conversation.metrics import compute_metrics
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import parse_rule
from qa_pipeline.types import RuleOutcome, Status
from tests.helpers import make_conversation

RULE = {"type": "act", "role": "agent", "acts": ["insult"], "mode": "forbid",
        "min_probability": 0.5,
        "excuse": {"acts": ["verification_request"], "min_probability": 0.5}}
LINE = "What is your date of birth? You really are clueless, aren't you?"


def _outcome(insult_part: str | None, verification_part: str | None) -> RuleOutcome:
    conv = make_conversation([["agent", 0.0, 4.0, LINE]], language="en")
    track = ActTrack("test", ("insult", "verification_request"), ((0.9, 0.8),), (0.5, 0.5),
                     quotes=((insult_part, verification_part),))
    ctx = EvaluationContext(conv, compute_metrics(conv), None, act_track=track)
    return parse_rule(RULE).evaluate(ctx)


def test_an_insult_in_another_sentence_than_the_excuse_fails() -> None:
    outcome = _outcome("You really are clueless, aren't you?", "What is your date of birth?")
    assert outcome.status is Status.FAIL and outcome.review_reason == ""


def test_an_insult_carried_by_the_excusing_sentence_goes_to_review() -> None:
    outcome = _outcome("What is your date of birth?", "What is your date of birth?")
    assert outcome.status is Status.PASS
    assert "verification_request" in outcome.review_reason
