"""Ask a judge model yes / no / not-applicable questions about one call.

The prompt holds only the call: its utterances, numbered and labelled with the speaker's
role, then one question with its instructions. Call ids, tenant, agent names or ids, teams,
history and past scores never reach it (changing such details flips a share of LLM verdicts,
so the judge must not see them).

The answer is the allowed choice with the highest log-probability as the continuation of the
prompt, normalised over the allowed choices. The judge then continues after its answer with
the numbers of the utterances that support it; that list is parsed strictly as integers and
checked against the call, so a verdict quotes real utterances or is flagged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from qa_pipeline.judge.base import ChoiceRequest, JudgeBackend, JudgeError
from qa_pipeline.types import Conversation, Role

Answer = Literal["yes", "no", "not_applicable"]

# The text each answer is scored as, right after "Answer:". A leading space keeps the answer
# in its own tokens (BPE vocabularies attach a space to the word that follows it), so the
# prompt's tokens are the same with every choice.
ANSWER_TEXT: dict[Answer, str] = {"yes": " yes", "no": " no", "not_applicable": " not applicable"}

_INTRO = ("You are a quality-assurance analyst at a contact center. Below is the transcript of "
          "one call. Each utterance is numbered and labelled with the speaker's role.\n\n"
          "Transcript:\n")
_ROLE_LABEL = {Role.AGENT: "AGENT", Role.CUSTOMER: "CUSTOMER", Role.UNKNOWN: "SPEAKER"}
_CITATIONS = re.compile(r"[0-9]+(?: *, *[0-9]+)*")  # ASCII digits only, one line
_EVIDENCE_CUE = "\nEvidence: ["
_EVIDENCE_END = "]"


@dataclass(frozen=True, slots=True)
class Question:
    """One evaluation question.

    ``text`` is answered yes / no (or not applicable when ``allow_not_applicable``);
    ``instructions`` say how to decide (what counts, what does not).
    """

    text: str
    instructions: str = ""
    allow_not_applicable: bool = True

    @property
    def choices(self) -> tuple[Answer, ...]:
        """The allowed answers, in scoring order."""
        return ("yes", "no", "not_applicable") if self.allow_not_applicable else ("yes", "no")


@dataclass(frozen=True, slots=True)
class JudgeAnswer:
    """The judge's answer to one question about one call.

    ``probability`` is the answer's share of the probability of the allowed choices
    (``probabilities`` lists every allowed choice's share, best first);
    ``cited`` the valid utterance indices the judge gave as support (in its order, without
    repeats); ``citation_problem`` is empty when the cited list was well formed and every
    index exists, and otherwise says what was wrong (``cited`` is then empty).
    """

    answer: Answer
    probability: float
    probabilities: tuple[tuple[Answer, float], ...]
    cited: tuple[int, ...]
    citation_problem: str
    raw_citation: str


@dataclass(frozen=True, slots=True)
class JudgeOptions:
    """How a :class:`Judge` asks.

    ``citation_max_new_tokens`` bounds the generated list of utterance numbers;
    ``max_citations`` keeps the first so many cited utterances.
    """

    citation_max_new_tokens: int = 24
    max_citations: int = 8


def transcript_text(conversation: Conversation) -> str:
    """The call as the judge reads it: ``[index] ROLE: text`` per utterance, one a line.

    Only the role and the words are used: nothing else about the call or the agent. The text
    ends on the last utterance's last character, not on whitespace: tokenizers merge runs of
    whitespace, so a prefix ending in newlines would be split differently alone than followed
    by the question, and its cached tokens would no longer be a prefix of the prompt's.
    """
    lines = []
    for u in conversation.utterances:
        text = " ".join(u.text.split())  # a line per utterance keeps the numbering unambiguous
        lines.append(f"[{u.index}] {_ROLE_LABEL[u.role]}: {text}".rstrip())
    return _INTRO + "\n".join(lines)


def question_text(question: Question) -> str:
    """The question block that follows the transcript (it starts with the blank line that
    separates them).
    """
    allowed = "yes, no, not applicable" if question.allow_not_applicable else "yes, no"
    parts = [f"\n\nQuestion: {' '.join(question.text.split())}\n"]
    if question.instructions.strip():
        parts.append(f"Instructions: {' '.join(question.instructions.split())}\n")
    parts.append(f"Answer with exactly one of: {allowed}. Then list the numbers of the "
                 "utterances that support your answer, in square brackets, separated by "
                 "commas.")
    return "".join(parts)


def parse_citations(generation: str, stopped: bool, utterance_count: int
                    ) -> tuple[tuple[int, ...], str]:
    """(cited indices, problem) from the text the judge wrote after ``Evidence: [``.

    The list must be closed with ``]`` and hold only comma-separated integers that are
    utterance indices of the call; anything else is a problem (and nothing is cited). An
    empty list is well formed.
    """
    shown = generation.strip()
    if not stopped:
        return (), f"the judge did not close its list of cited utterances ({shown[:60]!r})"
    if not shown:
        return (), ""
    if not _CITATIONS.fullmatch(shown):
        return (), f"the judge's citation is not a list of utterance numbers ({shown[:60]!r})"
    numbers = [int(n) for n in shown.split(",")]
    missing = sorted({n for n in numbers if n >= utterance_count})
    if missing:
        return (), (f"the judge cited utterances that do not exist: {missing} (the call has "
                    f"{utterance_count} utterances, 0-{utterance_count - 1})")
    return tuple(dict.fromkeys(numbers)), ""


class Judge:
    """A judge backend with the prompt discipline and the answer and citation checks."""

    def __init__(self, backend: JudgeBackend, options: JudgeOptions | None = None) -> None:
        self.backend = backend
        self.options = options or JudgeOptions()
        # The last call's prompt prefix and its answers: a question asked again on the same
        # call (the same question in two criteria) is answered once.
        self._answered: tuple[str, dict[Question, JudgeAnswer]] = ("", {})

    @property
    def model_id(self) -> str:
        """The backend's model id (for provenance)."""
        return self.backend.model_id

    def ask(self, conversation: Conversation, questions: Sequence[Question]
            ) -> tuple[JudgeAnswer, ...]:
        """Answer ``questions`` about ``conversation`` (one batch per step).

        Every prompt starts with the same transcript prefix, so the backend computes it once
        (transformers: reused key/value cache; servers: their prefix cache).
        """
        if not questions:
            return ()
        prefix, tail = self.backend.format_prompt(transcript_text(conversation))
        if self._answered[0] != prefix:
            self._answered = (prefix, {})
        known = self._answered[1]
        todo = list(dict.fromkeys(q for q in questions if q not in known))
        if todo:
            known.update(zip(todo, self._ask(conversation, prefix, tail, todo), strict=True))
        return tuple(known[q] for q in questions)

    def _ask(self, conversation: Conversation, prefix: str, tail: str,
             questions: Sequence[Question]) -> list[JudgeAnswer]:
        contexts = [question_text(q) + tail + "Answer:" for q in questions]
        scored = self.backend.score_choices(prefix, [
            ChoiceRequest(ctx, tuple(ANSWER_TEXT[c] for c in q.choices))
            for ctx, q in zip(contexts, questions, strict=True)])
        ranked = [_normalise(q.choices, logps) for q, logps in
                  zip(questions, scored, strict=True)]
        follow_ups = [ctx + ANSWER_TEXT[probs[0][0]] + _EVIDENCE_CUE
                      for ctx, probs in zip(contexts, ranked, strict=True)]
        generations = self.backend.generate(
            prefix, follow_ups, max_new_tokens=self.options.citation_max_new_tokens,
            stop=_EVIDENCE_END)
        answers = []
        count = len(conversation.utterances)
        for probs, gen in zip(ranked, generations, strict=True):
            cited, problem = parse_citations(gen.text, gen.stopped, count)
            best, p = probs[0]
            answers.append(JudgeAnswer(best, p, tuple(probs),
                                       cited[: self.options.max_citations], problem, gen.text))
        return answers


def _normalise(choices: tuple[Answer, ...], logps: tuple[float, ...]
               ) -> list[tuple[Answer, float]]:
    """Choices with their probabilities normalised over the allowed choices, best first
    (ties keep the choice order).
    """
    if len(logps) != len(choices) or not all(math.isfinite(x) or x == -math.inf
                                             for x in logps):
        raise JudgeError(f"expected {len(choices)} finite log-probabilities, got {logps}")
    top = max(logps)
    if top == -math.inf:
        raise JudgeError("every choice has probability 0")
    weights = [math.exp(x - top) for x in logps]
    total = sum(weights)
    probs = [(c, w / total) for c, w in zip(choices, weights, strict=True)]
    return sorted(probs, key=lambda cp: -cp[1])
