"""Built-in rule types, registered by an explicit import list (one rule type per module)."""

from qa_pipeline.rubric.rules import (  # noqa: F401 - imported for registration
    act,
    all_of,
    any_of,
    at_least,
    before,
    emotion,
    follows,
    forbidden_phrase,
    metric_threshold,
    none_of,
    question,
    reaction,
    regex,
    required_phrase,
    sentiment,
    similarity,
)
