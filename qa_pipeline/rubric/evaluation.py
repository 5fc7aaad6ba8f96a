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
from typing import TYPE_CHECKING, Any

from qa_pipeline.bench.metrics import BinaryCounts
from qa_pipeline.conversation.export import read_conversation
from qa_pipeline.conversation.metrics import compute_metrics
from qa_pipeline.errors import ConfigError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.types import Conversation, Status

if TYPE_CHECKING:
    from collections.abc import Callable

    from qa_pipeline.acts.track import ActTrack


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
    counts: BinaryCounts


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
                {"criterion_id": r.criterion_id, "severity": r.severity, "tp": r.counts.tp,
                 "fp": r.counts.fp, "fn": r.counts.fn, "tn": r.counts.tn,
                 "precision": round(r.counts.precision, 4),
                 "recall": round(r.counts.recall, 4), "f1": round(r.counts.f1, 4)}
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


def _act_tagger(rubric: Rubric, conversation: Conversation) -> Callable[[], ActTrack]:
    """Tag the call with the packaged act model plus the rubric's own acts, as scoring does
    (without the rubric's acts an ``act`` rule naming one of them is an unknown act).
    """
    def tag() -> ActTrack:
        from qa_pipeline.acts import load_embedded_act_model
        from qa_pipeline.acts.track import tag_conversation

        return tag_conversation(conversation, rubric.act_model(load_embedded_act_model()))
    return tag


def evaluate_cases(rubric: Rubric, cases: list[LabelledCase]) -> CaseReport:
    """Score the rubric's verdicts against the labels."""
    counts = {c.id: BinaryCounts() for _, c in rubric.criteria()}
    severity = {c.id: c.severity for _, c in rubric.criteria()}
    needs_review = 0
    for case in cases:
        ctx = EvaluationContext(case.conversation, compute_metrics(case.conversation),
                                act_track_factory=_act_tagger(rubric, case.conversation))
        result = evaluate(rubric, ctx)
        for r in result.results:
            if r.criterion_id not in case.expected:
                continue
            needs_review += r.status is Status.NEEDS_REVIEW
            counts[r.criterion_id] = counts[r.criterion_id].add(
                truth=case.expected[r.criterion_id] == "fail",
                predicted=r.provisional_status is Status.FAIL)
    rows = tuple(CriterionScore(cid, severity[cid], c) for cid, c in counts.items()
                 if c != BinaryCounts())
    return CaseReport(rows, len(cases), needs_review)
