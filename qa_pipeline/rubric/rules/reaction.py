"""reaction: what one speaker said is judged by how the other party reacts to it right away,
e.g. a customer's protest about the agent's tone ("don't talk to me like that", 你怎么说话呢)
after mockery or sarcasm that no word list or act head recognises on its own.

Each reaction (an utterance of the reacting role carrying one of the reaction acts) points at
the last utterance of the judged role before it, within ``within_utterances``. That utterance
is a violation when:

- the reaction is strong on its own (``reaction.min_probability``), or
- the utterance itself carries weaker evidence (``support``: acts at a lower probability,
  phrases or patterns) and the reaction reaches ``support_reaction_min_probability``;

unless the utterance carries an ``excuse`` act and no support (e.g. a curt refusal: a protest
after a plain refusal is about the refusal or the policy, which other criteria judge; a refusal
worded with some insult evidence is judged like any other supported line). A reaction in
``[review_min_probability, cut)`` that does not decide the verdict sends it to review: the
provisional verdict stays ``pass`` and a human confirms.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import ActOperand, Operand, acts_note, operand_hits
from qa_pipeline.rubric.rules.conditions import Matching, RoleName, evidence_for, role_of
from qa_pipeline.types import RuleOutcome, Status, Utterance


class SupportOperand(Matching, ActOperand):
    """Weaker evidence in the judged utterance itself (acts, phrases or patterns)."""

    def has_matcher(self) -> bool:
        """Whether any phrase, pattern or act is configured."""
        return bool(self.phrases or self.patterns or self.acts)


class ExcuseOperand(BaseModel):
    """Acts that explain a reaction away (the reaction is about them, not about the tone)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acts: tuple[str, ...] = Field(..., min_length=1)
    min_probability: float | None = Field(None, ge=0.0, le=1.0)


class ReactionSpec(RuleSpec):
    """YAML block of a ``reaction`` rule."""

    type: Literal["reaction"]
    role: RoleName = Field("agent", description="the speaker whose utterances are judged")
    reaction: Operand = Field(..., description="the other party's reaction: its role, acts and "
                                               "the probability that decides alone (default: "
                                               "the acts' threshold)")
    within_utterances: int = Field(2, ge=1, description="how far back from the reaction the "
                                                        "judged utterance may be")
    support: SupportOperand | None = None
    support_reaction_min_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="lowest reaction probability that decides when the judged utterance "
                    "carries support")
    excuse: ExcuseOperand | None = None
    review_min_probability: float | None = Field(
        None, ge=0.0, le=1.0, description="a reaction from here up that decides nothing sends "
                                          "the verdict to review")

    @model_validator(mode="after")
    def _consistent(self) -> ReactionSpec:
        if not self.reaction.acts:
            raise ValueError("reaction needs acts")
        if self.reaction.role == self.role:
            raise ValueError("reaction.role must differ from role")
        if (self.support is None) != (self.support_reaction_min_probability is None):
            raise ValueError("support and support_reaction_min_probability go together")
        if self.support is not None and not self.support.has_matcher():
            raise ValueError("support needs acts, phrases or patterns")
        return self

    def strong_cut(self, ctx: EvaluationContext) -> float:
        """The reaction probability that decides alone (``reaction.min_probability``, else
        the lowest threshold of the reaction acts).
        """
        if self.reaction.min_probability is not None:
            return self.reaction.min_probability
        return min(ctx.acts.threshold(a) for a in self.reaction.acts)


@register_rule("reaction", spec=ReactionSpec)
def reaction(spec: ReactionSpec, ctx: EvaluationContext) -> RuleOutcome:
    """The judged speaker must not say something the other party protests about at once.

    Passes when: no reaction decides (a reaction in the review band sends the verdict to
    review, provisionally ``pass``).
    Fails when: a strong reaction follows an utterance of ``role`` within
    ``within_utterances``, or a weaker one (``support_reaction_min_probability``) follows an
    utterance carrying ``support``; utterances carrying an ``excuse`` act and no support
    never count. The
    judged utterance and the reaction are quoted.
    Not applicable when: ``role`` says nothing.

    Example YAML:
        rule:
          type: reaction
          role: agent
          reaction: {role: customer, acts: [tone_protest], min_probability: 0.65}
          support: {acts: [insult], min_probability: 0.1}
          support_reaction_min_probability: 0.35
          excuse: {acts: [refusal_deflection], min_probability: 0.3}
    """
    judged = ctx.utterances(role_of(spec.role))
    if not judged:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in the call")
    strong = spec.strong_cut(ctx)
    lowest = min(c for c in (strong, spec.support_reaction_min_probability,
                             spec.review_min_probability) if c is not None)
    reacting = spec.reaction.model_copy(update={"min_probability": lowest})
    reactions = operand_hits(reacting, spec.reaction.select(ctx), ctx)
    by_index = {u.index: u for u in judged}
    support_hits = ({u.index: h for u, h in operand_hits(spec.support, judged, ctx)}
                    if spec.support is not None else {})
    evidence = []
    review = []
    considered: list[int] = []
    for r, rh in reactions:
        source = _judged_before(r.index, spec, by_index)
        if source is None:
            continue
        support = support_hits.get(source.index)
        if support is None and _excused(source, spec, ctx):
            continue
        considered.extend((source.index, r.index))
        p = rh.score if rh.method == "act" else 1.0
        if p >= strong or (
                support is not None and spec.support_reaction_min_probability is not None
                and p >= spec.support_reaction_min_probability):
            note = "reaction to this utterance" if support is None else acts_note(
                "reaction to this utterance, with", support)
            evidence.append(evidence_for(ctx, source, support, note))
            evidence.append(evidence_for(ctx, r, rh, acts_note("reaction", rh)))
        elif spec.review_min_probability is not None and p >= spec.review_min_probability:
            review.append(f"#{source.index} drew a possible {rh.pattern} (p={p:.2f})")
    shown = tuple(dict.fromkeys(considered))
    if evidence:
        return RuleOutcome(Status.FAIL, tuple(evidence),
                           f"{len(evidence) // 2} {spec.role} utterance(s) drew a protest",
                           shown)
    reason = ("uncertain reaction: " + "; ".join(review)) if review else ""
    return RuleOutcome(Status.PASS, message="no protest about what was said",
                       considered=shown, review_reason=reason)


def _judged_before(index: int, spec: ReactionSpec, by_index: dict[int, Utterance]
                   ) -> Utterance | None:
    """The last judged utterance before ``index``, at most ``within_utterances`` back."""
    for i in range(index - 1, max(index - 1 - spec.within_utterances, -1), -1):
        if i in by_index:
            return by_index[i]
    return None


def _excused(u: Utterance, spec: ReactionSpec, ctx: EvaluationContext) -> bool:
    """Whether ``u`` carries an excuse act (the reaction is about that act)."""
    if spec.excuse is None:
        return False
    return ctx.acts.best(u.index, spec.excuse.acts, spec.excuse.min_probability) is not None

