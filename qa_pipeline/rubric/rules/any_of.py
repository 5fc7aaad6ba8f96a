"""any: at least one child rule must pass."""

from __future__ import annotations

from typing import Literal

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import register_rule
from qa_pipeline.rubric.rules.composition import CompositeSpec, child_outcomes, combine, count
from qa_pipeline.types import RuleOutcome, Status


class AnySpec(CompositeSpec):
    """YAML block of an ``any`` rule."""

    type: Literal["any"]


@register_rule("any", spec=AnySpec)
def any_of(spec: AnySpec, ctx: EvaluationContext) -> RuleOutcome:
    """At least one child rule must pass.

    Passes when: any child passes.
    Fails when: no child passes and at least one fails.
    Not applicable when: every child is not applicable.

    Example YAML:
        rule: {type: any, rules: [{type: required_phrase, phrases: [再见]},
                                  {type: required_phrase, phrases: [感谢您的来电]}]}
    """
    outcomes = child_outcomes(spec, ctx)
    passed = [o for o in outcomes if o.status is Status.PASS]
    if passed:
        return combine(passed, Status.PASS, "; ".join(o.message for o in passed))
    if count(outcomes, Status.FAIL):
        return combine(outcomes, Status.FAIL, "no alternative holds")
    return combine(outcomes, Status.NOT_APPLICABLE, "no condition applies")
