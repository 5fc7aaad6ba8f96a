"""none: no child rule may pass (e.g. none of these risky statements occurs)."""

from __future__ import annotations

from typing import Literal

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import register_rule
from qa_pipeline.rubric.rules.composition import CompositeSpec, child_outcomes, combine, count
from qa_pipeline.types import RuleOutcome, Status


class NoneSpec(CompositeSpec):
    """YAML block of a ``none`` rule."""

    type: Literal["none"]


@register_rule("none", spec=NoneSpec)
def none_of(spec: NoneSpec, ctx: EvaluationContext) -> RuleOutcome:
    """No child rule may pass.

    Passes when: no child passes and at least one fails.
    Fails when: any child passes (its evidence is quoted).
    Not applicable when: every child is not applicable.

    Example YAML:
        rule: {type: none, rules: [{type: required_phrase, phrases: [保证]},
                                   {type: required_phrase, phrases: [赔偿]}]}
    """
    outcomes = child_outcomes(spec, ctx)
    passed = [o for o in outcomes if o.status is Status.PASS]
    if passed:
        return combine(passed, Status.FAIL, "a forbidden condition holds")
    if count(outcomes, Status.FAIL):
        return combine(outcomes, Status.PASS, "no forbidden condition holds")
    return combine(outcomes, Status.NOT_APPLICABLE, "no condition applies")
