"""Issue 27 (finding 1) and issue 24: rule evaluation is bounded, silent calls earn no grade.

Tests that could hang on a regression (a backtracking engine) carry a pytest-timeout limit;
the thread method ends a test stuck inside C code, where a signal would wait for it.
"""

from __future__ import annotations

import itertools

import pytest

from qa_pipeline.errors import RubricValidationError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.rubric.patterns import compile_pattern
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.types import Status
from tests.helpers import make_conversation

bounded = pytest.mark.timeout(60, method="thread")


def _regex_rubric(pattern: str, mode: str = "forbid") -> str:
    # The pattern sits on line 8: errors must name that line.
    return (
        "id: r\n"
        "version: 1\n"
        "sections:\n"
        "  - id: s\n"
        "    weight: 100\n"
        "    criteria:\n"
        "      - id: c\n"
        f"        rule: {{type: regex, mode: {mode}, patterns: ['{pattern}']}}\n"
        "        points: 10\n"
    )


def _score(rubric_text: str, rows, **evaluate_kw):
    rubric = load_rubric_text(rubric_text, "r.yml")
    conv = make_conversation(rows)
    result = evaluate(rubric, EvaluationContext(conv), **evaluate_kw)
    return result, build_scorecard(rubric, result, call_id="c1", tenant_id="t", provenance={})


@bounded
@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)+$", r"(?:a{2,3})*x"])
def test_nested_quantifiers_are_refused_with_file_and_line(pattern):
    with pytest.raises(RubricValidationError, match=r"^r\.yml:8 .*nests quantifiers"):
        load_rubric_text(_regex_rubric(pattern), "r.yml")


@bounded
@pytest.mark.parametrize("pattern", [r"(?<=a)b", r"(a)\1"])
def test_syntax_outside_the_linear_engine_is_refused(pattern):
    with pytest.raises(RubricValidationError, match=r"^r\.yml:8 .*linear-time engine"):
        load_rubric_text(_regex_rubric(pattern), "r.yml")


@bounded
def test_the_issues_inputs_score_quickly():
    # (a|aa)*$ has no nested quantifier, so validation accepts it, yet a backtracking engine
    # needs Fibonacci(n) steps to give up on a run of n "a" followed by "b": this test would
    # not finish. The issue's 60-character sentence is scored in the same call.
    sentence = "this is a perfectly ordinary sentence from an agent today ok!"
    rows = [["agent", 0, 3, "a" * 5000 + "b"], ["agent", 3, 6, sentence]]
    result, card = _score(_regex_rubric(r"(a|aa)*$", mode="forbid"), rows)
    assert result.results[0].status is Status.FAIL  # the empty match at the end counts
    rows = [["agent", 0, 3, "a" * 40 + "b"]]
    result, _ = _score(_regex_rubric(r"^(a|aa)*$", mode="forbid"), rows)
    assert result.results[0].status is Status.PASS


def test_python_unicode_classes_keep_their_meaning():
    # RE2's \w, \d and \s are ASCII; rubric authors wrote Python's Unicode ones.
    hit = compile_pattern(r"\w+").search("  中文abc ")
    assert hit is not None and hit.group(0) == "中文abc"
    hit = compile_pattern(r"工号\s*\d{3,}").search("您好，工号\u3000１２３４为您服务")
    assert hit is not None and hit.group(0) == "工号\u3000１２３４"
    hit = compile_pattern(r"[^\s]+").search("\u3000号码")
    assert hit is not None and hit.group(0) == "号码"
    assert compile_pattern(r"HELLO\W").search("say hello!") is not None
    # Python spellings RE2 lacks or reads differently.
    assert compile_pattern(r"[\u4e00-\u9fff]{2}号").search("订单号") is not None
    assert compile_pattern(r"^a{,3}b$").search("aab") is not None  # {,n} is {0,n}
    assert compile_pattern(r"end\Z").search("the end") is not None


def _two_criteria_rubric(budget_s: float) -> str:
    return (
        "id: r\nversion: 1\n"
        f"time_budget_s: {budget_s}\n"
        "sections:\n  - id: s\n    weight: 100\n    criteria:\n"
        "      - id: first\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [hello]}\n"
        "      - id: second\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [goodbye]}\n"
        "      - id: third\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [thanks]}\n"
    )


def test_a_rule_that_overruns_the_time_budget_goes_to_review():
    # A fake clock: each reading is 4 s after the last, so the first criterion ends 8 s
    # into a 10 s budget and the second ends past it.
    ticks = itertools.count(0.0, 4.0)
    rows = [["agent", 0, 3, "hello goodbye thanks"]]
    result, card = _score(_two_criteria_rubric(10), rows, clock=lambda: next(ticks))
    first, second, third = result.results
    assert first.status is Status.PASS and not first.review_reason
    assert second.status is Status.NEEDS_REVIEW
    assert second.provisional_status is Status.PASS
    assert "rubric time budget of 10 s spent" in second.review_reason
    assert "'second'" in second.review_reason
    assert third.status is Status.NEEDS_REVIEW
    assert third.provisional_status is Status.NEEDS_REVIEW
    assert third.message == "not evaluated" and "time budget" in third.review_reason
    assert card.needs_review


def test_within_the_time_budget_nothing_changes():
    rows = [["agent", 0, 3, "hello goodbye thanks"]]
    result, card = _score(_two_criteria_rubric(10), rows)
    assert [r.status for r in result.results] == [Status.PASS] * 3
    assert card.grade == "A" and not card.needs_review and not card.ungraded_reason


def test_time_budget_must_be_positive():
    with pytest.raises(RubricValidationError, match="time_budget_s"):
        load_rubric_text(_two_criteria_rubric(0), "r.yml")


SILENCE_RUBRIC = (
    "id: r\nversion: 1\n"
    "sections:\n  - id: s\n    weight: 100\n    criteria:\n"
    "      - id: greet\n        points: 10\n"
    "        rule: {type: required_phrase, phrases: [hello]}\n"
    "      - id: no_rudeness\n        points: 10\n"
    "        rule: {type: forbidden_phrase, phrases: [shut up]}\n"
    "      - id: customer_upset\n        kind: flag\n"
    "        rule: {type: forbidden_phrase, role: customer, phrases: [angry]}\n"
)


@pytest.mark.parametrize("rows,reason", [
    ([], "no speech detected in the call"),
    ([["customer", 0, 2, "hello? is anyone there"]], "the agent says nothing in the call"),
])
def test_a_call_without_agent_speech_gets_no_grade(rows, reason):
    result, card = _score(SILENCE_RUBRIC, rows)
    assert result.ungraded_reason == reason
    assert card.grade == "" and card.grade_label == ""
    assert card.needs_review and card.ungraded_reason == reason
    assert card.to_dict()["ungraded_reason"] == reason
    statuses = {r.criterion_id: r for r in result.results}
    # Nothing the agent did earned a pass: each passing error criterion awaits review.
    for r in result.results:
        if r.kind == "error":
            assert r.status is not Status.PASS
    assert statuses["customer_upset"].status is not Status.NEEDS_REVIEW  # an observation


def test_a_speaking_agent_is_graded_as_before():
    result, card = _score(SILENCE_RUBRIC, [["agent", 0, 2, "hello there"]])
    assert not result.ungraded_reason
    assert card.grade == "A" and not card.needs_review


def _slow_rule_rubric(budget_s: float) -> str:
    return (
        "id: r\nversion: 1\n"
        f"time_budget_s: {budget_s}\n"
        "sections:\n  - id: s\n    weight: 100\n    criteria:\n"
        "      - id: greet\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [hello]}\n"
        "      - id: runaway\n        points: 10\n"
        "        rule: {type: regex, mode: forbid, patterns: ['refund \\\\d+', 'x{3}y']}\n"
        "      - id: after\n        points: 10\n"
        "        rule: {type: forbidden_phrase, phrases: [shut up]}\n"
    )


@pytest.mark.parametrize("matcher_step", ["regex_hit", "_first_fuzzy_phrase"])
def test_a_runaway_rule_is_stopped_inside_its_utterance_loop(monkeypatch, matcher_step):
    # An injected slow matcher: every step it takes moves a fake clock on by 1 s (the clock
    # itself stands still otherwise). 200 utterances would cost 200 s against a 20 s budget:
    # the rule must be stopped part-way, not left to finish and only then judged over budget.
    from qa_pipeline.rubric.matching import CompiledMatcher

    now = [0.0]
    steps = []
    original = getattr(CompiledMatcher, matcher_step)

    def slow(self, *args, **kwargs):
        steps.append(1)
        now[0] += 1.0
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompiledMatcher, matcher_step, slow)
    rubric = _slow_rule_rubric(20)
    if matcher_step == "_first_fuzzy_phrase":  # the same rule as fuzzy phrase matching
        rubric = rubric.replace("{type: regex, mode: forbid, patterns: ['refund \\\\d+', "
                                "'x{3}y']}",
                                "{type: forbidden_phrase, phrases: [refund now], fuzzy: 0.9}")
    rows = [["agent", 0, 1, "hello"]] + [
        ["agent" if i % 2 else "customer", i, i + 1, f"ordinary sentence number {i}"]
        for i in range(1, 200)]
    result, card = _score(rubric, rows, clock=lambda: now[0])
    greet, runaway, after = result.results
    assert greet.status is Status.PASS
    assert 0 < len(steps) <= 25  # stopped within a step of the deadline
    assert runaway.status is Status.NEEDS_REVIEW
    assert runaway.provisional_status is Status.NEEDS_REVIEW  # no verdict from half a call
    assert runaway.message == "stopped: time budget spent"
    assert "rubric time budget of 20 s spent (criterion 'runaway' stopped" in \
        runaway.review_reason
    assert after.status is Status.NEEDS_REVIEW and after.message == "not evaluated"
    assert card.needs_review


def test_budget_checks_do_nothing_outside_rubric_evaluation():
    from qa_pipeline.rubric.matching import MatchOptions, compile_matcher

    matcher = compile_matcher(("refund now",), (r"x{3}y",), MatchOptions(fuzzy=0.9))
    assert matcher.find("please refund now") is not None
    assert matcher.find("xxxy") is not None
