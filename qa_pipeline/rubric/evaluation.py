"""Measure a rubric on labelled conversations: per-criterion precision / recall / F1.

A "positive" is a violation: the label says ``fail`` (for flags: the flag is raised). The
prediction is the rule's verdict (provisional verdicts included), so the figures describe the
automation before any human review.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_pipeline.conversation.export import read_conversation
from qa_pipeline.conversation.metrics import compute_metrics
from qa_pipeline.errors import ConfigError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.types import Conversation, Status


@dataclass(frozen=True, slots=True)
class LabelledCase:
    """A conversation with expected criterion outcomes."""

    name: str
    conversation: Conversation
    expected: dict[str, str]


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """Confusion counts of one criterion."""

    criterion_id: str
    severity: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Tp / (tp + fp); 1.0 when nothing was flagged."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Tp / (tp + fn); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class CaseReport:
    """Per-criterion scores over a labelled set."""

    rows: tuple[CriterionScore, ...]
    cases: int
    needs_review: int
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "cases": self.cases,
            "needs_review_items": self.needs_review,
            "criteria": [
                {"criterion_id": r.criterion_id, "severity": r.severity, "tp": r.tp, "fp": r.fp,
                 "fn": r.fn, "tn": r.tn, "precision": round(r.precision, 4),
                 "recall": round(r.recall, 4), "f1": round(r.f1, 4)}
                for r in self.rows
            ],
            "errors": list(self.errors),
        }


def load_cases(directory: str | os.PathLike[str]) -> list[LabelledCase]:
    """``NAME.conversation.json`` + ``NAME.labels.json`` pairs from a folder (recursive);
    also ``NAME/conversation.json`` + ``NAME/labels.json``.
    """
    d = Path(directory)
    cases = []
    for conv_path in sorted(d.rglob("*conversation.json")):
        if conv_path.name == "conversation.json":
            labels = conv_path.with_name("labels.json")
            name = conv_path.parent.name
        else:
            name = conv_path.name.removesuffix(".conversation.json")
            labels = conv_path.with_name(f"{name}.labels.json")
        if not labels.exists():
            continue
        try:
            expected = json.loads(labels.read_text(encoding="utf-8"))["expected"]
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"{labels}: bad labels file ({e})") from e
        cases.append(LabelledCase(name, read_conversation(conv_path), dict(expected)))
    if not cases:
        raise ConfigError(f"{d}: no labelled cases (*.conversation.json with *.labels.json)")
    return cases


def evaluate_cases(rubric: Rubric, cases: list[LabelledCase]) -> CaseReport:
    """Score the rubric's verdicts against the labels."""
    counts: dict[str, list[int]] = {c.id: [0, 0, 0, 0] for _, c in rubric.criteria()}
    severity = {c.id: c.severity for _, c in rubric.criteria()}
    needs_review = 0
    for case in cases:
        ctx = EvaluationContext(case.conversation, compute_metrics(case.conversation))
        result = evaluate(rubric, ctx)
        for r in result.results:
            if r.criterion_id not in case.expected:
                continue
            needs_review += r.status is Status.NEEDS_REVIEW
            predicted = r.provisional_status is Status.FAIL
            actual = case.expected[r.criterion_id] == "fail"
            idx = 0 if predicted and actual else 1 if predicted else 2 if actual else 3
            counts[r.criterion_id][idx] += 1
    rows = tuple(CriterionScore(cid, severity[cid], *c) for cid, c in counts.items()
                 if sum(c))
    return CaseReport(rows, len(cases), needs_review)
