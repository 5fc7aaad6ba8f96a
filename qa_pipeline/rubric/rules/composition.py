"""Shared machinery of the boolean composition rules (all / any / none / at_least)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import ParsedRule, RuleLocationError, RuleSpec, parse_rule
from qa_pipeline.types import Evidence, RuleOutcome, Status


class CompositeSpec(RuleSpec):
    """Base spec: a list of child rules, each validated by its own spec."""

    rules: tuple[Any, ...] = Field(..., min_length=1, description="child rules")

    @field_validator("rules", mode="before")
    @classmethod
    def _parse_children(cls, value: Any) -> tuple[ParsedRule, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("rules must be a list of rule mappings")
        parsed = []
        for i, raw in enumerate(value):
            if isinstance(raw, ParsedRule):
                parsed.append(raw)
                continue
            try:
                parsed.append(parse_rule(raw))
            except RuleLocationError as e:
                raise RuleLocationError(f"rules[{i}]: {e}", ("rules", i, *e.loc)) from None
        return tuple(parsed)


def child_outcomes(spec: CompositeSpec, ctx: EvaluationContext) -> list[RuleOutcome]:
    """Evaluate every child rule."""
    return [child.evaluate(ctx) for child in spec.rules]


def combine(outcomes: list[RuleOutcome], status: Status, message: str) -> RuleOutcome:
    """An outcome quoting the children's evidence."""
    evidence: list[Evidence] = []
    considered: list[int] = []
    for o in outcomes:
        evidence.extend(o.evidence)
        considered.extend(o.considered)
    # A child that asked for human review (e.g. an uncertain judge) keeps the whole verdict
    # under review.
    reasons = "; ".join(o.review_reason for o in outcomes if o.review_reason)
    return RuleOutcome(status, tuple(evidence), message, tuple(dict.fromkeys(considered)),
                       review_reason=reasons)


def count(outcomes: list[RuleOutcome], status: Status) -> int:
    """How many children ended in ``status``."""
    return sum(1 for o in outcomes if o.status is status)
