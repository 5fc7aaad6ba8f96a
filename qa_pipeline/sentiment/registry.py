"""Sentiment backends by name: ``embedded`` (offline default) and ``transformers``."""

from __future__ import annotations

from collections.abc import Callable

from qa_pipeline.errors import ConfigError, UnknownBackendError
from qa_pipeline.sentiment.base import ClassifierScorer, SentimentOptions, SentimentScorer


def _embedded(options: SentimentOptions) -> SentimentScorer:
    from qa_pipeline.sentiment.embedded import EmbeddingHeadClassifier

    if options.model:
        raise ConfigError("the embedded sentiment backend has no model choice; use "
                          "backend 'transformers' to load a model by hub id or path")
    return ClassifierScorer(EmbeddingHeadClassifier())


def _transformers(options: SentimentOptions) -> SentimentScorer:
    from qa_pipeline.sentiment.transformers_backend import TransformersClassifier

    if not options.model:
        raise ConfigError("the transformers sentiment backend needs a model "
                          "(hub id, registered name or local directory)")
    return ClassifierScorer(TransformersClassifier(
        options.model, device=options.device, batch_size=options.batch_size,
        max_length_tokens=options.max_length_tokens, label_map=options.label_map))


_REGISTRY: dict[str, Callable[[SentimentOptions], SentimentScorer]] = {
    "embedded": _embedded,
    "transformers": _transformers,
}


def available_backends() -> list[str]:
    """Registered backend names (plus ``none``, which disables the stage)."""
    return sorted([*_REGISTRY, "none"])


def get_sentiment_scorer(options: SentimentOptions | None = None) -> SentimentScorer | None:
    """The scorer for ``options`` (None for backend ``none``).

    Raises:
        UnknownBackendError: the backend name is not registered.
        ModelUnavailableError: the model cannot be found or loaded.
    """
    options = options or SentimentOptions()
    if options.backend == "none":
        return None
    try:
        factory = _REGISTRY[options.backend]
    except KeyError:
        raise UnknownBackendError("sentiment", options.backend, available_backends()) from None
    return factory(options)
