"""Negation of act hits in ``act`` rules: a cue drops an act only when it governs the clause
the act lives in, found by tagging the clauses with the model that made the track.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qa_pipeline.acts.track import ActTrack, track_from_labels
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import parse_rule
from qa_pipeline.rubric.rules.act import act_clauses
from tests.helpers import make_conversation

ACTS = ("promise", "next_step")
# A stand-in act model: a text is a promise when it holds one of these (case-insensitive;
# the rule reads normalised text too, "can't" -> "can not"), a next step when it holds "email".
PROMISE_WORDS = ("保证", "guarantee", "promise", "call you back")


def _probabilities(text: str) -> tuple[float, float]:
    low = text.lower()
    return (0.95 if any(w in low for w in PROMISE_WORDS) else 0.05,
            0.9 if "email" in low else 0.05)


class KeywordModel:
    """Tags texts by :data:`PROMISE_WORDS` and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, texts: Sequence[str], roles: Sequence[str]) -> np.ndarray:
        assert len(texts) == len(roles)
        self.asked += texts
        return np.array([_probabilities(t) for t in texts])


def _verdict(text: str, negations: Sequence[str], *, labels: bool = False,
             language: str = "zh", model: KeywordModel | None = None) -> str:
    conv = make_conversation([["agent", 0.0, 3.0, text]], language=language)
    if labels:
        track = track_from_labels(conv, {0: {"promise": 0.95}}, ACTS)
    else:
        track = ActTrack("keywords", ACTS, (_probabilities(text),), (0.5, 0.5),
                         tagger=model or KeywordModel())
    rule = parse_rule({"type": "act", "role": "agent", "mode": "forbid", "acts": ["promise"],
                       "negations": list(negations)})
    return rule.evaluate(EvaluationContext(conv, act_track=track)).status.value


@pytest.mark.parametrize("text,clauses", [
    ("我不能保证退款", ["我不能保证退款"]),
    ("不用担心，我保证明天给您退款", ["不用担心", "我保证明天给您退款"]),
    ("这个没法改但是我保证给您退", ["这个没法改", "但是我保证给您退"]),
    ("I can't guarantee it, but you'll get an email.",
     ["I can't guarantee it", "but you'll get an email"]),
    ("However it goes, I promise", ["However it goes", "I promise"]),
])
def test_clauses_end_at_punctuation_and_before_a_contrast(text, clauses):
    assert act_clauses(text) == clauses


@pytest.mark.parametrize("text,negations,language", [
    ("我不能保证退款", ["不能"], "zh"),
    ("这个我没法跟您保证，要等查勘员看了才能定。", ["没法", "不能"], "zh"),
    ("I can't guarantee the refund will be approved, but you'll get an email.",
     ["can not"], "en"),
    ("I'm not able to promise a date.", ["not able to"], "en"),
])
def test_a_governing_negation_drops_the_act(text, negations, language):
    assert _verdict(text, [], language=language) == "fail"  # the act is there
    assert _verdict(text, negations, language=language) == "pass"


@pytest.mark.parametrize("text,negations,language", [
    # The cue is in another clause: it does not reach the promise.
    ("不用担心，我保证明天给您退款", ["不用", "不能"], "zh"),
    ("don't worry, I guarantee you'll have it Friday", ["do not", "can not"], "en"),
    # After a contrast the clause keeps its own act.
    ("I can't promise a refund, but I will call you back tomorrow", ["can not"], "en"),
    ("退款我不能保证 但是我保证给您回电", ["不能"], "zh"),
    # The act is said before the cue: "it cannot fail" does not take it back.
    ("I promise it cannot fail again", ["can not"], "en"),
    # The cue is further before the act than the window reaches.
    ("I cannot find anything on the system for you at all so I promise a refund",
     ["can not"], "en"),
])
def test_a_negation_that_does_not_govern_the_act_keeps_it(text, negations, language):
    assert _verdict(text, negations, language=language) == "fail"


def test_each_clause_is_tagged_once_per_call():
    model = KeywordModel()
    text = "I can't guarantee it, but you'll get an email."
    assert _verdict(text, ["can not"], language="en", model=model) == "pass"
    assert len(model.asked) == len(set(model.asked))
    assert "but you'll get an email" in model.asked


def test_without_a_model_only_an_act_whose_every_clause_is_negated_is_dropped():
    assert _verdict("我不能保证退款", ["不能"], labels=True) == "pass"
    assert _verdict("不用担心，我保证明天给您退款", ["不用"], labels=True) == "fail"
