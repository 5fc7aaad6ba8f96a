"""YAML rule cases (tests/rubric_cases/*.yml), one test per case (sqlfluff style)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qa_pipeline.acts.track import track_from_labels
from qa_pipeline.conversation.metrics import compute_metrics
from qa_pipeline.emotion import summarize_emotion
from qa_pipeline.errors import RubricError, RubricValidationError
from qa_pipeline.judge import Judge
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.registry import parse_rule, rule_types
from qa_pipeline.sentiment import SentimentTrack, UtteranceSentiment
from qa_pipeline.types import Status
from tests.helpers import make_conversation
from tests.judge_helpers import ScriptedBackend

# The built-in act ids (qa_pipeline.acts.ACTS): cases give probabilities for some of them.
CASE_ACTS = ("greeting", "verification_request", "verification_confirmed", "account_disclosure",
             "hold_announcement", "hold_return", "apology_empathy", "complaint",
             "escalation_threat", "insult", "refusal_deflection", "promise", "next_step",
             "anything_else", "thanks_farewell", "recording_disclosure")

CASES_DIR = Path(__file__).resolve().parent.parent / "rubric_cases"


def _load_cases():
    cases = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule_type = data.pop("rule_type")
        for name, case in data.items():
            cases.append(pytest.param(rule_type, case, id=f"{rule_type}:{name}"))
    return cases


def pytest_generate_tests(metafunc):
    if "rule_case" in metafunc.fixturenames:
        metafunc.parametrize("rule_type,rule_case", _load_cases())


def test_rule_case(rule_type, rule_case):
    expect = rule_case["expect"]
    if "error" in expect:
        with pytest.raises(RubricValidationError):
            parse_rule(rule_case["rule"])
        return
    parsed = parse_rule(rule_case["rule"])
    assert parsed.rule_type.name == rule_type
    conv = make_conversation(rule_case.get("conversation", []),
                             duration_s=rule_case.get("duration_s"),
                             role_confidence=rule_case.get("role_confidence", 1.0))
    sentiment = None
    if "sentiment" in rule_case:
        items = tuple(UtteranceSentiment(i, "negative" if s < -0.2 else "positive" if s > 0.2
                                         else "neutral", float(s))
                      for i, s in rule_case["sentiment"])
        sentiment = SentimentTrack(conv.call_id, items, "test")
    judges = None
    if "judge" in rule_case:  # question rules: a scripted judge model (answer shares, citation)
        j = rule_case["judge"]
        judges = {"default": Judge(ScriptedBackend(j["probabilities"], j.get("cites", ""),
                                                   j.get("closed", True)))}
    acts = None
    if "acts" in rule_case:
        acts = track_from_labels(conv, rule_case["acts"], CASE_ACTS, "case-labels",
                                 rule_case.get("act_threshold", 0.5))
    ctx = EvaluationContext(conv, compute_metrics(conv), sentiment,
                            embedder_factory=CharNgramEmbedder,
                            emotion=summarize_emotion(conv, sentiment, acts=acts)
                            if sentiment else None,
                            act_track=acts, judges=judges)
    if "raises" in expect:
        with pytest.raises(RubricError):
            parsed.evaluate(ctx)
        return
    outcome = parsed.evaluate(ctx)
    assert outcome.status is Status(expect["status"]), outcome.message
    if "evidence" in expect:
        assert [e.utterance_index for e in outcome.evidence] == expect["evidence"]
    if "method" in expect:
        assert outcome.evidence and outcome.evidence[0].match is not None
        assert outcome.evidence[0].match.method == expect["method"]
    if "message" in expect:
        assert expect["message"] in outcome.message
    if "review_reason" in expect:
        assert (expect["review_reason"] in outcome.review_reason if expect["review_reason"]
                else outcome.review_reason == ""), outcome.review_reason


def test_every_rule_type_has_cases_of_each_kind():
    covered: dict[str, set[str]] = {}
    for path in CASES_DIR.glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        kinds = covered.setdefault(data.pop("rule_type"), set())
        for case in data.values():
            expect = case["expect"]
            kinds.add(expect.get("status") or ("raises" if "raises" in expect else "error"))
    for name in rule_types():
        assert name in covered, f"no YAML cases for rule type {name!r}"
        missing = {"pass", "fail", "not_applicable", "error"} - covered[name]
        assert not missing, f"{name}: no {missing} case"


def test_rule_docstrings_follow_the_template():
    for name, rt in rule_types().items():
        for heading in ("Passes when", "Fails when", "Not applicable when", "Example YAML"):
            assert heading in rt.doc, f"{name} docstring lacks {heading!r}"
