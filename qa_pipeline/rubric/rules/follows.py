"""follows: a response (e.g. empathy) must follow a trigger (e.g. a complaint) within N
utterances.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.act import Operand, acts_note, find_operand_hits
from qa_pipeline.rubric.rules.conditions import evidence_for
from qa_pipeline.types import RuleOutcome, Status, Utterance


class FollowsSpec(RuleSpec):
    """YAML block of a ``follows`` rule."""

    type: Literal["follows"]
    trigger: Operand
    response: Operand
    within_utterances: int = Field(3, ge=1, description="utterances after the trigger")
    within_turns: int | None = Field(
        None, ge=1,
        description="instead of within_utterances: the response must come in the responding "
                    "role's next N turns (a turn: consecutive utterances of that role), so a "
                    "customer's follow-up line before the agent's second turn does not close "
                    "the window")
    within_s: float | None = Field(None, gt=0, description="seconds after the trigger ends")
    answer: Literal["every", "any"] = Field(
        "every", description="every: each trigger needs a response; any: one answered trigger "
                             "is enough (a customer who keeps complaining after the agent "
                             "empathised once is answered)")

    @model_validator(mode="after")
    def _matchers(self) -> FollowsSpec:
        for name in ("trigger", "response"):
            if not getattr(self, name).has_matcher():
                raise ValueError(f"{name} needs phrases, patterns or acts")
        return self


@register_rule("follows", spec=FollowsSpec)
def follows(spec: FollowsSpec, ctx: EvaluationContext) -> RuleOutcome:
    """Every trigger (``answer: any``: at least one) must be answered by a response soon after.

    Trigger and response may name phrases, patterns and/or dialogue acts (see the ``act``
    rule).
    Passes when: each trigger utterance (``answer: any``: one of them) is followed, within
    ``within_utterances`` utterances (with ``within_turns``: within the responding role's next
    ``within_turns`` turns) and ``within_s`` seconds when set, by a response in a later
    utterance.
    Fails when: a trigger has no timely response (``answer: any``: none has); the unanswered
    triggers are quoted.
    Not applicable when: no trigger occurs.

    Example YAML:
        rule:
          type: follows
          trigger: {role: customer, phrases: [投诉, 太差了]}
          response: {role: agent, phrases: [抱歉, 对不起, 理解您]}
          within_utterances: 2

        rule:
          type: follows
          trigger: {role: customer, acts: [complaint, escalation_threat]}
          response: {role: agent, acts: [apology_empathy]}
          within_utterances: 2
    """
    triggers = find_operand_hits(spec.trigger, ctx)
    if not triggers:
        return RuleOutcome(Status.NOT_APPLICABLE, message="no trigger in the call")
    responses = find_operand_hits(spec.response, ctx)
    evidence = []
    unanswered = []
    response_at = [r.index for r, _ in responses]  # ascending: hits come in call order
    utterances = ctx.conversation.utterances
    window_end = {u.index: _window_end(spec, utterances, u.index) for u, _ in triggers}
    for u, hit in triggers:
        answer = None
        for r, rh in responses[bisect.bisect_right(response_at, u.index):]:
            if r.index > window_end[u.index]:
                break
            if spec.within_s is None or r.start_s - u.end_s <= spec.within_s:
                answer = (r, rh)
                break
        if answer is None:
            unanswered.append(evidence_for(ctx, u, hit, acts_note("unanswered trigger", hit)))
        else:
            evidence.append(evidence_for(ctx, u, hit, acts_note("trigger", hit)))
            r, rh = answer
            evidence.append(evidence_for(ctx, r, rh, acts_note("response", rh)))
    considered = tuple(sorted({i for u, _ in triggers
                               for i in range(u.index, window_end[u.index] + 1)}))
    if unanswered and (spec.answer == "every" or not evidence):
        return RuleOutcome(Status.FAIL, tuple(unanswered),
                           f"{len(unanswered)} of {len(triggers)} trigger(s) without a response",
                           considered)
    message = ("every trigger was answered" if not unanswered else
               f"{len(triggers) - len(unanswered)} of {len(triggers)} trigger(s) answered")
    return RuleOutcome(Status.PASS, tuple(evidence), message, considered)


def _window_end(spec: FollowsSpec, utterances: Sequence[Utterance], trigger: int) -> int:
    """The last utterance index in which a response to the trigger at ``trigger`` counts."""
    last = len(utterances) - 1
    if spec.within_turns is None:
        return min(trigger + spec.within_utterances, last)
    role = spec.response.role_filter
    turns = 0
    previous = utterances[trigger].role
    for u in utterances[trigger + 1:]:
        responding = role is None or u.role is role
        # A new turn of the responding role starts where the speaker changes to it.
        if responding and (u.role is not previous or turns == 0):
            turns += 1
            if turns > spec.within_turns:
                return u.index - 1
        previous = u.role
    return last
