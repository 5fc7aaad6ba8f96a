"""before: an anchor (e.g. identity verification) must happen before a target (e.g. an
account detail is disclosed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import Operand, acts_note, first_operand_hit
from qa_pipeline.rubric.rules.conditions import evidence_for
from qa_pipeline.types import MatchHit, RuleOutcome, Status, Utterance


class BeforeSpec(RuleSpec):
    """YAML block of a ``before`` rule."""

    type: Literal["before"]
    anchor: Operand
    target: Operand

    @model_validator(mode="after")
    def _matchers(self) -> BeforeSpec:
        for name in ("anchor", "target"):
            if not getattr(self, name).has_matcher():
                raise ValueError(f"{name} needs phrases, patterns or acts")
        return self


@register_rule("before", spec=BeforeSpec)
def before(spec: BeforeSpec, ctx: EvaluationContext) -> RuleOutcome:
    """The anchor must occur before the first target.

    Anchor and target may name phrases, patterns and/or dialogue acts (see the ``act`` rule).
    Passes when: the target occurs and an anchor utterance starts before the first target.
    Fails when: the target occurs with no anchor before it (the target and, when present,
    the late anchor are quoted).
    Not applicable when: the target never occurs.

    Example YAML:
        rule:
          type: before
          anchor: {role: agent, phrases: [身份已经核实, 核实身份]}
          target: {role: agent, phrases: [账户余额, 账单是], pinyin: true}

        rule:
          type: before
          anchor: {role: agent, acts: [verification_request, verification_confirmed]}
          target: {role: agent, acts: [account_disclosure]}
    """
    target = first_operand_hit(spec.target, ctx)
    if target is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message="target never occurs")
    first_u, target_hit = target
    target_pos = first_u.text.find(target_hit.matched_text)

    def precedes(u: Utterance, h: MatchHit) -> bool:
        # An act belongs to the whole utterance and cannot be placed inside it: an anchor in
        # the target's own utterance ("you're verified, your balance is ...") counts as first
        # when either of the two is an act.
        return u.start_s < first_u.start_s or (u.index == first_u.index and (
            h.method == "act" or target_hit.method == "act"
            or u.text.find(h.matched_text) < target_pos))

    # Only the first anchor that precedes the target counts (else the first one at all), so
    # the anchor is looked for where it could precede the target before anywhere else.
    anchor_scope = spec.anchor.select(ctx)
    earlier = first_operand_hit(spec.anchor, ctx, [u for u in anchor_scope if (
        u.start_s < first_u.start_s or u.index == first_u.index)], precedes)
    target_ev = evidence_for(ctx, first_u, target_hit, acts_note("target", target_hit))
    if earlier is not None:
        u, h = earlier
        anchor_ev = evidence_for(ctx, u, h, acts_note("anchor", h))
        return RuleOutcome(Status.PASS, (anchor_ev, target_ev), "anchor precedes target",
                           (u.index, first_u.index))
    anchor = first_operand_hit(spec.anchor, ctx, anchor_scope)
    late = () if anchor is None else (
        evidence_for(ctx, *anchor, acts_note("late anchor", anchor[1])),)
    return RuleOutcome(Status.FAIL, (target_ev, *late),
                       "target occurs before any anchor" + (" (anchor came later)" if late else ""),
                       tuple(u.index for u in ctx.conversation.utterances
                             if u.start_s <= first_u.start_s))
