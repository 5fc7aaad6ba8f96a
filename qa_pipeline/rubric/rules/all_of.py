"""all: every child rule must pass."""

from __future__ import annotations

from typing import Literal

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import register_rule
from qa_pipeline.rubric.rules.composition import CompositeSpec, child_outcomes, combine, count
from qa_pipeline.types import RuleOutcome, Status


class AllSpec(CompositeSpec):
    """YAML block of an ``all`` rule."""

    type: Literal["all"]


@register_rule("all", spec=AllSpec)
def all_of(spec: AllSpec, ctx: EvaluationContext) -> RuleOutcome:
    """Every applicable child rule must pass.

    Passes when: no child fails and at least one passes.
    Fails when: any child fails.
    Not applicable when: every child is not applicable.

    Example YAML:
        rule: {type: all, rules: [{type: required_phrase, phrases: [您好]},
                                  {type: required_phrase, phrases: [工号]}]}
    """
    outcomes = child_outcomes(spec, ctx)
    if count(outcomes, Status.FAIL):
        failed = [o for o in outcomes if o.status is Status.FAIL]
        return combine(failed, Status.FAIL, "; ".join(o.message for o in failed))
    if count(outcomes, Status.PASS):
        return combine(outcomes, Status.PASS, "all conditions hold")
    return combine(outcomes, Status.NOT_APPLICABLE, "no condition applies")
