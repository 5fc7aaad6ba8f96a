"""Issue 27 follow-up: the rubric time budget is checked inside the similarity, emotion and
question (judge) rules too, so a runaway there is stopped (``needs_review`` with the reason)
rather than left to finish and grade the call from a verdict reached after the deadline.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from qa_pipeline.emotion.trajectory import Finding
from qa_pipeline.judge import Judge
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.types import Status
from tests.helpers import make_conversation
from tests.judge_helpers import ScriptedBackend


def _rubric(rule: str, budget_s: float = 20) -> str:
    return (
        "id: r\nversion: 1\n"
        f"time_budget_s: {budget_s}\n"
        "sections:\n  - id: s\n    weight: 100\n    criteria:\n"
        "      - id: greet\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [hello]}\n"
        f"      - id: runaway\n        points: 10\n        rule: {rule}\n"
        "      - id: after\n        points: 10\n"
        "        rule: {type: forbidden_phrase, phrases: [shut up]}\n"
    )


def _assert_stopped(results: Any) -> None:
    greet, runaway, after = results
    assert greet.status is Status.PASS
    assert runaway.status is Status.NEEDS_REVIEW
    assert runaway.provisional_status is Status.NEEDS_REVIEW  # no verdict past the deadline
    assert runaway.message == "stopped: time budget spent"
    assert "rubric time budget of 20 s spent (criterion 'runaway' stopped" in \
        runaway.review_reason
    assert after.status is Status.NEEDS_REVIEW and after.message == "not evaluated"


_ROWS = [["agent", 0, 1, "hello"]] + [
    ["agent" if i % 2 else "customer", i, i + 1, f"we will refund the order number {i}"]
    for i in range(1, 400)]


def test_a_slow_embedder_is_stopped_inside_the_similarity_rule():
    # Each embedder call moves a fake clock on by 5 s: embedding 200 agent utterances at
    # once would be one step, finished, then judged over budget; in batches the rule stops
    # once the budget is gone and embeds no more.
    now = [0.0]
    embedded: list[int] = []

    class SlowEmbedder(CharNgramEmbedder):
        def embed(self, texts: Any) -> np.ndarray:
            embedded.append(len(texts))
            now[0] += 5.0
            return super().embed(texts)

    rubric = load_rubric_text(_rubric(
        "{type: similarity, role: agent, examples: ['we will refund your order'], "
        "threshold: 0.5}"))
    ctx = EvaluationContext(make_conversation(_ROWS), embedder_factory=SlowEmbedder)
    result = evaluate(rubric, ctx, clock=lambda: now[0])
    _assert_stopped(result.results)
    assert sum(embedded) < 200  # stopped part-way through the agent's utterances


def test_within_the_budget_similarity_still_grades():
    rubric = load_rubric_text(_rubric(
        "{type: similarity, role: agent, examples: ['we will refund the order number 7'], "
        "threshold: 0.9}"))
    ctx = EvaluationContext(make_conversation(_ROWS), embedder_factory=CharNgramEmbedder)
    greet, sim, _after = evaluate(rubric, ctx).results
    assert sim.status is Status.PASS and not sim.review_reason


def test_a_judge_answering_after_the_deadline_does_not_grade():
    now = [0.0]

    class SlowBackend(ScriptedBackend):
        def score_choices(self, prefix: str, requests: Any) -> list[tuple[float, ...]]:
            now[0] += 60.0  # the judge takes a minute against a 20 s budget
            return super().score_choices(prefix, requests)

    rubric = load_rubric_text(_rubric("{type: question, question: 'Was the agent polite?'}"))
    judges = {"default": Judge(SlowBackend([0.95, 0.05, 0.0], "0"))}
    ctx = EvaluationContext(make_conversation(_ROWS[:5]), judges=judges)
    _assert_stopped(evaluate(rubric, ctx, clock=lambda: now[0]).results)


def test_the_judge_is_not_asked_once_the_criterion_spent_the_budget():
    # The first half of an `all` rule (a slow embedder) spends the budget without a loop step
    # left to notice; the judge after it must not be asked.
    now = [0.0]
    backend = ScriptedBackend([0.95, 0.05, 0.0], "0")

    class OnceSlowEmbedder(CharNgramEmbedder):
        def embed(self, texts: Any) -> np.ndarray:
            now[0] += 30.0
            return super().embed(texts)

    rubric = load_rubric_text(_rubric(
        "{type: all, rules: [{type: similarity, role: agent, examples: ['hello'], "
        "threshold: 0.5}, {type: question, question: 'Was the agent polite?'}]}"))
    ctx = EvaluationContext(make_conversation(_ROWS[:3]), judges={"default": Judge(backend)},
                            embedder_factory=OnceSlowEmbedder)
    _assert_stopped(evaluate(rubric, ctx, clock=lambda: now[0]).results)
    assert backend.prompts == []


class _LazySummary:
    """An emotion summary whose findings take a minute of (fake) time to compute."""

    def __init__(self, now: list[float]) -> None:
        self._now = now
        self.start = SimpleNamespace(valence=-0.5)

    @property
    def escalation(self) -> Finding:
        self._now[0] += 60.0
        return Finding(True, 0.9, (1, 3), "two negative utterances in a row")


def test_an_emotion_finding_computed_past_the_deadline_does_not_grade():
    now = [0.0]
    rubric = load_rubric_text(_rubric("{type: emotion, check: escalation}"))
    ctx = EvaluationContext(make_conversation(_ROWS[:5]),
                            emotion=_LazySummary(now))  # type: ignore[arg-type]
    _assert_stopped(evaluate(rubric, ctx, clock=lambda: now[0]).results)
