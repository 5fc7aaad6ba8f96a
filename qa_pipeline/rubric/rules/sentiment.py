"""sentiment: conditions on how a party felt (e.g. the customer at the end of the call)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.conditions import RoleName, role_of
from qa_pipeline.types import Evidence, RuleOutcome, Status


class SentimentSpec(RuleSpec):
    """YAML block of a sentiment rule."""

    type: Literal["sentiment"]
    role: RoleName = "customer"
    at: Literal["start", "end", "overall", "lowest"] = "end"
    # How many of the party's utterances make up "start" / "end".
    utterances: int = Field(2, ge=1)
    fail_labels: tuple[Literal["negative", "neutral", "positive"], ...] = ("negative",)
    min_score: float | None = Field(None, ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _condition(self) -> SentimentSpec:
        if not self.fail_labels and self.min_score is None:
            raise ValueError("set fail_labels, min_score or both")
        return self


@register_rule("sentiment", spec=SentimentSpec)
def sentiment(spec: SentimentSpec, ctx: EvaluationContext) -> RuleOutcome:
    """Sentiment of a party at a point of the call.

    The party's mean score over the chosen utterances (first / last ``utterances`` of that
    role, all of them, or the single lowest) is labelled negative below -0.2 and positive
    above 0.2.
    Passes when: the label is not in ``fail_labels`` and the score is at least ``min_score``.
    Fails when: it is (the utterances are quoted).
    Not applicable when: no sentiment model ran for this call, or the party never spoke.

    Example YAML:
        rule: {type: sentiment, role: customer, at: end, fail_labels: [negative]}
    """
    if ctx.sentiment is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message="no sentiment scores for this call")
    utts = ctx.utterances(role_of(spec.role))
    if not utts:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech")
    chosen = {"start": utts[: spec.utterances], "end": utts[-spec.utterances:],
              "overall": utts, "lowest": utts}[spec.at]
    items = ctx.sentiment.for_indices({u.index for u in chosen})
    if not items:
        return RuleOutcome(Status.NOT_APPLICABLE, message="utterances were not scored")
    if spec.at == "lowest":
        items = (min(items, key=lambda i: i.score),)
    score = sum(i.score for i in items) / len(items)
    label = "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral"
    by_index = {u.index: u for u in chosen}
    evidence = tuple(
        Evidence(u.index, u.role, u.start_s, u.end_s, u.text, u.mean_word_probability,
                 u.role_confidence, None, f"sentiment {i.label} ({i.score:+.2f})")
        for i in items
        for u in (by_index[i.utterance_index],)
    )
    failed = label in spec.fail_labels or (spec.min_score is not None and score < spec.min_score)
    return RuleOutcome(Status.FAIL if failed else Status.PASS, evidence,
                       f"{spec.role} sentiment at {spec.at}: {label} ({score:+.2f})",
                       tuple(i.utterance_index for i in items), value=score)
