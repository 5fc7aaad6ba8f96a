"""An act hit that a rival act outscores on the same line (``outranked_by``).

A curt "Don't know." may read as an insult and, more surely, as a refusal: the rubric's
conduct standard makes a curt phrase a non-fatal error and abuse a fatal one, so such a line
does not knock the call out by itself; a human confirms. A phrase of the rule on the same
line (a swear word) still decides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qa_pipeline.acts.track import tag_conversation
from qa_pipeline.errors import RubricError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import parse_rule
from tests.helpers import make_conversation

ACTS = ("insult", "refusal_deflection")


class FixedModel:
    """A stand-in act model: each known text has fixed (insult, refusal) probabilities."""

    model_id = "fixed"
    embedder_id = "none"
    acts = ACTS

    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = table

    def threshold(self, act: str) -> float:
        return 0.5

    def predict_texts(self, texts: Sequence[str], roles: Sequence[str] | None = None
                      ) -> np.ndarray:
        return np.array([self.table.get(t, (0.02, 0.02)) for t in texts])


MODEL = FixedModel({"Dunno.": (0.8, 0.95), "Get lost.": (0.95, 0.6),
                    "Dunno, you moron.": (0.8, 0.9)})
RULE = {"type": "act", "role": "agent", "mode": "forbid", "acts": ["insult"],
        "min_probability": 0.5}


def _evaluate(rule: dict, line: str):
    conv = make_conversation([["customer", 0.0, 2.0, "Where is the nearest branch?"],
                              ["agent", 2.5, 3.5, line]])
    return parse_rule(rule).evaluate(EvaluationContext(conv, act_track=tag_conversation(conv,
                                                                                        MODEL)))


def test_a_line_more_refusal_than_insult_goes_to_review():
    assert _evaluate(RULE, "Dunno.").status.value == "fail"
    out = _evaluate({**RULE, "outranked_by": ["refusal_deflection"]}, "Dunno.")
    assert out.status.value == "pass"
    assert "more refusal_deflection (p=0.95) than insult" in out.review_reason
    assert [e.utterance_index for e in out.evidence] == [1]


def test_an_insult_that_outscores_the_rival_still_fails():
    out = _evaluate({**RULE, "outranked_by": ["refusal_deflection"]}, "Get lost.")
    assert out.status.value == "fail" and out.review_reason == ""


def test_a_phrase_of_the_rule_on_the_same_line_still_decides():
    rule = {**RULE, "outranked_by": ["refusal_deflection"], "phrases": ["moron"]}
    out = _evaluate(rule, "Dunno, you moron.")
    assert out.status.value == "fail" and out.review_reason == ""


def test_outranked_by_needs_forbid():
    with pytest.raises(RubricError, match="outranked_by need mode: forbid"):
        parse_rule({**RULE, "mode": "require", "outranked_by": ["refusal_deflection"]})
