"""Evaluate a rubric against a conversation: rule outcomes -> confidence-aware results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa_pipeline import kernels
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import ParsedRule
from qa_pipeline.rubric.schema import Criterion, ReviewThresholds, Rubric, Section
from qa_pipeline.types import Evidence, RuleOutcome, Status


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """The outcome of one criterion, after the review policy.

    ``status`` is final unless it is ``needs_review``; then ``provisional_status`` is what the
    rule decided and ``review_reason`` says why a human must confirm it.
    """

    criterion_id: str
    section_id: str
    description: str
    severity: str
    kind: str
    rule_type: str
    status: Status
    provisional_status: Status
    evidence: tuple[Evidence, ...]
    message: str
    review_reason: str = ""
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (points are added by the scorecard)."""
        return {
            "criterion_id": self.criterion_id,
            "section_id": self.section_id,
            "description": self.description,
            "severity": self.severity,
            "kind": self.kind,
            "rule_type": self.rule_type,
            "status": self.status.value,
            "provisional_status": self.provisional_status.value,
            "review_reason": self.review_reason,
            "message": self.message,
            "value": self.value,
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriterionResult:
        """Inverse of :meth:`to_dict` (extra keys such as points are ignored)."""
        value = data.get("value")
        return cls(
            criterion_id=str(data["criterion_id"]), section_id=str(data["section_id"]),
            description=str(data.get("description", "")), severity=str(data["severity"]),
            kind=str(data["kind"]), rule_type=str(data.get("rule_type", "")),
            status=Status(data["status"]),
            provisional_status=Status(data.get("provisional_status") or data["status"]),
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence") or ()),
            message=str(data.get("message", "")), review_reason=str(data.get("review_reason", "")),
            value=None if value is None else float(value))


@dataclass(frozen=True, slots=True)
class RubricResult:
    """All criterion results of one rubric for one call."""

    rubric_id: str
    rubric_version: str
    results: tuple[CriterionResult, ...]


def _confidence_basis(outcome: RuleOutcome, ctx: EvaluationContext) -> tuple[float, float] | None:
    """(word probability, role confidence) the verdict rests on, or None when it rests on no
    transcribed speech (e.g. a timing metric). Several quotes support one verdict: the
    best-transcribed one carries it.
    """
    best = kernels.best_quote(outcome.evidence)
    if best is not None:
        return best
    return ctx.confidence_of(outcome.considered) if outcome.considered else None


def review_reason(outcome: RuleOutcome, thresholds: ReviewThresholds,
                  ctx: EvaluationContext) -> str:
    """Why a verdict must be confirmed by a human ('' when it can stand)."""
    if outcome.review_reason:
        return outcome.review_reason
    if outcome.status not in (Status.PASS, Status.FAIL):
        return ""
    basis = _confidence_basis(outcome, ctx)
    if basis is None:
        return ""
    word_p, role_c = basis
    reasons = []
    if word_p < thresholds.min_word_probability:
        reasons.append(f"low ASR confidence ({word_p:.2f} < {thresholds.min_word_probability:.2f})")
    if role_c < thresholds.min_role_confidence:
        reasons.append(
            f"uncertain speaker role ({role_c:.2f} < {thresholds.min_role_confidence:.2f})")
    return "; ".join(reasons)


# CriterionResult(*fields) without the generated __init__ (one per criterion and call).
_new_result = kernels.constructor(CriterionResult)


def evaluate_criterion(section: Section, criterion: Criterion, rule: ParsedRule,
                       thresholds: ReviewThresholds, ctx: EvaluationContext) -> CriterionResult:
    """Run one criterion's rule and apply the review policy (a step of :attr:`Rubric.plan`)."""
    outcome = rule.evaluate(ctx)
    reason = review_reason(outcome, thresholds, ctx)
    return _new_result(criterion.id, section.id, criterion.description, criterion.severity,
                       criterion.kind, rule.rule_type.name,
                       Status.NEEDS_REVIEW if reason else outcome.status, outcome.status,
                       outcome.evidence, outcome.message, reason, outcome.value)


def evaluate(rubric: Rubric, ctx: EvaluationContext) -> RubricResult:
    """Evaluate every criterion of ``rubric``."""
    ctx.use_index(rubric.phrase_index)
    results = tuple(evaluate_criterion(*step, ctx) for step in rubric.plan)
    return RubricResult(rubric.id, str(rubric.version), results)
