"""What every judge backend provides: log-probabilities of given continuations, and short
greedy generations, both after a shared prompt prefix.

Answers are never parsed from free text: the judge compares the log-probabilities of the
allowed choices. Generation is used only for the list of cited utterance numbers, which is
parsed strictly (see :mod:`qa_pipeline.judge.judge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from qa_pipeline.errors import QAPipelineError


class JudgeError(QAPipelineError):
    """A judge backend answered something unusable (a server reply without log-probabilities,
    a prompt the tokenizer cannot split at the answer, ...).
    """


@dataclass(frozen=True, slots=True)
class ChoiceRequest:
    """Score each of ``choices`` as the continuation of ``prefix + context``.

    ``prefix`` (the numbered transcript) is passed separately to the backend because it is
    shared by every question on a call: backends reuse its computation.
    """

    context: str
    choices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Generation:
    """A greedy continuation: the text before the stop string, and whether the stop string
    was reached (False: the token budget ran out or the model ended its turn first).
    """

    text: str
    stopped: bool


@runtime_checkable
class JudgeBackend(Protocol):
    """A causal language model that scores and continues prompts sharing a prefix."""

    @property
    def model_id(self) -> str:
        """Provenance id of the model (``transformers:<path or hub id>``, ``openai:<url>``)."""
        ...

    def format_prompt(self, user_text_head: str) -> tuple[str, str]:
        """(head, tail) that wrap the user's part of a prompt: the model's chat template
        around ``user_text_head`` (the transcript) up to where the question goes, and what
        follows the question up to the start of the model's reply. Plain text without a
        chat template: the transcript as it is, and a newline.
        """
        ...

    def score_choices(self, prefix: str, requests: Sequence[ChoiceRequest]
                      ) -> list[tuple[float, ...]]:
        """Per request, the summed token log-probability of each choice as the continuation
        of ``prefix + request.context`` (natural log, in choice order).
        """
        ...

    def generate(self, prefix: str, contexts: Sequence[str], *, max_new_tokens: int,
                 stop: str) -> list[Generation]:
        """Per context, the greedy continuation of ``prefix + context`` up to ``stop``."""
        ...
