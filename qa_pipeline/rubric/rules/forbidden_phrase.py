"""forbidden_phrase: a speaker must not say any of the given phrases."""

from __future__ import annotations

from typing import Literal

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import ActOperand, acts_note, operand_hits
from qa_pipeline.rubric.rules.conditions import Matching, Scope, evidence_for
from qa_pipeline.types import RuleOutcome, Status


class ForbiddenPhraseSpec(RuleSpec, Scope, Matching, ActOperand):
    """YAML block of a forbidden_phrase rule."""

    type: Literal["forbidden_phrase"]


@register_rule("forbidden_phrase", spec=ForbiddenPhraseSpec)
def forbidden_phrase(spec: ForbiddenPhraseSpec, ctx: EvaluationContext) -> RuleOutcome:
    """A speaker must not say any of the given phrases.

    ``acts`` may stand beside (or instead of) the phrases: an utterance carrying one of them
    counts too (see the ``act`` rule).
    Passes when: no utterance by ``role`` in scope contains a phrase or pattern (or carries
    one of the acts).
    Fails when: one does (every offending utterance is quoted).
    Not applicable when: there is no utterance by ``role`` in scope.

    Example YAML:
        rule: {type: forbidden_phrase, role: agent, phrases: [不知道, 这不归我管], fuzzy: 0.85}
    """
    scope = spec.select(ctx)
    if not scope:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in scope")
    evidence = [evidence_for(ctx, u, hit, acts_note("", hit))
                for u, hit in operand_hits(spec, scope, ctx)]
    considered = ctx.indices(scope)
    if evidence:
        said = ", ".join(sorted({e.match.pattern for e in evidence if e.match}))
        return RuleOutcome(Status.FAIL, tuple(evidence), f"{spec.role} said: {said}", considered)
    return RuleOutcome(Status.PASS, (), "no forbidden phrase found", considered)
