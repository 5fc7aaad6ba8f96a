"""required_phrase: a speaker must say one of the given phrases."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import ActOperand, acts_note, operand_hits
from qa_pipeline.rubric.rules.conditions import Matching, Scope, evidence_for
from qa_pipeline.types import RuleOutcome, Status


class RequiredPhraseSpec(RuleSpec, Scope, Matching, ActOperand):
    """YAML block of a required_phrase rule."""

    type: Literal["required_phrase"]
    min_count: int = Field(1, ge=1, description="how many utterances must contain a phrase")


@register_rule("required_phrase", spec=RequiredPhraseSpec)
def required_phrase(spec: RequiredPhraseSpec, ctx: EvaluationContext) -> RuleOutcome:
    """A speaker must say one of the given phrases.

    ``acts`` may stand beside (or instead of) the phrases: an utterance carrying one of them
    counts too (see the ``act`` rule).
    Passes when: at least ``min_count`` utterances by ``role`` (inside ``within_s`` /
    ``last_s`` when set) contain a phrase or pattern, or carry one of the acts.
    Fails when: fewer do.
    Not applicable when: the call has no utterance by ``role`` at all.

    Example YAML:
        rule: {type: required_phrase, role: agent, phrases: ["thank you for calling"], within_s: 15}
    """
    if not ctx.utterances(spec.role_filter):
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in the call")
    scope = spec.select(ctx)
    hits = operand_hits(spec, scope, ctx)
    considered = ctx.indices(scope)
    if len(hits) >= spec.min_count:
        return RuleOutcome(Status.PASS, tuple(evidence_for(ctx, u, hit, acts_note("", hit))
                                          for u, hit in hits[:5]),
                           f"found {len(hits)} matching utterance(s)", considered)
    evidence = [evidence_for(ctx, u, hit, acts_note("", hit)) for u, hit in hits]
    where = f" in the first {spec.within_s:g} s" if spec.within_s else (
        f" in the last {spec.last_s:g} s" if spec.last_s else "")
    return RuleOutcome(Status.FAIL, tuple(evidence),
                       f"{spec.role} did not say a required phrase{where}", considered)
