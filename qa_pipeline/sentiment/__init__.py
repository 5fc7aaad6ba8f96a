"""Per-utterance text sentiment (negative / neutral / positive) behind a Protocol + registry."""

from qa_pipeline.sentiment.base import (
    LABELS,
    ClassifierScorer,
    Label,
    SentimentOptions,
    SentimentScorer,
    SentimentTrack,
    TextClassifier,
    UtteranceSentiment,
)
from qa_pipeline.sentiment.registry import available_backends, get_sentiment_scorer

__all__ = [
    "LABELS",
    "ClassifierScorer",
    "Label",
    "SentimentOptions",
    "SentimentScorer",
    "SentimentTrack",
    "TextClassifier",
    "UtteranceSentiment",
    "available_backends",
    "get_sentiment_scorer",
]
