"""Scorecards: points per section and criterion, fatal knockout, grade, provenance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from qa_pipeline.rubric.engine import CriterionResult, RubricResult
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.types import Status
from qa_pipeline.version import __version__

SCORECARD_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """A criterion result with the points it earned or cost."""

    result: CriterionResult
    points_possible: float
    points_earned: float
    deduction: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = self.result.to_dict()
        d.update(points_possible=round(self.points_possible, 3),
                 points_earned=round(self.points_earned, 3), deduction=round(self.deduction, 3))
        return d


@dataclass(frozen=True, slots=True)
class SectionScore:
    """A section's weight, score and whether a fatal error zeroed it."""

    section_id: str
    title: str
    weight: float
    score: float
    applicable: bool
    knocked_out: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"section_id": self.section_id, "title": self.title, "weight": self.weight,
                "score": round(self.score, 3), "applicable": self.applicable,
                "knocked_out": self.knocked_out}


@dataclass(frozen=True, slots=True)
class Scorecard:
    """The QA verdict on one call under one rubric version."""

    call_id: str
    tenant_id: str
    rubric_id: str
    rubric_version: str
    total_score: float
    grade: str
    grade_label: str
    has_fatal: bool
    pending_fatal: bool
    has_non_fatal_error: bool
    needs_review: bool
    sections: tuple[SectionScore, ...]
    items: tuple[ScoredItem, ...]
    provenance: dict[str, Any]
    call: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sentiment: dict[str, Any] | None = None
    emotion: dict[str, Any] | None = None
    acoustics: dict[str, Any] | None = None
    call_reason: dict[str, Any] | None = None
    created_at: str = ""
    # Why the call has no grade ('' when it has one): no speech, or none by the agent.
    ungraded_reason: str = ""

    @property
    def rubric_ref(self) -> str:
        """``rubric_id@version``."""
        return f"{self.rubric_id}@{self.rubric_version}"

    def item(self, criterion_id: str) -> ScoredItem:
        """The item of one criterion."""
        for it in self.items:
            if it.result.criterion_id == criterion_id:
                return it
        raise KeyError(criterion_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``scorecard.json``; schema in qa_pipeline/scorecard/scorecard.schema.json)."""
        return {
            "schema_version": SCORECARD_SCHEMA_VERSION,
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "rubric": self.rubric_ref,
            "rubric_id": self.rubric_id,
            "rubric_version": self.rubric_version,
            "total_score": round(self.total_score, 2),
            "grade": self.grade,
            "grade_label": self.grade_label,
            "has_fatal": self.has_fatal,
            "pending_fatal": self.pending_fatal,
            "has_non_fatal_error": self.has_non_fatal_error,
            "needs_review": self.needs_review,
            "ungraded_reason": self.ungraded_reason,
            "call": self.call,
            "sections": [s.to_dict() for s in self.sections],
            "items": [i.to_dict() for i in self.items],
            "metrics": self.metrics,
            "sentiment": self.sentiment,
            "emotion": self.emotion,
            "acoustics": self.acoustics,
            "call_reason": self.call_reason,
            "provenance": self.provenance,
            "created_at": self.created_at,
        }


def build_scorecard(
    rubric: Rubric,
    result: RubricResult,
    *,
    call_id: str,
    tenant_id: str,
    provenance: dict[str, Any],
    call: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    sentiment: dict[str, Any] | None = None,
    emotion: dict[str, Any] | None = None,
    acoustics: dict[str, Any] | None = None,
    call_reason: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Scorecard:
    """Score a rubric result.

    Per section: criteria with ``points`` share the section weight by points earned over
    points applicable; ``deduction`` criteria subtract on failure (floor 0). The total is
    the sum of section scores over the weights of applicable sections, in percent. A
    confirmed fatal error zeroes the call (``knockout_scope: call``) or its section
    (``section``). Items awaiting review count with their provisional verdict, except that
    an unconfirmed fatal failure never knocks out the call: it sets ``pending_fatal``.

    A call the engine could not grade (``result.ungraded_reason``: no speech, or none by the
    agent) gets an empty grade and needs review, whatever its total. ``result.review_notes``
    (damaged audio) also make the call need review; they are recorded in the provenance.
    """
    by_id = {r.criterion_id: r for r in result.results}
    items: list[ScoredItem] = []
    sections: list[SectionScore] = []
    fatal_sections: set[str] = set()
    has_fatal = pending_fatal = non_fatal_error = False
    for section in rubric.sections:
        possible = earned = deducted = 0.0
        applicable = False
        section_items = []
        for criterion in section.criteria:
            r = by_id[criterion.id]
            verdict = r.provisional_status
            confirmed = r.status is not Status.NEEDS_REVIEW
            is_error = criterion.kind == "error"
            p_possible = p_earned = p_deduction = 0.0
            if is_error and verdict is not Status.NOT_APPLICABLE:
                applicable = True
                if criterion.points is not None:
                    p_possible = criterion.points
                    p_earned = criterion.points if verdict is Status.PASS else 0.0
                if criterion.deduction is not None and verdict is Status.FAIL:
                    p_deduction = criterion.deduction
            if is_error and verdict is Status.FAIL:
                if criterion.severity == "fatal":
                    if confirmed:
                        has_fatal = True
                        fatal_sections.add(section.id)
                    else:
                        pending_fatal = True
                elif confirmed:
                    non_fatal_error = True
            possible += p_possible
            earned += p_earned
            deducted += p_deduction
            section_items.append(ScoredItem(r, p_possible, p_earned, p_deduction))
        ratio = earned / possible if possible > 0 else 1.0
        score = max(0.0, section.weight * ratio - deducted)
        knocked = section.id in fatal_sections and rubric.knockout_scope == "section"
        if knocked:
            score = 0.0
        items.extend(section_items)
        sections.append(SectionScore(section.id, section.title, section.weight, score, applicable,
                                     knocked))
    weight = sum(s.weight for s in sections if s.applicable)
    total = 100.0 * sum(s.score for s in sections if s.applicable) / weight if weight > 0 else 100.0
    if has_fatal and rubric.knockout_scope == "call":
        total = 0.0
    band = rubric.grade_for(total)
    ungraded = result.ungraded_reason
    needs_review = bool(ungraded or result.review_notes) or any(
        r.status is Status.NEEDS_REVIEW for r in result.results)
    created = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    prov = {"rubric": rubric.ref, "pipeline_version": __version__, **provenance}
    if result.review_notes:
        prov["review_notes"] = list(result.review_notes)
    return Scorecard(
        call_id=call_id, tenant_id=tenant_id, rubric_id=rubric.id,
        rubric_version=str(rubric.version), total_score=total,
        grade="" if ungraded else band.grade, grade_label="" if ungraded else band.label,
        has_fatal=has_fatal, pending_fatal=pending_fatal,
        has_non_fatal_error=non_fatal_error, needs_review=needs_review,
        sections=tuple(sections), items=tuple(items), provenance=prov, call=call or {},
        metrics=metrics or {}, sentiment=sentiment, emotion=emotion, acoustics=acoustics,
        call_reason=call_reason, created_at=created, ungraded_reason=ungraded,
    )
