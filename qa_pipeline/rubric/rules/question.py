"""question: a yes / no / not-applicable question about the call, answered by an LLM judge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from qa_pipeline.errors import ConfigError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.matching import check_budget
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.types import Evidence, MatchHit, RuleOutcome, Status

_ANSWER_NAME = {"yes": "yes", "no": "no", "not_applicable": "not applicable"}


class QuestionSpec(RuleSpec):
    """YAML block of a question rule."""

    type: Literal["question"]
    question: str = Field(..., min_length=1, description="asked about the whole call")
    instructions: str = Field("", description="how to decide: what counts, what does not")
    pass_on: Literal["yes", "no"] = Field("yes", description="the answer that passes")
    uncertain_band: tuple[float, float] = Field(
        (0.0, 0.8), description="[low, high] of the winning answer's probability that goes "
                                "to human review")
    backend: str = Field("default", description="name of a judge configured for the tenant "
                                                "or rubric")
    allow_not_applicable: bool = True
    require_citation: bool = Field(
        True, description="a yes / no answer that cites no utterance goes to review")

    @field_validator("pass_on", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `yes` / `no` as a boolean.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is blank")
        return value

    @model_validator(mode="after")
    def _band(self) -> QuestionSpec:
        low, high = self.uncertain_band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"uncertain_band must be [low, high] with 0 <= low <= high <= 1, "
                             f"got {list(self.uncertain_band)}")
        return self


@register_rule("question", spec=QuestionSpec)
def question(spec: QuestionSpec, ctx: EvaluationContext) -> RuleOutcome:
    """An evaluation question answered by an LLM judge from the call's transcript.

    The judge reads only the numbered transcript, the question and its instructions (no
    agent name or id, team, history or past scores) and answers by the log-probabilities of
    the allowed answers; it then cites the utterances its answer rests on, which become the
    evidence. The verdict goes to human review when the winning answer's probability lies in
    ``uncertain_band``, when the citation is malformed or names utterances that do not exist,
    (``require_citation``) when a yes / no answer cites nothing, or when the judge cannot
    answer this call (e.g. it is longer than the model's context).
    Passes when: the judge answers ``pass_on``.
    Fails when: it answers the other of yes / no.
    Not applicable when: it answers "not applicable", or the call has no speech.

    Example YAML:
        rule: {type: question, backend: default, pass_on: "yes",
               question: "Did the agent verify the caller's identity before giving account
                          details?",
               instructions: "Name plus date of birth or a one-time code counts.",
               uncertain_band: [0.0, 0.8]}
    """
    conversation = ctx.conversation
    if not conversation.utterances:
        return RuleOutcome(Status.NOT_APPLICABLE, message="the call has no speech")
    judges = ctx.judges or {}
    if spec.backend not in judges:
        configured = ", ".join(sorted(judges)) or "none"
        raise ConfigError(f"question rule: no judge {spec.backend!r} is configured for this "
                          f"tenant or rubric (configured: {configured})")
    from qa_pipeline.judge import JudgeError, Question

    judge = judges[spec.backend]
    # The judge is the slowest rule: it is not asked once the rubric's time budget is spent
    # (by an earlier rule of the same criterion), and an answer that comes back after the
    # deadline stops the rule (``needs_review`` with the reason) instead of grading the call.
    check_budget()
    try:
        answer = judge.ask(conversation, [Question(spec.question, spec.instructions,
                                                   spec.allow_not_applicable)])[0]
    except JudgeError as e:
        # This call cannot be judged (too long for the model, an unusable reply): a person
        # decides. An unreachable judge raises instead: the call fails and a later run retries.
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"judge {judge.model_id} gave no "
                           "answer", review_reason=f"judge could not answer: {e}")
    check_budget()
    shares = ", ".join(f"{_ANSWER_NAME[a]} {p:.2f}" for a, p in answer.probabilities)
    said = _ANSWER_NAME[answer.answer]
    message = f"judge {judge.model_id} answered {said} ({shares})"
    if answer.answer == "not_applicable":
        status = Status.NOT_APPLICABLE
    else:
        status = Status.PASS if answer.answer == spec.pass_on else Status.FAIL
    utterances = conversation.utterances
    note = f"cited by the judge for {said!r} (p={answer.probability:.2f})"
    evidence = tuple(
        Evidence(u.index, u.role, u.start_s, u.end_s, u.text, u.mean_word_probability,
                 u.role_confidence, MatchHit(spec.question, "judge", answer.probability, u.text),
                 note)
        for i in answer.cited for u in (utterances[i],))
    reasons = []
    low, high = spec.uncertain_band
    if low <= answer.probability <= high:
        reasons.append(f"judge uncertain: {said} with p={answer.probability:.2f} in the "
                       f"uncertain band [{low:.2f}, {high:.2f}]")
    if answer.citation_problem:
        reasons.append(f"invalid citation: {answer.citation_problem}")
    elif spec.require_citation and status is not Status.NOT_APPLICABLE and not evidence:
        reasons.append("the judge cited no utterance for its answer")
    # Without citations the verdict rests on the whole call's transcription.
    considered = answer.cited or tuple(u.index for u in utterances)
    return RuleOutcome(status, evidence, message, considered, value=answer.probability,
                       review_reason="; ".join(reasons))
