"""LLM judges that answer evaluation questions about a call from the log-probabilities of the
allowed answers, citing the utterances they rest on (rule type ``question``).
"""

from qa_pipeline.judge.base import ChoiceRequest, Generation, JudgeBackend, JudgeError
from qa_pipeline.judge.judge import (
    Judge,
    JudgeAnswer,
    JudgeOptions,
    Question,
    parse_citations,
    transcript_text,
)
from qa_pipeline.judge.registry import (
    JudgeConfig,
    JudgePool,
    judge_backends,
    load_judge,
    parse_judge_configs,
)

__all__ = [
    "ChoiceRequest",
    "Generation",
    "Judge",
    "JudgeAnswer",
    "JudgeBackend",
    "JudgeConfig",
    "JudgeError",
    "JudgeOptions",
    "JudgePool",
    "Question",
    "judge_backends",
    "load_judge",
    "parse_citations",
    "parse_judge_configs",
    "transcript_text",
]
