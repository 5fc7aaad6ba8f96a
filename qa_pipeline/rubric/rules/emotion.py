"""emotion: conditions on the customer's trajectory (escalation, complaint intent)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.matching import check_budget
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.types import Evidence, RuleOutcome, Status


class EmotionSpec(RuleSpec):
    """YAML block of an emotion rule."""

    type: Literal["emotion"]
    check: Literal["escalation", "complaint_intent"]
    # Findings less confident than this do not fail the rule.
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)


@register_rule("emotion", spec=EmotionSpec)
def emotion(spec: EmotionSpec, ctx: EvaluationContext) -> RuleOutcome:
    """Whether the customer escalated, or intends to complain.

    Escalation: two consecutive customer utterances are negative and either agitated (acoustic
    arousal) or far below how the customer started. Complaint intent: the customer names a
    complaint ("投诉", "speak to a manager", ...) or most of their utterances are negative.
    Passes when: the finding is absent (or less confident than ``min_confidence``).
    Fails when: it is detected (the utterances it rests on are quoted).
    Not applicable when: no sentiment model ran for this call, or the customer never spoke.

    Example YAML:
        rule: {type: emotion, check: escalation}
    """
    if ctx.emotion is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message="no emotion analysis for this call")
    if ctx.emotion.start.valence is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message="no customer speech")
    # The finding may be computed on first use; a budget spent meanwhile (or by an earlier
    # rule of the same criterion) stops the rule here rather than after it.
    check_budget()
    finding = getattr(ctx.emotion, spec.check)
    check_budget()
    if not finding.detected or finding.confidence < spec.min_confidence:
        return RuleOutcome(Status.PASS, message=f"no {spec.check.replace('_', ' ')}")
    utts = ctx.conversation.utterances
    evidence = tuple(
        Evidence(i, utts[i].role, utts[i].start_s, utts[i].end_s, utts[i].text,
                 utts[i].mean_word_probability, utts[i].role_confidence, None, finding.reason)
        for i in finding.utterance_indices
    )
    return RuleOutcome(Status.FAIL, evidence,
                       f"{spec.check.replace('_', ' ')}: {finding.reason}",
                       finding.utterance_indices, value=finding.confidence)
