"""Plain-Python composition of the stages (no orchestrator): the CLI, flows and notebooks
all call these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa_pipeline.conversation.metrics import MetricsOptions, compute_metrics
from qa_pipeline.errors import ConfigError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import Embedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scorecard.card import Scorecard, build_scorecard
from qa_pipeline.sentiment import SentimentScorer
from qa_pipeline.tenants import TenantConfig

_REPO = Path(__file__).resolve().parent.parent


def rubric_for(tenant: TenantConfig, language: str, override: str | None = None) -> Rubric:
    """The rubric to apply: ``override`` if given, else the tenant's rubric for the call's
    language (falling back to its first rubric).
    """
    if override:
        return load_rubric(override)
    if not tenant.rubrics:
        raise ConfigError(f"tenant {tenant.id!r} configures no rubric; pass --rubric FILE")
    path = tenant.rubrics.get(language) or next(iter(tenant.rubrics.values()))
    p = Path(path)
    return load_rubric(p if p.is_absolute() else _REPO / p)


def score_conversation(
    conversation: Any,
    rubric: Rubric,
    *,
    call_meta: dict[str, Any] | None = None,
    metrics_options: MetricsOptions | None = None,
    sentiment_scorer: SentimentScorer | None = None,
    embedder_factory: Callable[[], Embedder] | None = None,
) -> Scorecard:
    """Conversation -> metrics (+ sentiment) -> rubric evaluation -> scorecard."""
    timings = dict(conversation.provenance.processing_s)
    t0 = time.perf_counter()
    metrics = compute_metrics(conversation, metrics_options)
    timings["metrics"] = time.perf_counter() - t0
    sentiment = None
    if sentiment_scorer is not None:
        t0 = time.perf_counter()
        sentiment = sentiment_scorer.score(conversation)
        timings["sentiment"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ctx = EvaluationContext(conversation, metrics, sentiment, embedder_factory)
    result = evaluate(rubric, ctx)
    timings["rubric"] = time.perf_counter() - t0
    prov = conversation.provenance
    models = {
        "asr": f"{prov.asr_backend}:{prov.asr_model_id}",
        "diarization": f"{prov.diarization_backend}:{prov.diarization_model_id}",
        "roles": prov.role_method,
    }
    if "__embedder__" in ctx._embeddings:
        models["embedding"] = ctx.embedder.model_id
    if sentiment is not None:
        models["sentiment"] = sentiment.model_id
    return build_scorecard(
        rubric, result,
        call_id=conversation.call_id,
        tenant_id=conversation.tenant_id,
        provenance={"models": models, "conversation_pipeline_version": prov.pipeline_version,
                    "conversation_sha256": conversation.sha256,
                    "processing_s": {k: round(v, 3) for k, v in timings.items()}},
        call=call_meta,
        metrics=metrics.to_dict(),
        sentiment=sentiment.to_dict() if sentiment else None,
    )
