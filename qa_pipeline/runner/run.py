"""Batch processing, stage by stage: plan -> front end (one model set per tenant, all calls,
then released) -> scoring -> outputs. Per-call failure isolation, content-keyed caching,
skip-if-done, idempotent writes, the tenant's privacy policy. Every command that processes
calls goes through :class:`BatchRunner`: ``run`` and ``rescore`` against a store (Prefect
flows in ``flows/`` call these same methods as tasks), ``score`` and ``transcribe``
without one (files only), ``bench`` without one and without files. The library itself knows
nothing of Prefect.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from qa_pipeline.audio.io import AudioOptions, probe_audio, sha256_file
from qa_pipeline.batch import Failure, check_inside, claim_output, failure_from, quarantine
from qa_pipeline.errors import QAPipelineError, SourceError
from qa_pipeline.hooks import StageHook, null_hook
from qa_pipeline.manifest import CallMeta
from qa_pipeline.privacy.vault import Vault, vault_for
from qa_pipeline.runner import warmup
from qa_pipeline.runner.cache import CachedFrontEnd, FrontEndCache
from qa_pipeline.runner.costs import Meter, scoring_device
from qa_pipeline.runner.keys import config_key, frontend_key
from qa_pipeline.runner.sources import CallSource, fetch, is_conversation_file
from qa_pipeline.store import StageSeconds, Store
from qa_pipeline.tenants import TenantConfig, load_tenant

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Options of one batch run.

    Attributes:
        cache_dir: front-end cache and staging area for remote recordings (share it between
            nodes to share work).
        out_dir: also write ``<out>/<call_id>/conversation.json`` (and with scoring
            ``scorecard.json|html``) and file quarantine records; without a store, the only
            place results go.
        scoring: score calls after the front end; off, a run stops at transcripts
            (``qa-pipeline transcribe``).
        exports: with ``out_dir``, also write ``conversation.rttm|srt|vtt``.
        asr_model, diarizer, sentiment, rubric: overrides of the tenant's configuration.
        run_id: recorded with costs and scorecards; a fresh id per run by default.
        release_models: drop each stage's models when the stage ends (GPU memory).
    """

    cache_dir: Path = Path(".qa_cache")
    out_dir: Path | None = None
    scoring: bool = True
    exports: bool = False
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

    @property
    def content_key(self) -> str:
        """What the front end's result depends on: tenant, audio and configuration (never
        the call's identity or location).
        """
        return f"{self.tenant_id}/{self.sha256}/{self.frontend_key}"

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


@dataclass(frozen=True, slots=True)
class TranscribedCall:
    """A call whose transcript was written (a run without scoring)."""

    tenant_id: str
    call_id: str
    cached_frontend: bool


@dataclass(frozen=True, slots=True)
class CallResult:
    """Everything a run made of one call, for callers that keep results in memory (the
    evaluation harness): the front-end result under the call's identity, and the scorecard
    with what scoring cost (None and empty without scoring).
    """

    call: PlannedCall
    frontend: CachedFrontEnd
    scorecard: Any
    scoring_costs: tuple[StageSeconds, ...]


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
    transcribed: list[TranscribedCall] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the flow's return value and ``qa-pipeline run --json``)."""
        return {"run_id": self.run_id, "processed": [p.to_dict() for p in self.processed],
                "skipped": [{"tenant_id": s.tenant_id, "call_id": s.call_id,
                             "source_uri": s.source_uri} for s in self.skipped],
                "failed": [f.to_dict() for f in self.failed],
                "transcribed": [dataclasses.asdict(t) for t in self.transcribed]}


def _source_key(uri: str, sha256: str | None) -> str:
    if sha256:
        return f"sha256:{sha256}"
    return "uri:" + hashlib.sha256(uri.encode("utf-8")).hexdigest()[:40]


def release_stage_models() -> None:
    """Drop cached front-end models and return GPU memory before the next stage (after any
    warm-up still loading, so that none is left behind).
    """
    from qa_pipeline.asr.faster_whisper import release_models
    from qa_pipeline.diarization.speaker_encoder import release_encoder

    warmup.wait()
    release_models()
    release_encoder()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class BatchRunner:
    """Runs batches, against a store or (``store=None``) writing files only. Reuse one runner
    for many batches: tenant configs, front ends and analysers are built once per tenant.

    Args:
        store: where conversations, scorecards, costs and quarantine rows go; None for a
            run whose results are the files under ``options.out_dir`` (and ``on_result``).
        options: the run's options.
        hook: progress callback.
        frontend_factory: builds a tenant's front end (tests pass fakes).
        tenant_loader: a tenant's configuration by id (the evaluation harness applies its
            overrides here).
        on_result: called with every call's :class:`CallResult`.
    """

    def __init__(self, store: Store | None, options: RunOptions | None = None,
                 hook: StageHook | None = None,
                 frontend_factory: Callable[[TenantConfig, RunOptions], Any] | None = None,
                 *, tenant_loader: Callable[[str], TenantConfig] | None = None,
                 on_result: Callable[[CallResult], None] | None = None) -> None:
        self.store = store
        self.options = options or RunOptions()
        self.run_id = self.options.run_id or uuid.uuid4().hex[:16]
        self.hook = hook or null_hook
        self.cache = FrontEndCache(self.options.cache_dir / "frontend", vaults=self.vault)
        self._frontend_factory = frontend_factory or _default_frontend
        self._tenant_loader = tenant_loader or load_tenant
        self._on_result = on_result
        self._tenants: dict[str, TenantConfig] = {}
        self._vaults: dict[str, Vault | None] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._frontends: dict[str, Any] = {}
        self._analyzers: dict[str, Any] = {}

    # --- configuration ------------------------------------------------------------------------
    def tenant(self, tenant_id: str) -> TenantConfig:
        """The tenant's configuration (``UnknownTenantError`` when there is none)."""
        if tenant_id not in self._tenants:
            self._tenants[tenant_id] = self._tenant_loader(tenant_id)
        return self._tenants[tenant_id]

    def vault(self, tenant_id: str) -> Vault | None:
        """The vault of a tenant that encrypts at rest (None otherwise): the store's, or
        without a store the one its key configures.
        """
        if self.store is not None:
            return self.store.vault(tenant_id)
        if tenant_id not in self._vaults:
            self._vaults[tenant_id] = vault_for(tenant_id)
        return self._vaults[tenant_id]

    def keys(self, tenant_id: str) -> tuple[str, str]:
        """``(frontend_key, config_key)`` of a tenant under this run's options (the config
        key is empty in a run without scoring).
        """
        if tenant_id not in self._keys:
            cfg = self.tenant(tenant_id)
            o = self.options
            fkey = frontend_key(cfg, asr_model=o.asr_model, diarizer=o.diarizer)
            self._keys[tenant_id] = (fkey, self._config_key(cfg, fkey) if o.scoring else "")
        return self._keys[tenant_id]

    def _config_key(self, cfg: TenantConfig, fkey: str) -> str:
        from qa_pipeline.call_reason import load_taxonomy
        from qa_pipeline.pipeline import repo_path, rubric_for

        o = self.options
        langs = list(cfg.rubrics) or list(cfg.languages)
        refs = sorted({rubric_for(cfg, lang, o.rubric).ref for lang in langs})
        taxonomy = load_taxonomy(repo_path(cfg.call_reasons)).ref if cfg.call_reasons else None
        return config_key(cfg, fkey, rubric_refs=refs, sentiment=o.sentiment,
                          taxonomy_ref=taxonomy)

    # --- stage 0: plan ------------------------------------------------------------------------
    def plan(self, sources: Iterable[CallSource]) -> Plan:
        """Fetch, fingerprint, validate (container header) and de-duplicate; skip calls
        already scored under the same configuration whose output files (with ``out_dir``)
        exist; failures (unknown tenant, unreadable source, bad audio) are quarantined before
        any model loads.
        """
        plan = Plan()
        seen: set[tuple[str, str]] = set()
        for source in sources:
            tenant_id = source.meta.tenant_id
            sha = None
            try:
                cfg = self.tenant(tenant_id)
                if self.store is not None:
                    self.store.register_tenant(tenant_id)
                fkey, ckey = self.keys(tenant_id)
                local = fetch(source, self.options.cache_dir / "staging")
                try:
                    sha = sha256_file(local)
                except OSError as e:
                    raise SourceError(f"cannot read {source.uri}: {e}") from e
                # Validate from the header now, so bad files never reach a model.
                probe_audio(local, AudioOptions(max_duration_s=cfg.max_duration_s),
                            expected_channels=cfg.expected_channels)
            except QAPipelineError as e:
                plan.failed.append(self._fail(source, sha, e))
                continue
            call_id = source.meta.call_id or sha[:16]
            if (tenant_id, call_id) in seen:
                continue
            seen.add((tenant_id, call_id))
            done = (self.store.tenant(tenant_id).done_call(sha, ckey)
                    if self.store is not None and self.options.scoring else None)
            if done is not None and self._outputs_present(done):
                plan.skipped.append(SkippedCall(tenant_id, done, source.uri))
                continue
            plan.todo.append(PlannedCall(source, str(local), sha, call_id, fkey, ckey))
        return plan

    def record_failures(self, failures: Iterable[CallFailure]) -> None:
        """Quarantine failures found outside this runner (:func:`admit`): in the store of a
        configured tenant, and with ``out_dir`` as files.
        """
        for failure in failures:
            if self.store is not None:
                try:
                    self.tenant(failure.tenant_id)
                except QAPipelineError:
                    pass  # no configuration, no store rows: the failure is only reported
                else:
                    self.store.register_tenant(failure.tenant_id)
            self.quarantine(failure)

    def prepare(self, tenant_ids: Iterable[str], *, frontend: bool = True) -> None:
        """Load now what the tenants' first calls would load: (with ``frontend``) the front
        end's model and the acoustics code, and
        (with scoring) the rubric's phrase index, the sentence embedder, the dialogue-act
        model and the call-reason examples, in that order. These live in
        per-process caches that later runners in the process share; a command can call this
        while it waits for something else (Prefect's temporary server). Models on a GPU are
        the front end's only: the scoring stage loads its own after the front end releases
        its models.

        Raises:
            QAPipelineError: a tenant's configuration or models are unusable (the same error
                reaches every call of that tenant in :meth:`plan` or :meth:`transcribe`).
        """
        from qa_pipeline.emotion import prepare_acoustics

        tenants = list(dict.fromkeys(tenant_ids))
        if frontend:  # first: what the first call needs at once
            for tenant_id in tenants:
                self._prepare_frontend(tenant_id)
        if frontend:
            prepare_acoustics()
        for tenant_id in tenants:
            cfg = self.tenant(tenant_id)
            if not self.options.scoring or not self._scores_on_cpu(cfg):
                continue
            from qa_pipeline.pipeline import rubric_for
            from qa_pipeline.rubric.embeddings import default_embedder

            for lang in list(cfg.rubrics) or list(cfg.languages):
                rubric_for(cfg, lang, self.options.rubric).phrase_index  # noqa: B018
            analyzers = self._analyzers_for(tenant_id)
            if analyzers.call_reasons is not None:
                analyzers.call_reasons.prepare()
            default_embedder()
            if analyzers.acts is None:
                from qa_pipeline.acts import load_embedded_act_model

                load_embedded_act_model()

    def _prepare_frontend(self, tenant_id: str) -> None:
        load = getattr(self._frontend(tenant_id), "prepare", None)
        if callable(load):  # a front end without prepare() loads on first use
            load()

    def _load_frontend(self, tenant_id: str) -> None:
        try:
            self._prepare_frontend(tenant_id)
        except Exception:  # noqa: BLE001 - each call meets the error again, and is quarantined
            logger.debug("front end of %s did not load ahead", tenant_id, exc_info=True)

    def _warm_up_ahead(self, sources: Sequence[CallSource]) -> None:
        """Start loading, in a background thread, everything the sources' tenants need
        (:meth:`prepare`: front ends first, then the scoring models), while the plan reads
        and fingerprints the files, as the orchestrated run does while Prefect starts
        (``flows.startup.warm_start``). A tenant that does not load is left to the plan,
        which quarantines its calls.
        """
        tenants = []
        for tenant_id in dict.fromkeys(s.meta.tenant_id for s in sources):
            try:
                self.tenant(tenant_id)
            except QAPipelineError:
                continue
            tenants.append(tenant_id)
        if tenants:
            warmup.start(lambda: self.prepare(tenants), name="qa-warm-up-ahead")

    def _scores_on_cpu(self, cfg: TenantConfig) -> bool:
        backend = self.options.sentiment or cfg.sentiment.backend
        if backend != cfg.sentiment.backend:
            # An override: ``none`` and ``embedded`` run on the CPU, ``transformers`` may not.
            return backend != "transformers"
        return scoring_device(cfg) == "cpu"

    def _outputs_present(self, call_id: str) -> bool:
        """Whether a done call's output files exist (a run killed after the store commit, or
        a cleaned output folder, has them written again).
        """
        out = self.options.out_dir
        return out is None or all((out / call_id / name).is_file() for name in _OUTPUT_FILES)

    # --- stage 1: front end -------------------------------------------------------------------
    def transcribe(self, calls: Sequence[PlannedCall], *, release: bool | None = None
                   ) -> tuple[list[tuple[PlannedCall, str]], list[CallFailure]]:
        """Front end over all calls, one model set per tenant, results into the content
        cache. Returns ``(call, cache path)`` pairs and the failures.
        """
        done: list[tuple[PlannedCall, str]] = []
        failed: list[CallFailure] = []
        for i, call in enumerate(calls):
            self.hook("frontend", completed=i, total=len(calls))
            hit = self.cache.get(call.tenant_id, call.sha256, call.frontend_key)
            if hit is not None:
                done.append((call, str(hit.path)))
                continue
            try:
                path = self._frontend_one(call)
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                failed.append(self._fail(call.source, call.sha256, e))
                continue
            done.append((call, str(path)))
        self.hook("frontend", completed=len(calls), total=len(calls))
        if release if release is not None else self.options.release_models:
            self.release_frontends()
        return done, failed

    def _frontend_one(self, call: PlannedCall) -> Path:
        from qa_pipeline.emotion import extract_acoustics

        meter = Meter()
        fe = self._frontend(call.tenant_id)
        device = str(getattr(fe.transcriber, "device", "cpu"))
        with meter.stage("frontend", device):
            t0 = time.perf_counter()
            # The plan already hashed the file: do not read it a second time.
            audio = fe.load(call.local_path, call.call_id, sha256=call.sha256)
            result = fe.transcribe(audio, load_s=time.perf_counter() - t0)
        with meter.stage("acoustics"):
            acoustics = extract_acoustics(audio, result.conversation)
        del audio
        conv = self._apply_privacy(result.conversation, meter)
        return self.cache.put(conv, call.frontend_key, acoustics=acoustics,
                              turns=result.diarization.turns, costs=meter.stages,
                              run_id=self.run_id)

    def _apply_privacy(self, conv: Any, meter: Meter) -> Any:
        """Redact before anything is persisted when the tenant's policy says so."""
        policy = self.tenant(conv.tenant_id).privacy
        if policy.mode != "redact_before_storage":
            return conv
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

    # --- stage 2: scoring and outputs ---------------------------------------------------------
    def score(self, transcribed: Sequence[tuple[PlannedCall, str]]
              ) -> tuple[list[ScoredCall], list[CallFailure]]:
        """Score cached front-end results; write output files, then store conversation,
        scorecard and costs.
        """
        warmup.wait()  # scoring models being loaded in the background: use them, not a copy
        return self._each("score", transcribed, self._score_cached)

    def write_transcripts(self, transcribed: Sequence[tuple[PlannedCall, str]]
                          ) -> tuple[list[TranscribedCall], list[CallFailure]]:
        """A run without scoring: write (and store) the cached front-end results."""
        return self._each("write", transcribed, self._transcript_cached)

    def _each(self, step: str, transcribed: Sequence[tuple[PlannedCall, str]],
              fn: Callable[[PlannedCall, CachedFrontEnd], _T]
              ) -> tuple[list[_T], list[CallFailure]]:
        out: list[_T] = []
        failed: list[CallFailure] = []
        for i, (call, path) in enumerate(transcribed):
            self.hook(step, completed=i, total=len(transcribed))
            try:
                cached = FrontEndCache.read(path, self.vault(call.tenant_id))
                out.append(fn(call, cached.bind(call.call_id, call.source.uri)))
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                failed.append(self._fail(call.source, call.sha256, e))
        self.hook(step, completed=len(transcribed), total=len(transcribed))
        return out, failed

    def _score_cached(self, call: PlannedCall, cached: CachedFrontEnd) -> ScoredCall:
        return self._score_one(call, cached, new_conversation=True)

    def _transcript_cached(self, call: PlannedCall, cached: CachedFrontEnd) -> TranscribedCall:
        self._check_owner(call, cached)
        if self.options.out_dir is not None:
            self._write_files(cached.conversation, None, self.options.out_dir, call.source.uri)
        if self.store is not None:
            self._save_conversation(call, cached)
        self._report(CallResult(call, cached, None, ()))
        return TranscribedCall(call.tenant_id, call.call_id, cached.run_id != self.run_id)

    @staticmethod
    def _check_owner(call: PlannedCall, cached: CachedFrontEnd) -> None:
        if cached.conversation.tenant_id != call.tenant_id:
            raise QAPipelineError(f"the conversation of {call.source.uri} belongs to tenant "
                                  f"{cached.conversation.tenant_id!r}, not {call.tenant_id!r}")

    def _score_one(self, call: PlannedCall, cached: CachedFrontEnd, *,
                   new_conversation: bool) -> ScoredCall:
        """Score one call; output files are written before the store commits, so a call the
        store holds as done has its files.
        """
        self._check_owner(call, cached)
        conv = cached.conversation
        card, meta, costs = self._card(call, conv, cached.acoustics,
                                       "scoring" if new_conversation else "rescoring")
        if self.options.out_dir is not None:
            self._write_files(conv, card, self.options.out_dir, call.source.uri)
        if self.store is not None:
            tstore = self.store.tenant(call.tenant_id)
            if new_conversation:
                self._save_conversation(call, cached, meta)
            tstore.save_scorecard(card, config_key=call.config_key, run_id=self.run_id,
                                  costs=costs, source_keys=[_source_key(call.source.uri, None)])
        self._report(CallResult(call, cached, card, tuple(costs)))
        return ScoredCall(call.tenant_id, call.call_id, round(card.total_score, 2), card.grade,
                          card.has_fatal, card.needs_review, cached.run_id != self.run_id)

    def _save_conversation(self, call: PlannedCall, cached: CachedFrontEnd,
                           meta: dict[str, Any] | None = None) -> None:
        assert self.store is not None
        # Front-end costs stay under the run that paid them, so a cache hit bills nothing
        # twice; the store replaces rather than appends on retry.
        self.store.tenant(call.tenant_id).save_conversation(
            cached.conversation, frontend_key=call.frontend_key,
            acoustics=cached.acoustics.to_dict() if cached.acoustics else None,
            meta=meta or {**call.source.meta.to_dict(), "call_id": call.call_id},
            source_uri=call.source.uri, costs=list(cached.costs), run_id=cached.run_id)

    def _report(self, result: CallResult) -> None:
        if self._on_result is not None:
            self._on_result(result)

    def _card(self, call: PlannedCall, conv: Any, acoustics: Any, stage: str
              ) -> tuple[Any, dict[str, Any], list[StageSeconds]]:
        """Score one conversation under this run's rubric and analysers, metered as
        ``stage``: (scorecard, call metadata, stage costs). With ``out_dir``, a folder held by
        another tenant is refused here, before anything is written or stored.
        """
        from qa_pipeline.pipeline import rubric_for, score_conversation

        if self.options.out_dir is not None:
            claim_output(self.options.out_dir, call.call_id, call.tenant_id)
        cfg = self.tenant(call.tenant_id)
        meta = {**call.source.meta.to_dict(), "call_id": call.call_id}
        meter = Meter()
        with meter.stage(stage, scoring_device(cfg)):
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

    def _write_files(self, conv: Any, card: Any, out_dir: Path, recording: str) -> None:
        from qa_pipeline.conversation.export import to_rttm, to_srt, to_vtt, write_conversation
        from qa_pipeline.privacy.vault import display_kinds
        from qa_pipeline.scorecard.render import write_scorecard

        kinds = display_kinds(conv.tenant_id)
        if kinds is not None:
            # Output files are for people: a tenant that encrypts at rest gets them redacted.
            from qa_pipeline.privacy import redact_conversation
            from qa_pipeline.privacy.redact import redact_scorecard_object

            conv, _ = redact_conversation(conv, kinds)
            card = redact_scorecard_object(card, kinds) if card is not None else None
        target = claim_output(out_dir, conv.call_id, conv.tenant_id)
        write_conversation(conv, target / "conversation.json")
        if self.options.exports:
            (target / "conversation.rttm").write_text(to_rttm(conv), encoding="utf-8")
            (target / "conversation.srt").write_text(to_srt(conv), encoding="utf-8")
            (target / "conversation.vtt").write_text(to_vtt(conv), encoding="utf-8")
        if card is not None:
            write_scorecard(card, out_dir, conv, recording=recording)

    # --- whole batches ------------------------------------------------------------------------
    def run(self, sources: Iterable[CallSource]) -> RunReport:
        """Plan, front end, scoring (or, without scoring, transcripts): the whole batch in
        this process. Sources that are ``conversation.json`` files skip the front end.
        """
        report = RunReport(self.run_id)
        recordings: list[CallSource] = []
        conversations: list[CallSource] = []
        for s in sources:
            (conversations if is_conversation_file(s.uri) else recordings).append(s)
        if recordings:
            self._warm_up_ahead(recordings)
        plan = self.plan(recordings)
        report.skipped, report.failed = plan.skipped, list(plan.failed)
        if plan.todo:
            # The first call needs its front end's model at once: wait for the load under
            # way (never load a copy).
            self._load_frontend(plan.todo[0].tenant_id)
        try:
            transcribed, failed = self.transcribe(plan.todo)
        finally:
            warmup.wait()  # no loading thread outlives the front end it ran beside
        report.failed += failed
        if self.options.scoring:
            report.processed, failed = self.score(transcribed)
        else:
            report.transcribed, failed = self.write_transcripts(transcribed)
        report.failed += failed
        if conversations:
            processed, failed = self.score_conversations(conversations)
            report.processed += processed
            report.failed += failed
        return report

    def score_conversations(self, sources: Sequence[CallSource]
                            ) -> tuple[list[ScoredCall], list[CallFailure]]:
        """Score ``conversation.json`` files (no audio, no ASR) under the tenant's policy."""
        from qa_pipeline.conversation.export import read_conversation

        warmup.wait()

        scored: list[ScoredCall] = []
        failed: list[CallFailure] = []
        for i, source in enumerate(sources):
            self.hook("score", completed=i, total=len(sources))
            try:
                self.tenant(source.meta.tenant_id)
                if self.store is not None:
                    self.store.register_tenant(source.meta.tenant_id)
                conv = read_conversation(fetch(source, self.options.cache_dir / "staging"))
                conv = self._apply_privacy(conv, Meter())
                call = PlannedCall(source, source.uri, conv.sha256,
                                   source.meta.call_id or conv.call_id, "",
                                   self.keys(source.meta.tenant_id)[1])
                cached = CachedFrontEnd(conv, None, (), (), self.run_id, Path(source.uri))
                scored.append(self._score_one(call, cached.bind(call.call_id, source.uri),
                                              new_conversation=True))
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                failed.append(self._fail(source, None, e))
        self.hook("score", completed=len(sources), total=len(sources))
        return scored, failed

    def rescore(self, tenant_id: str, *, since: Any = None, until: Any = None) -> RunReport:
        """Re-score a tenant's stored conversations (started in ``[since, until)``) under the
        current rubric and analysers: no audio, no ASR.
        """
        from qa_pipeline.emotion import AcousticTrack

        if self.store is None:
            raise QAPipelineError("re-scoring reads stored conversations: it needs a store")
        warmup.wait()
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
                stored = CachedFrontEnd(conv, track, (), (), "", Path())
                report.processed.append(self._score_one(planned, stored,
                                                        new_conversation=False))
            except Exception as e:  # noqa: BLE001 - one bad call must not stop the batch
                report.failed.append(self._fail(source, rec.sha256, e))
        self.hook("rescore", completed=len(calls), total=len(calls))
        return report

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
        if self.store is not None and tenant_id in self.store.tenant_ids():
            self.store.tenant(tenant_id).quarantine(
                failure.source_key, failure.source_uri, error_type=failure.failure.error_type,
                reason=failure.failure.reason, message=failure.failure.message)
        if self.options.out_dir is not None:
            quarantine(self.options.out_dir / (tenant_id or "_unknown"), failure.failure)


def admit(sources: Iterable[CallSource],
          tenant_loader: Callable[[str], TenantConfig] = load_tenant
          ) -> tuple[list[CallSource], list[CallFailure]]:
    """Sources that stay inside the input folder they were found in, and the refused rest
    (links out of the folder, unknown tenants): for a parent that hands sources to other
    processes as manifests, whose rows carry no input folder (:meth:`BatchRunner.plan`
    checks the same when it fetches). Needs no store and writes nothing: record the refused
    with :meth:`BatchRunner.record_failures`.

    Args:
        sources: listed recordings (:func:`~qa_pipeline.runner.list_sources`).
        tenant_loader: a tenant's configuration by id (raises for an unknown tenant).
    """
    admitted: list[CallSource] = []
    refused: list[CallFailure] = []
    known: set[str] = set()
    for source in sources:
        tenant_id = source.meta.tenant_id
        try:
            if source.root:
                if tenant_id not in known:
                    tenant_loader(tenant_id)
                    known.add(tenant_id)
                check_inside(source.uri, source.root)
        except QAPipelineError as e:
            refused.append(CallFailure(tenant_id, source.uri, _source_key(source.uri, None),
                                       failure_from(source.uri, e)))
            continue
        admitted.append(source)
    return admitted, refused


# A scored call's output files; skip-if-done needs them all.
_OUTPUT_FILES = ("conversation.json", "scorecard.json", "scorecard.html")


def _default_frontend(tenant: TenantConfig, options: RunOptions) -> Any:
    from qa_pipeline.frontend import FrontEnd, asr_options_for

    return FrontEnd.for_tenant(tenant, asr_options_for(tenant, model=options.asr_model),
                               options.diarizer)
