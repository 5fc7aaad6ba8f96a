"""Batch processing, stage by stage: plan -> front end (one model set per tenant, all calls,
then released) -> scoring -> store. Per-call failure isolation, content-keyed caching,
skip-if-done, idempotent writes. Prefect flows (``flows/``) call these same methods as
tasks; the library itself knows nothing of Prefect.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_pipeline.audio.io import AudioOptions, probe_audio, sha256_file
from qa_pipeline.batch import Failure, claim_output, failure_from, quarantine
from qa_pipeline.errors import QAPipelineError, SourceError
from qa_pipeline.hooks import StageHook, null_hook
from qa_pipeline.manifest import CallMeta
from qa_pipeline.runner.cache import CachedFrontEnd, FrontEndCache
from qa_pipeline.runner.costs import Meter
from qa_pipeline.runner.keys import config_key, frontend_key
from qa_pipeline.runner.sources import CallSource, fetch
from qa_pipeline.store import Store
from qa_pipeline.tenants import TenantConfig, load_tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Options of one batch run.

    Attributes:
        cache_dir: front-end cache and staging area for remote recordings (share it between
            nodes to share work).
        out_dir: also write ``<out>/<call_id>/conversation.json`` and ``scorecard.json|html``
            and file quarantine records, like ``qa-pipeline score``.
        asr_model, diarizer, sentiment, rubric: overrides of the tenant's configuration.
        run_id: recorded with costs and scorecards; a fresh id per run by default.
        release_models: drop each stage's models when the stage ends (GPU memory).
    """

    cache_dir: Path = Path(".qa_cache")
    out_dir: Path | None = None
    asr_model: str | None = None
    diarizer: str | None = None
    sentiment: str | None = None
    rubric: str | None = None
    run_id: str = ""
    release_models: bool = True


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call that needs processing, with its identity and configuration fingerprints."""

    source: CallSource
    local_path: str
    sha256: str
    call_id: str
    frontend_key: str
    config_key: str

    @property
    def tenant_id(self) -> str:
        """Owner of the call."""
        return self.source.meta.tenant_id

    def to_dict(self) -> dict[str, Any]:
        """JSON form (flows hand plans between tasks)."""
        return {"source": self.source.to_dict(), "local_path": self.local_path,
                "sha256": self.sha256, "call_id": self.call_id,
                "frontend_key": self.frontend_key, "config_key": self.config_key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlannedCall:
        """Inverse of :meth:`to_dict`."""
        return cls(CallSource.from_dict(d["source"]), d["local_path"], d["sha256"],
                   d["call_id"], d["frontend_key"], d["config_key"])


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A call that failed, whose tenant it was, and why."""

    tenant_id: str
    source_uri: str
    source_key: str
    failure: Failure

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"tenant_id": self.tenant_id, "source_uri": self.source_uri,
                "source_key": self.source_key, **self.failure.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallFailure:
        """Inverse of :meth:`to_dict`."""
        return cls(d["tenant_id"], d["source_uri"], d["source_key"],
                   Failure(d["path"], d["error_type"], d["reason"], d["message"]))


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """A call that now has a stored scorecard."""

    tenant_id: str
    call_id: str
    total_score: float
    grade: str
    has_fatal: bool
    needs_review: bool
    cached_frontend: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"tenant_id": self.tenant_id, "call_id": self.call_id,
                "total_score": self.total_score, "grade": self.grade,
                "has_fatal": self.has_fatal, "needs_review": self.needs_review,
                "cached_frontend": self.cached_frontend}


@dataclass(frozen=True, slots=True)
class SkippedCall:
    """A call already scored with the same audio and configuration."""

    tenant_id: str
    call_id: str
    source_uri: str


@dataclass
class Plan:
    """What a batch will do."""

    todo: list[PlannedCall] = field(default_factory=list)
    skipped: list[SkippedCall] = field(default_factory=list)
    failed: list[CallFailure] = field(default_factory=list)


@dataclass
class RunReport:
    """What a batch did."""

    run_id: str
    processed: list[ScoredCall] = field(default_factory=list)
    skipped: list[SkippedCall] = field(default_factory=list)
    failed: list[CallFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the flow's return value and ``qa-pipeline run --json``)."""
        return {"run_id": self.run_id, "processed": [p.to_dict() for p in self.processed],
                "skipped": [{"tenant_id": s.tenant_id, "call_id": s.call_id,
                             "source_uri": s.source_uri} for s in self.skipped],
                "failed": [f.to_dict() for f in self.failed]}


def _source_key(uri: str, sha256: str | None) -> str:
    if sha256:
        return f"sha256:{sha256}"
    return "uri:" + hashlib.sha256(uri.encode("utf-8")).hexdigest()[:40]


def release_stage_models() -> None:
    """Drop cached front-end models and return GPU memory before the next stage."""
    from qa_pipeline.asr.faster_whisper import release_models
    from qa_pipeline.diarization.speaker_encoder import release_encoder

    release_models()
    release_encoder()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class BatchRunner:
    """Runs batches against one store. Reuse one runner for many batches: tenant configs,
    front ends and analysers are built once per tenant.
    """

    def __init__(self, store: Store, options: RunOptions | None = None,
                 hook: StageHook | None = None,
                 frontend_factory: Callable[[TenantConfig, RunOptions], Any] | None = None
                 ) -> None:
        self.store = store
        self.options = options or RunOptions()
        self.run_id = self.options.run_id or uuid.uuid4().hex[:16]
        self.hook = hook or null_hook
        self.cache = FrontEndCache(self.options.cache_dir / "frontend", vaults=store.vault)
        self._frontend_factory = frontend_factory or _default_frontend
        self._tenants: dict[str, TenantConfig] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._frontends: dict[str, Any] = {}
        self._analyzers: dict[str, Any] = {}

    # --- configuration ------------------------------------------------------------------------
    def tenant(self, tenant_id: str) -> TenantConfig:
        """The tenant's configuration (``UnknownTenantError`` when there is none)."""
        if tenant_id not in self._tenants:
            self._tenants[tenant_id] = load_tenant(tenant_id)
        return self._tenants[tenant_id]

    def keys(self, tenant_id: str) -> tuple[str, str]:
        """``(frontend_key, config_key)`` of a tenant under this run's options."""
        if tenant_id not in self._keys:
            from qa_pipeline.call_reason import load_taxonomy
            from qa_pipeline.pipeline import repo_path, rubric_for

            cfg = self.tenant(tenant_id)
            o = self.options
            fkey = frontend_key(cfg, asr_model=o.asr_model, diarizer=o.diarizer)
            langs = list(cfg.rubrics) or list(cfg.languages)
            refs = sorted({rubric_for(cfg, lang, o.rubric).ref for lang in langs})
            taxonomy = load_taxonomy(repo_path(cfg.call_reasons)).ref if cfg.call_reasons else None
            self._keys[tenant_id] = (fkey, config_key(cfg, fkey, rubric_refs=refs,
                                                      sentiment=o.sentiment,
                                                      taxonomy_ref=taxonomy))
        return self._keys[tenant_id]

    # --- stage 0: plan ------------------------------------------------------------------------
    def plan(self, sources: Iterable[CallSource]) -> Plan:
        """Fetch, fingerprint, validate (container header) and de-duplicate; skip calls
        already scored under the same configuration; failures (unknown tenant, unreadable
        source, bad audio) are quarantined before any model loads.
        """
        plan = Plan()
        seen: set[tuple[str, str]] = set()
        for source in sources:
            tenant_id = source.meta.tenant_id
            sha = None
            try:
                self.tenant(tenant_id)
                self.store.register_tenant(tenant_id)
                fkey, ckey = self.keys(tenant_id)
                local = fetch(source, self.options.cache_dir / "staging")
                try:
                    sha = sha256_file(local)
                except OSError as e:
                    raise SourceError(f"cannot read {source.uri}: {e}") from e
                # Validate from the header now, so bad files never reach a model.
                cfg = self.tenant(tenant_id)
                probe_audio(local, AudioOptions(max_duration_s=cfg.max_duration_s),
                            expected_channels=cfg.expected_channels)
            except QAPipelineError as e:
                plan.failed.append(self._fail(source, sha, e))
                continue
            call_id = source.meta.call_id or sha[:16]
            if (tenant_id, call_id) in seen:
                continue
            seen.add((tenant_id, call_id))
            done = self.store.tenant(tenant_id).done_call(sha, ckey)
            if done is not None:
                plan.skipped.append(SkippedCall(tenant_id, done, source.uri))
                continue
            plan.todo.append(PlannedCall(source, str(local), sha, call_id, fkey, ckey))
        return plan

    # --- stage 1: front end -------------------------------------------------------------------
    def transcribe(self, calls: Sequence[PlannedCall], *, release: bool | None = None
                   ) -> tuple[list[tuple[PlannedCall, str]], list[CallFailure]]:
        """Front end over all calls, one model set per tenant, results into the content
        cache. Returns ``(call, cache path)`` pairs and the failures.
        """
        from qa_pipeline.emotion import extract_acoustics

        done: list[tuple[PlannedCall, str]] = []
        failed: list[CallFailure] = []
        for i, call in enumerate(calls):
            self.hook("frontend", completed=i, total=len(calls))
            hit = self.cache.get(call.tenant_id, call.sha256, call.frontend_key)
            if hit is not None:
                done.append((call, str(hit.path)))
                continue
            meter = Meter()
            try:
                fe = self._frontend(call.tenant_id)
                device = str(getattr(fe.transcriber, "device", "cpu"))
                with meter.stage("frontend", device):
                    # The plan already hashed the file: do not read it a second time.
                    audio, conv = fe.load_and_transcribe(call.local_path, call.call_id,
                                                         sha256=call.sha256)
                with meter.stage("acoustics"):
                    acoustics = extract_acoustics(audio, conv)
                del audio
                conv = self._apply_privacy(conv, meter)
                path = self.cache.put(conv, call.frontend_key, acoustics=acoustics,
                                      costs=meter.stages, run_id=self.run_id)
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                failed.append(self._fail(call.source, call.sha256, e))
                continue
            done.append((call, str(path)))
        self.hook("frontend", completed=len(calls), total=len(calls))
        if release if release is not None else self.options.release_models:
            self.release_frontends()
        return done, failed

    def _apply_privacy(self, conv: Any, meter: Meter) -> Any:
        """Redact before anything is persisted when the tenant's policy says so."""
        policy = self.tenant(conv.tenant_id).privacy
        if policy.mode != "redact_before_storage":
            return conv
        import dataclasses

        from qa_pipeline.privacy import redact_conversation

        with meter.stage("redaction"):
            conv, removed = redact_conversation(conv, tuple(policy.kinds))
        kinds = sorted({r.kind for r in removed})
        note = (f"redacted before storage: {len(removed)} mention(s)"
                + (f" ({', '.join(kinds)})" if kinds else ""))
        prov = dataclasses.replace(conv.provenance, notes=(*conv.provenance.notes, note))
        return dataclasses.replace(conv, provenance=prov)

    def release_frontends(self) -> None:
        """Drop this runner's front ends and the process's cached front-end models."""
        self._frontends.clear()
        release_stage_models()

    def _frontend(self, tenant_id: str) -> Any:
        if tenant_id not in self._frontends:
            self._frontends[tenant_id] = self._frontend_factory(self.tenant(tenant_id),
                                                                self.options)
        return self._frontends[tenant_id]

    # --- stage 2: scoring ---------------------------------------------------------------------
    def score(self, transcribed: Sequence[tuple[PlannedCall, str]]
              ) -> tuple[list[ScoredCall], list[CallFailure]]:
        """Score cached front-end results and store conversation, scorecard and costs."""
        scored: list[ScoredCall] = []
        failed: list[CallFailure] = []
        for i, (call, path) in enumerate(transcribed):
            self.hook("score", completed=i, total=len(transcribed))
            try:
                cached = FrontEndCache.read(path, self.store.vault(call.tenant_id)
                                            ).for_call(call.call_id)
                scored.append(self._score_one(call, cached))
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                failed.append(self._fail(call.source, call.sha256, e))
        self.hook("score", completed=len(transcribed), total=len(transcribed))
        return scored, failed

    def _score_one(self, call: PlannedCall, cached: CachedFrontEnd) -> ScoredCall:
        tenant_id = call.tenant_id
        conv = cached.conversation
        if conv.tenant_id != tenant_id:
            raise QAPipelineError(f"cached conversation of tenant {conv.tenant_id!r} offered "
                                  f"to tenant {tenant_id!r}")
        card, meta, costs = self._card(call, conv, cached.acoustics, "scoring")
        tstore = self.store.tenant(tenant_id)
        # Front-end costs stay under the run that paid them, so a cache hit bills nothing
        # twice; the store replaces rather than appends on retry.
        tstore.save_conversation(conv, frontend_key=call.frontend_key,
                                 acoustics=cached.acoustics.to_dict() if cached.acoustics else None,
                                 meta=meta, source_uri=call.source.uri,
                                 costs=list(cached.costs), run_id=cached.run_id)
        tstore.save_scorecard(card, config_key=call.config_key, run_id=self.run_id,
                              costs=costs, source_keys=[_source_key(call.source.uri, None)])
        if self.options.out_dir is not None:
            self._write_files(conv, card, self.options.out_dir)
        return ScoredCall(tenant_id, call.call_id, round(card.total_score, 2), card.grade,
                          card.has_fatal, card.needs_review, cached.run_id != self.run_id)

    def _card(self, call: PlannedCall, conv: Any, acoustics: Any, stage: str
              ) -> tuple[Any, dict[str, Any], list[Any]]:
        """Score one conversation under this run's rubric and analysers, metered as
        ``stage``: (scorecard, call metadata, stage costs). With ``out_dir``, a folder held
        by another tenant is refused here, before anything is stored.
        """
        from qa_pipeline.pipeline import rubric_for, score_conversation

        if self.options.out_dir is not None:
            claim_output(self.options.out_dir, call.call_id, call.tenant_id)
        cfg = self.tenant(call.tenant_id)
        meta = {**call.source.meta.to_dict(), "call_id": call.call_id}
        meter = Meter()
        with meter.stage(stage):
            card = score_conversation(conv, rubric_for(cfg, conv.language, self.options.rubric),
                                      call_meta=meta,
                                      analyzers=self._analyzers_for(call.tenant_id),
                                      acoustics=acoustics)
        return card, meta, meter.stages

    def _analyzers_for(self, tenant_id: str) -> Any:
        from qa_pipeline.pipeline import analyzers_for

        if tenant_id not in self._analyzers:
            self._analyzers[tenant_id] = analyzers_for(self.tenant(tenant_id),
                                                       self.options.sentiment)
        return self._analyzers[tenant_id]

    @staticmethod
    def _write_files(conv: Any, card: Any, out_dir: Path) -> None:
        from qa_pipeline.conversation.export import write_conversation
        from qa_pipeline.privacy.vault import display_kinds
        from qa_pipeline.scorecard.render import write_scorecard

        kinds = display_kinds(conv.tenant_id)
        if kinds is not None:
            # Output files are for people: a tenant that encrypts at rest gets them redacted.
            from qa_pipeline.privacy import redact_conversation
            from qa_pipeline.privacy.redact import redact_scorecard_object

            conv, _ = redact_conversation(conv, kinds)
            card = redact_scorecard_object(card, kinds)
        target = claim_output(out_dir, conv.call_id, conv.tenant_id)
        write_conversation(conv, target / "conversation.json")
        write_scorecard(card, out_dir, conv)

    # --- whole batches ------------------------------------------------------------------------
    def run(self, sources: Iterable[CallSource]) -> RunReport:
        """Plan, front end, scoring: the whole batch in this process."""
        report = RunReport(self.run_id)
        plan = self.plan(sources)
        report.skipped, report.failed = plan.skipped, list(plan.failed)
        transcribed, failed = self.transcribe(plan.todo)
        report.failed += failed
        report.processed, failed = self.score(transcribed)
        report.failed += failed
        return report

    def rescore(self, tenant_id: str, *, since: Any = None, until: Any = None) -> RunReport:
        """Re-score a tenant's stored conversations (started in ``[since, until)``) under the
        current rubric and analysers: no audio, no ASR.
        """
        from qa_pipeline.emotion import AcousticTrack

        report = RunReport(self.run_id)
        self.tenant(tenant_id)
        tstore = self.store.tenant(tenant_id)
        _fkey, ckey = self.keys(tenant_id)
        calls = [c for c in tstore.calls(since=since, until=until)
                 if c.status in ("scored", "transcribed")]
        for i, rec in enumerate(calls):
            self.hook("rescore", completed=i, total=len(calls))
            meta = CallMeta(path=rec.source_uri, tenant_id=tenant_id, call_id=rec.call_id,
                            agent_id=rec.agent_id, team_id=rec.team_id,
                            business_line=rec.business_line, started_at=rec.started_at,
                            direction=rec.direction, channel_layout=rec.channel_layout)
            source = CallSource(rec.source_uri, meta)
            planned = PlannedCall(source, rec.source_uri, rec.sha256, rec.call_id, "", ckey)
            try:
                conv, acoustics = tstore.conversation(rec.call_id)
                track = AcousticTrack.from_dict(rec.call_id, acoustics) if acoustics else None
                report.processed.append(self._rescore_one(planned, conv, track))
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                report.failed.append(self._fail(source, rec.sha256, e))
        self.hook("rescore", completed=len(calls), total=len(calls))
        return report

    def _rescore_one(self, call: PlannedCall, conv: Any, acoustics: Any) -> ScoredCall:
        card, _meta, costs = self._card(call, conv, acoustics, "rescoring")
        self.store.tenant(call.tenant_id).save_scorecard(
            card, config_key=call.config_key, run_id=self.run_id, costs=costs)
        if self.options.out_dir is not None:
            self._write_files(conv, card, self.options.out_dir)
        return ScoredCall(call.tenant_id, call.call_id, round(card.total_score, 2), card.grade,
                          card.has_fatal, card.needs_review, True)

    # --- failures -----------------------------------------------------------------------------
    def _fail(self, source: CallSource, sha256: str | None, error: Exception) -> CallFailure:
        if not isinstance(error, QAPipelineError):
            logger.exception("unexpected error on %s", source.uri, exc_info=error)
        failure = failure_from(source.uri, error)
        out = CallFailure(source.meta.tenant_id, source.uri, _source_key(source.uri, sha256),
                          failure)
        self.quarantine(out)
        return out

    def quarantine(self, failure: CallFailure) -> None:
        """Record a failure in the tenant's store quarantine and, with ``out_dir``, as a file.
        A tenant without configuration has no store rows; its failure is only reported.
        """
        tenant_id = failure.tenant_id
        if tenant_id in self.store.tenant_ids():
            self.store.tenant(tenant_id).quarantine(
                failure.source_key, failure.source_uri, error_type=failure.failure.error_type,
                reason=failure.failure.reason, message=failure.failure.message)
        if self.options.out_dir is not None:
            quarantine(self.options.out_dir / (tenant_id or "_unknown"), failure.failure)


def _default_frontend(tenant: TenantConfig, options: RunOptions) -> Any:
    from qa_pipeline.frontend import FrontEnd, asr_options_for

    return FrontEnd.for_tenant(tenant, asr_options_for(tenant, model=options.asr_model),
                               options.diarizer)
