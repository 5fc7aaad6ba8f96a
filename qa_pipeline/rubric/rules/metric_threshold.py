"""metric_threshold: a conversation metric must stay within bounds."""

from __future__ import annotations

from itertools import islice
from typing import Literal

from pydantic import Field, field_validator, model_validator

from qa_pipeline.conversation.metrics import METRIC_NAMES
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.types import Evidence, Role, RuleOutcome, Status


class MetricThresholdSpec(RuleSpec):
    """YAML block of a metric_threshold rule."""

    type: Literal["metric_threshold"]
    metric: str = Field(..., description="one of the names in qa_pipeline.conversation.metrics")
    max: float | None = None
    min: float | None = None

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRIC_NAMES:
            raise ValueError(
                f"unknown metric {value!r}; expected one of: {', '.join(METRIC_NAMES)}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> MetricThresholdSpec:
        if self.max is None and self.min is None:
            raise ValueError("set max, min or both")
        return self


@register_rule("metric_threshold", spec=MetricThresholdSpec)
def metric_threshold(spec: MetricThresholdSpec, ctx: EvaluationContext) -> RuleOutcome:
    """A timing metric (dead air, overtalk, interruptions, speech rate, talk ratio...) must
    lie within ``[min, max]``.

    Passes when: the metric is within bounds.
    Fails when: it is outside (the moments behind it, e.g. each dead-air gap, are quoted).
    Not applicable when: the metric is undefined for this call (e.g. no agent speech).

    Example YAML:
        rule: {type: metric_threshold, metric: longest_dead_air_s, max: 8}
    """
    if ctx.metrics is None:
        from qa_pipeline.conversation.metrics import compute_metrics

        ctx.metrics = compute_metrics(ctx.conversation)
    value = ctx.metrics.get(spec.metric)
    if value is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"{spec.metric} is undefined here")
    bounds = []
    if spec.min is not None:
        bounds.append(f">= {spec.min:g}")
    if spec.max is not None:
        bounds.append(f"<= {spec.max:g}")
    ok = (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)
    # A failure quotes the first ten moments behind the metric; a pass quotes none.
    evidence = () if ok else tuple(
        Evidence(-1, _span_role(span.label), span.start_s, span.end_s,
                 f"[{span.label} {span.end_s - span.start_s:.1f} s]", 1.0, 1.0, None, span.label)
        for span in islice(ctx.metrics.spans.get(spec.metric, ()), 10)
    )
    message = f"{spec.metric} = {value:.2f} (required {' and '.join(bounds)})"
    return RuleOutcome(Status.PASS if ok else Status.FAIL, evidence, message, value=value)


def _span_role(label: str) -> Role:
    if label.startswith("agent"):
        return Role.AGENT
    if label.startswith("customer"):
        return Role.CUSTOMER
    return Role.UNKNOWN
