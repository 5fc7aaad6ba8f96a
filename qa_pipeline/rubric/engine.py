"""Evaluate a rubric against a conversation: rule outcomes -> confidence-aware results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.matching import RuleBudgetSpent, rule_deadline
from qa_pipeline.rubric.registry import ParsedRule
from qa_pipeline.rubric.schema import Criterion, ReviewThresholds, Rubric, Section
from qa_pipeline.types import Evidence, Role, RuleOutcome, Status


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
    """All criterion results of one rubric for one call.

    ``ungraded_reason`` is set when the call cannot earn a grade however its criteria came
    out (no speech at all, or none by the agent); its passing error criteria then await
    review. ``review_notes`` say why the whole call needs review whatever its criteria say
    (damaged audio: the verdicts rest on part of the call).
    """

    rubric_id: str
    rubric_version: str
    results: tuple[CriterionResult, ...]
    ungraded_reason: str = ""
    review_notes: tuple[str, ...] = ()


def _confidence_basis(outcome: RuleOutcome, ctx: EvaluationContext) -> tuple[float, float] | None:
    """(word probability, role confidence) the verdict rests on, or None when it rests on no
    transcribed speech (e.g. a timing metric). Several quotes support one verdict: the
    best-transcribed one carries it.
    """
    quoted = [e for e in outcome.evidence if e.utterance_index >= 0]
    if quoted:
        return (max(e.word_probability for e in quoted), max(e.role_confidence for e in quoted))
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


def evaluate_criterion(section: Section, criterion: Criterion, rule: ParsedRule,
                       thresholds: ReviewThresholds, ctx: EvaluationContext) -> CriterionResult:
    """Run one criterion's rule and apply the review policy (a step of :attr:`Rubric.plan`)."""
    outcome = rule.evaluate(ctx)
    reason = review_reason(outcome, thresholds, ctx)
    return CriterionResult(criterion.id, section.id, criterion.description, criterion.severity,
                       criterion.kind, rule.rule_type.name,
                       Status.NEEDS_REVIEW if reason else outcome.status, outcome.status,
                       outcome.evidence, outcome.message, reason, outcome.value)


def _silence_reason(ctx: EvaluationContext) -> str:
    """Why the call cannot be graded for lack of speech ('' when the agent speaks)."""
    utterances = ctx.conversation.utterances
    if not any(u.text.strip() for u in utterances):
        return "no speech detected in the call"
    if not any(u.text.strip() for u in utterances if u.role is Role.AGENT):
        return "the agent says nothing in the call"
    return ""


def _held_for_review(result: CriterionResult, reason: str) -> CriterionResult:
    """``result`` awaiting review for ``reason`` (its verdict stays provisional)."""
    reasons = "; ".join(r for r in (result.review_reason, reason) if r)
    return CriterionResult(result.criterion_id, result.section_id, result.description,
                           result.severity, result.kind, result.rule_type,
                           Status.NEEDS_REVIEW, result.provisional_status, result.evidence,
                           result.message, reasons, result.value)


def _not_evaluated(section: Section, criterion: Criterion, rule: ParsedRule,
                   reason: str, message: str = "not evaluated") -> CriterionResult:
    """A criterion skipped (or stopped) because the rubric ran out of time: a human decides
    it.
    """
    return CriterionResult(criterion.id, section.id, criterion.description,
                           criterion.severity, criterion.kind, rule.rule_type.name,
                           Status.NEEDS_REVIEW, Status.NEEDS_REVIEW, (), message,
                           reason, None)


def evaluate(rubric: Rubric, ctx: EvaluationContext, *,
             clock: Callable[[], float] = time.monotonic) -> RubricResult:
    """Evaluate every criterion of ``rubric``.

    Criteria run in file order until the rubric's ``time_budget_s`` is spent: the criterion
    that overran it and every later one become ``needs_review`` with the reason, so one
    pathological call cannot stall a batch. A rule still running when the budget runs out is
    stopped inside its matching loops (:func:`~qa_pipeline.rubric.matching.check_budget`,
    once per utterance, phrase or pattern step), not left to finish. A call without agent
    speech gets no grade: its passing error criteria await review (nothing the agent did
    earned them). A call whose audio was damaged (a provenance note from decoding) needs
    review as a whole.

    Args:
        rubric: A rubric from :func:`~qa_pipeline.rubric.loader.load_rubric`.
        ctx: The call.
        clock: Seconds on a monotonic clock (tests inject a fake one).
    """
    ctx.use_index(rubric.phrase_index)
    budget_s = rubric.time_budget_s
    deadline = clock() + budget_s
    results: list[CriterionResult] = []
    over = ""
    for section, criterion, rule, thresholds in rubric.plan:
        if over:
            results.append(_not_evaluated(section, criterion, rule, over))
            continue
        started = clock()
        try:
            with rule_deadline(deadline, clock):
                result = evaluate_criterion(section, criterion, rule, thresholds, ctx)
        except RuleBudgetSpent:
            over = (f"rubric time budget of {budget_s:g} s spent (criterion {criterion.id!r} "
                    f"stopped after {clock() - started:.1f} s)")
            results.append(_not_evaluated(section, criterion, rule, over, "stopped: time "
                                          "budget spent"))
            continue
        ended = clock()
        if ended > deadline:
            over = (f"rubric time budget of {budget_s:g} s spent (criterion {criterion.id!r} "
                    f"ran {ended - started:.1f} s)")
            result = _held_for_review(result, over)
        results.append(result)
    silence = _silence_reason(ctx)
    if silence:
        results = [_held_for_review(r, silence)
                   if r.kind == "error" and r.provisional_status is Status.PASS else r
                   for r in results]
    damage = ctx.conversation.provenance.damage_notes
    return RubricResult(rubric.id, str(rubric.version), tuple(results), silence, damage)
