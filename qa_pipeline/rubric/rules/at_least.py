"""at_least: at least N child rules must pass."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import register_rule
from qa_pipeline.rubric.rules.composition import CompositeSpec, child_outcomes, combine, count
from qa_pipeline.types import RuleOutcome, Status


class AtLeastSpec(CompositeSpec):
    """YAML block of an ``at_least`` rule."""

    type: Literal["at_least"]
    n: int = Field(..., ge=1)

    @model_validator(mode="after")
    def _n_le_rules(self) -> AtLeastSpec:
        if self.n > len(self.rules):
            raise ValueError(f"n={self.n} is more than the {len(self.rules)} child rules")
        return self


@register_rule("at_least", spec=AtLeastSpec)
def at_least(spec: AtLeastSpec, ctx: EvaluationContext) -> RuleOutcome:
    """At least ``n`` child rules must pass.

    Passes when: ``n`` or more children pass.
    Fails when: fewer pass and at least one child is applicable.
    Not applicable when: every child is not applicable.

    Example YAML:
        rule: {type: at_least, n: 2, rules: [{type: required_phrase, phrases: [您好]},
               {type: required_phrase, phrases: [工号]}, {type: required_phrase, phrases: [请问]}]}
    """
    outcomes = child_outcomes(spec, ctx)
    passed = count(outcomes, Status.PASS)
    if passed >= spec.n:
        return combine([o for o in outcomes if o.status is Status.PASS], Status.PASS,
                       f"{passed} of {len(outcomes)} conditions hold (need {spec.n})")
    if passed or count(outcomes, Status.FAIL):
        return combine(outcomes, Status.FAIL,
                       f"only {passed} of {len(outcomes)} conditions hold (need {spec.n})")
    return combine(outcomes, Status.NOT_APPLICABLE, "no condition applies")
