"""before: an anchor (e.g. identity verification) must happen before a target (e.g. an
account detail is disclosed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.privacy.digits import digit_runs
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import (
    ActId,
    Hit,
    Operand,
    acts_note,
    context_probability,
    first_operand_hit,
    operand_hits,
)
from qa_pipeline.rubric.rules.conditions import evidence_for
from qa_pipeline.text import normalize, text_units
from qa_pipeline.types import MatchHit, RuleOutcome, Status, Utterance


class TargetUnless(BaseModel):
    """Acts that make a target utterance something else (e.g. the agent's greeting with their
    own staff number, or general information such as the documents to bring): the utterance
    is no target when one of them is at least ``min_probability`` likely and at least as likely
    as the target act that made it a target.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    acts: tuple[ActId, ...] = Field(..., min_length=1)
    min_probability: float = Field(0.5, ge=0.0, le=1.0)


class TargetReferences(BaseModel):
    """Business references (an order, ticket or tracking number) that disclose no account:
    a number that follows one of ``cues`` within ``window_chars`` characters. A target whose
    act rests on such numbers alone (the act falls below the target's cut once the numbers
    and their cues are taken out) is no target.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    cues: tuple[str, ...] = Field(..., min_length=1, description="words that announce a "
                                  "reference (order number, 订单号, ticket, 工单)")
    window_chars: int = Field(4, ge=0, description="how many characters may stand between "
                                                   "the cue and the number")


class BeforeSpec(RuleSpec):
    """YAML block of a ``before`` rule."""

    type: Literal["before"]
    anchor: Operand
    target: Operand
    target_unless: TargetUnless | None = Field(
        None, description="acts that explain a target utterance away (see TargetUnless)")
    readback_min_overlap: float | None = Field(
        None, gt=0.0, le=1.0,
        description="a target utterance is a read-back, no target, when at least this share "
                    "of its content (CJK characters and other words, digits included) was said "
                    "by the other party in the utterances just before it")
    readback_within_utterances: int = Field(
        2, ge=1, description="how far back a read-back's source may be")
    same_utterance_min_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="an anchor act in the target's own utterance counts as first only from "
                    "this probability (default: always); phrases there count as before")
    target_references: TargetReferences | None = Field(
        None, description="numbers that are business references, no account detail (see "
                          "TargetReferences)")
    target_min_context_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="a target act carried by one sentence or clause of its utterance, not the "
                    "whole, that is less likely than this in context (the whole utterance, or "
                    "the part read with the words next to it) decides nothing, as a target of "
                    "uncertain role")
    target_min_role_confidence: float | None = Field(
        None, ge=0.0, le=1.0,
        description="a target whose speaker role is less certain than this decides nothing: "
                    "a violation resting only on such targets passes provisionally and goes "
                    "to review")

    @model_validator(mode="after")
    def _matchers(self) -> BeforeSpec:
        for name in ("anchor", "target"):
            if not getattr(self, name).has_matcher():
                raise ValueError(f"{name} needs phrases, patterns or acts")
        return self


# Content units of a read-back: CJK characters and runs of other letters or digits.
def _content_units(text: str) -> list[str]:
    # Underscores survive normalize() as word characters; here they separate, as any
    # other non-letter does.
    return text_units(normalize(text).replace("_", " "))


# Units that say nothing about what was read back (politeness and confirmation words).
_FILLER_UNITS = frozenset(
    "好的的是吗对吧呢啊哦嗯您你我一下跟确认核对再说".replace("", " ").split()
    + ["ok", "okay", "so", "that", "s", "is", "to", "read", "back", "just", "and", "right",
       "correct", "confirm", "the", "a", "on", "at", "in", "it", "was", "that's", "yes",
       "great", "thanks", "thank", "you", "lovely", "sure", "let", "me"])


def readback_share(text: str, sources: list[str]) -> float:
    """Share of the content units of ``text`` (fillers aside) that occur in ``sources``."""
    units = [u for u in _content_units(text) if u not in _FILLER_UNITS]
    if not units:
        return 0.0
    said = set()
    for source in sources:
        said.update(_content_units(source))
    return sum(u in said for u in units) / len(units)


@register_rule("before", spec=BeforeSpec)
def before(spec: BeforeSpec, ctx: EvaluationContext) -> RuleOutcome:
    """The anchor must occur before the first target.

    Anchor and target may name phrases, patterns and/or dialogue acts (see the ``act`` rule).
    Options narrow what is a target: ``target_unless`` (acts that explain it away: a greeting
    with the agent's own staff number is no account disclosure), ``readback_min_overlap`` (the
    agent reading back what the other party has just said discloses nothing) and
    ``target_min_role_confidence`` (a target whose speaker is uncertain, on a mono call, sends
    the verdict to review instead of deciding it). ``same_utterance_min_probability`` asks more
    of an anchor act in the target's own utterance ("yes, here you are, your balance is ...":
    a weak verification reading of the whole line does not put the verification first).
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
          target_unless: {acts: [greeting], min_probability: 0.5}
          readback_min_overlap: 0.7
    """
    def is_target(u: Utterance, h: MatchHit) -> bool:
        return not _explained(spec, ctx, u, h)

    # Only the first target is judged, so the first-hit search finds it (phrase operands
    # then match only as far as that hit).
    first = first_operand_hit(spec.target, ctx, accept=is_target)
    if first is None:
        return RuleOutcome(Status.NOT_APPLICABLE, message="target never occurs")
    anchor_scope = spec.anchor.select(ctx)
    why = _target_doubt(spec, ctx, *first)
    if not why:
        return _judge(spec, ctx, first, anchor_scope)
    certain = first_operand_hit(spec.target, ctx, accept=lambda u, h: (
        is_target(u, h) and not _target_doubt(spec, ctx, u, h)))
    if certain is not None:
        return _judge(spec, ctx, certain, anchor_scope)
    # Every target is uncertain: the first decides nothing alone.
    outcome = _judge(spec, ctx, first, anchor_scope)
    if outcome.status is Status.PASS:
        return outcome
    return RuleOutcome(Status.PASS, outcome.evidence, "the only target is uncertain",
                       outcome.considered, review_reason=why)


def _target_doubt(spec: BeforeSpec, ctx: EvaluationContext, u: Utterance, h: MatchHit) -> str:
    """Why a target may decide nothing ('' when it may): its speaker role is uncertain, or
    only a fragment of its utterance carries the target act.
    """
    reasons = []
    bar = spec.target_min_role_confidence
    if bar is not None and u.role_confidence < bar:
        reasons.append(f"uncertain speaker role of target #{u.index} ({u.role_confidence:.2f})")
    if spec.target_min_context_probability is not None:
        p = context_probability(u, h, ctx)
        if p is not None and p < min(spec.target_min_context_probability,
                                     _target_cut(spec, ctx, h)):
            reasons.append(f"target #{u.index} {h.pattern} only out of context "
                           f"(p={p:.2f} with the words around it)")
    return "; ".join(reasons)


def _target_cut(spec: BeforeSpec, ctx: EvaluationContext, h: MatchHit) -> float:
    """The probability at which the target act of ``h`` counts."""
    return spec.target.min_probability if spec.target.min_probability is not None \
        else ctx.acts.threshold(h.pattern)


def _judge(spec: BeforeSpec, ctx: EvaluationContext, target: Hit,
           anchor_scope: tuple[Utterance, ...]) -> RuleOutcome:
    """Whether an anchor precedes ``target``."""
    first_u, target_hit = target
    target_pos = first_u.text.find(target_hit.matched_text)

    def precedes(u: Utterance, h: MatchHit) -> bool:
        if u.start_s < first_u.start_s:
            return True
        if u.index != first_u.index:
            return False
        # An act belongs to the whole utterance (or to one sentence or clause of it). An
        # anchor in the target's own utterance ("you're verified, your balance is ...") counts
        # as first when it is a phrase or pattern found before the target, or either is an
        # act; an anchor act there counts only from same_utterance_min_probability, when set
        # (a weak reading such as "yes, here you are" is finding the account, not verifying).
        if h.method != "act":
            return target_hit.method == "act" or u.text.find(h.matched_text) < target_pos
        bar = spec.same_utterance_min_probability
        return bar is None or h.score >= bar

    candidates = [u for u in anchor_scope if u.start_s < first_u.start_s
                  or u.index == first_u.index]
    # Only the first anchor that precedes the target counts (else the first one at all).
    if _phrase_beside_act(spec):
        earlier = next((pair for pair in _anchor_hits(spec, ctx, candidates)
                        if precedes(*pair)), None)
    else:
        earlier = first_operand_hit(spec.anchor, ctx, candidates, precedes)
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


def _phrase_beside_act(spec: BeforeSpec) -> bool:
    """Whether an anchor phrase must be looked at beside an anchor act in one utterance: an
    act there may count only from ``same_utterance_min_probability``, a phrase always.
    """
    return spec.same_utterance_min_probability is not None and bool(spec.anchor.acts) \
        and bool(spec.anchor.phrases or spec.anchor.patterns)


def _anchor_hits(spec: BeforeSpec, ctx: EvaluationContext,
                 utterances: list[Utterance]) -> list[Hit]:
    """Anchor hits among ``utterances`` in call order; where an utterance has both an act and
    a phrase hit, both (the act first): a phrase placed before the target may count where the
    act alone does not.
    """
    hits = operand_hits(spec.anchor, tuple(utterances), ctx)
    phrases = {u.index: (u, h) for u, h in spec.anchor.hits(tuple(utterances), ctx)}
    out: list[Hit] = []
    for u, h in hits:
        out.append((u, h))
        if h.method == "act" and u.index in phrases:
            out.append(phrases[u.index])
    return out


def without_references(text: str, refs: TargetReferences) -> str | None:
    """``text`` with its reference numbers and their cues taken out, or None when it has no
    reference number (see :class:`TargetReferences`). Numbers are written or spoken digits.
    """
    cut: list[tuple[int, int]] = []
    lowered = text.lower()
    for run in digit_runs(text):
        lead = lowered[max(0, run.start - refs.window_chars - max(map(len, refs.cues))):
                       run.start]
        found = [lead.rfind(c.lower()) for c in refs.cues]
        starts = [i for i, c in zip(found, refs.cues, strict=True)
                  if i >= 0 and len(lead) - i - len(c) <= refs.window_chars]
        if starts:
            cut.append((run.start - len(lead) + min(starts), run.end))
    if not cut:
        return None
    out, at = [], 0
    for start, end in cut:
        out.append(text[at:start])
        at = end
    out.append(text[at:])
    return " ".join(p.strip() for p in out if p.strip())


def _reference_only(spec: BeforeSpec, ctx: EvaluationContext, u: Utterance, h: MatchHit
                    ) -> bool:
    """Whether a target act rests on business reference numbers alone."""
    if spec.target_references is None or h.method != "act":
        return False
    rest = without_references(h.matched_text, spec.target_references)
    if rest is None:
        return False
    if not _content_units(rest):
        return True
    probs = ctx.acts.tag_texts([rest], u.role.value, h.pattern)
    return probs is not None and probs[0] < _target_cut(spec, ctx, h)


def _explained(spec: BeforeSpec, ctx: EvaluationContext, u: Utterance, h: MatchHit) -> bool:
    """Whether a target hit is something else (``target_unless``), a read-back or a business
    reference.
    """
    if _reference_only(spec, ctx, u, h):
        return True
    unless = spec.target_unless
    if unless is not None:
        bar = max(unless.min_probability, h.score if h.method == "act" else 0.0)
        if ctx.acts.best(u.index, unless.acts, bar) is not None:
            return True
    if spec.readback_min_overlap is not None:
        before_it = ctx.conversation.utterances[max(0, u.index - spec.readback_within_utterances):
                                                u.index]
        sources = [v.text for v in before_it if v.role is not u.role]
        if sources and readback_share(h.matched_text if h.method == "act" else u.text,
                                      sources) >= spec.readback_min_overlap:
            return True
    return False
