"""The evaluation harness: accuracy, speed and cost of the pipeline on a labelled suite.

Calls run through :class:`qa_pipeline.runner.BatchRunner` exactly as ``qa-pipeline run``
runs them (stage by stage: one model set per tenant for the whole front end, models
released, then scoring), without the store. Then, in the same process on the same files,
the naive baseline runs them the way a simple script would: one file at a time, every
model loaded again for each file. Both runs produce scorecards; the harness reports whether
they agree, so the speed-up is not bought with different results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.bench.metrics import (
    BinaryCounts,
    DiarizationScore,
    ErrorCounts,
    RoleScore,
    diarization_error,
    edit_counts,
    error_free_share,
    macro_f1,
    role_accuracy,
    unit_for,
)
from qa_pipeline.bench.suite import AsrCase, BenchSuite, CallCase, SentimentCase
from qa_pipeline.errors import ConfigError
from qa_pipeline.hooks import StageHook, null_hook
from qa_pipeline.runner.costs import Meter, resolve_device
from qa_pipeline.tenants import TenantConfig, load_tenant
from qa_pipeline.version import __version__

# Reference speaker names understood as roles (SpokenWOZ says "user" for the customer).
DEFAULT_ROLE_NAMES: Mapping[str, str] = {
    "agent": "agent", "customer": "customer", "user": "customer", "caller": "customer",
    "client": "customer", "坐席": "agent", "客服": "agent", "客户": "customer",
}


@dataclass(frozen=True)
class BenchOptions:
    """How the harness runs.

    ``device`` overrides every tenant's ASR and sentiment device (``cuda`` on a GPU node);
    ``asr_batch_size`` likewise (batched Whisper decoding pays off on GPUs). ``collar_s`` is
    pyannote.metrics' collar: that many seconds centred on each reference boundary are not
    scored.
    """

    collar_s: float = 0.25
    skip_overlap: bool = False
    naive_baseline: bool = True
    device: str | None = None
    compute_type: str | None = None
    asr_batch_size: int | None = None
    role_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_NAMES))
    default_tenant: str = "default"


# --- resource sampling ---------------------------------------------------------------------
def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gpu_used_bytes() -> int | None:
    """Device memory in use (all allocators: CTranslate2 does not go through torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return int(total - free)


@dataclass
class Peak:
    """Peak resident memory and GPU memory seen while a block ran."""

    rss_mb: float = 0.0
    gpu_mb: float | None = None


@contextmanager
def sample_peaks(interval_s: float = 0.05) -> Iterator[Peak]:
    """Sample RSS (and GPU memory in use) in a thread while the block runs: the process-wide
    ``ru_maxrss`` cannot be reset between the two runs the harness compares.
    """
    peak = Peak(_rss_bytes() / 2**20)
    stop = threading.Event()

    def sample() -> None:
        while True:
            peak.rss_mb = max(peak.rss_mb, _rss_bytes() / 2**20)
            gpu = _gpu_used_bytes()
            if gpu is not None:
                peak.gpu_mb = max(peak.gpu_mb or 0.0, gpu / 2**20)
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=sample, name="bench-peaks", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def stage_totals(meter: Meter) -> dict[str, dict[str, float]]:
    """Wall, CPU and GPU seconds per stage name, summed over the meter's entries."""
    totals: dict[str, dict[str, float]] = {}
    for st in meter.stages:
        row = totals.setdefault(st.stage, {"wall_s": 0.0, "cpu_s": 0.0, "gpu_s": 0.0})
        row["wall_s"] += st.wall_s
        row["cpu_s"] += st.cpu_s
        row["gpu_s"] += st.gpu_s
    return totals


# --- model lifecycle -------------------------------------------------------------------------
def release_all_models() -> None:
    """Forget every cached model (Whisper, speaker encoder, embedder) and free GPU memory."""
    from qa_pipeline.rubric.embeddings import release_embedders
    from qa_pipeline.runner.run import release_stage_models

    release_embedders()
    release_stage_models()


def _device_of(cfg: TenantConfig) -> str:
    """Where the front end runs (Whisper's device)."""
    return resolve_device(cfg.asr.device)


def _gpu_name() -> str | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


class _Tenants:
    """Tenant configs with the harness's overrides, built once."""

    def __init__(self, options: BenchOptions) -> None:
        self.options = options
        self._cache: dict[tuple[str, int | None, bool], TenantConfig] = {}

    def for_case(self, case: CallCase) -> TenantConfig:
        """The config a call runs under (its speaker count and layout applied)."""
        return self.get(case.meta.tenant_id, case.num_speakers, case.force_mono)

    def get(self, tenant_id: str, num_speakers: int | None = None, mono: bool = False
            ) -> TenantConfig:
        """The tenant's config with the harness's overrides."""
        key = (tenant_id, num_speakers, mono)
        if key not in self._cache:
            self._cache[key] = self._build(*key)
        return self._cache[key]

    def _build(self, tenant_id: str, num_speakers: int | None, mono: bool) -> TenantConfig:
        cfg = load_tenant(tenant_id)
        o = self.options
        update: dict[str, Any] = {}
        if num_speakers is not None:
            update["diarization"] = cfg.diarization.model_copy(update={
                "num_speakers": num_speakers, "min_speakers": None, "max_speakers": None})
        if mono:
            update["channel_layout"] = "mono"
        asr = {k: v for k, v in (("device", o.device), ("compute_type", o.compute_type),
                                 ("batch_size", o.asr_batch_size)) if v is not None}
        if asr:
            update["asr"] = cfg.asr.model_copy(update=asr)
        if o.device is not None:
            update["sentiment"] = cfg.sentiment.model_copy(update={"device": o.device})
        return cfg.model_copy(update=update)


# --- calls -------------------------------------------------------------------------------------
@dataclass
class _CallOutput:
    conversation: Any = None
    turns: tuple[tuple[float, float, str], ...] = ()
    acoustics: Any = None
    scorecard: Any = None
    error: str | None = None


def _frontend(cfg: TenantConfig) -> Any:
    from qa_pipeline.frontend import FrontEnd

    return FrontEnd.for_tenant(cfg)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def run_pipeline(cases: tuple[CallCase, ...], tenants: _Tenants, hook: StageHook,
                 frontend_factory: Callable[[TenantConfig, Any], Any] | None = None
                 ) -> tuple[list[_CallOutput], Meter, float]:
    """The calls through :class:`~qa_pipeline.runner.BatchRunner` as ``qa-pipeline run``
    processes them (plan, front end, model release, privacy policy, content cache,
    scoring), without a store or output files; the cache is a fresh temporary folder, so
    every call is computed. Returns (outputs, stage clock, wall seconds).

    Cases whose configuration differs (speaker count, forced mono) run as separate batches,
    as they would under separate tenant configurations.
    """
    from qa_pipeline.runner import BatchRunner, CallResult, CallSource, RunOptions

    clock = Meter()
    outputs = {case.name: _CallOutput() for case in cases}
    groups: dict[tuple[str, int | None, bool], list[CallCase]] = {}
    for case in cases:
        groups.setdefault((case.meta.tenant_id, case.num_speakers, case.force_mono),
                          []).append(case)
    results: dict[str, CallResult] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as cache:
        for (tenant_id, speakers, mono), group in groups.items():
            cfg = tenants.get(tenant_id, speakers, mono)

            def config(_tenant_id: str, cfg: TenantConfig = cfg) -> TenantConfig:
                return cfg

            runner = BatchRunner(None, RunOptions(cache_dir=Path(cache)), hook,
                                 frontend_factory=frontend_factory, tenant_loader=config,
                                 on_result=lambda r: results.update({r.call.call_id: r}))
            report = runner.run([CallSource(c.meta.path,
                                            dataclasses.replace(c.meta, call_id=c.name))
                                 for c in group])
            errors = {f.source_uri: f"{f.failure.error_type}: {f.failure.message}"
                      for f in report.failed}
            for case in group:
                out, result = outputs[case.name], results.get(case.name)
                if result is None:
                    out.error = errors.get(case.meta.path, "not processed")
                    continue
                out.conversation = result.frontend.conversation
                out.acoustics = result.frontend.acoustics
                out.scorecard = result.scorecard
                out.turns = tuple((t.start_s, t.end_s, t.speaker) for t in result.frontend.turns)
                if result.frontend.run_id == runner.run_id:  # computed here, not a cache hit
                    clock.stages.extend(result.frontend.costs)
                clock.stages.extend(result.scoring_costs)
    return [outputs[case.name] for case in cases], clock, time.perf_counter() - t0


def run_naive(cases: tuple[CallCase, ...], tenants: _Tenants, hook: StageHook
              ) -> tuple[list[Any], Meter, float]:
    """What a simple script does: per file, load every model, transcribe, score."""
    from qa_pipeline.pipeline import analyzers_for, rubric_for, score_conversation

    clock = Meter()
    cards: list[Any] = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        hook("bench: naive baseline", completed=i, total=len(cases))
        cfg = tenants.for_case(case)
        release_all_models()
        try:
            with clock.stage("per_file", _device_of(cfg)):
                fe = _frontend(cfg)
                audio = fe.load(case.meta.path, case.name)
                conv = fe.transcribe(audio).conversation
                cards.append(score_conversation(conv, rubric_for(cfg, conv.language),
                                                analyzers=analyzers_for(cfg), audio=audio))
        except Exception as e:  # noqa: BLE001
            cards.append(_describe(e))
    hook("bench: naive baseline", completed=len(cases), total=len(cases))
    release_all_models()
    return cards, clock, time.perf_counter() - t0


def _role_turns(case: CallCase, names: Mapping[str, str]) -> list[tuple[float, float, str]] | None:
    """The reference turns relabelled as roles, or None when a speaker is not a role."""
    assert case.turns is not None
    mapped = [(s, e, names.get(label.lower())) for s, e, label in case.turns]
    if any(role is None for _, _, role in mapped):
        return None
    return [(s, e, str(role)) for s, e, role in mapped]


def _call_accuracy(case: CallCase, out: _CallOutput, options: BenchOptions) -> dict[str, Any]:
    row: dict[str, Any] = {"call": case.name, "source": case.source,
                           "tenant_id": case.meta.tenant_id}
    if out.error:
        row["error"] = out.error
        return row
    conv = out.conversation
    row["duration_s"] = round(conv.duration_s, 3)
    row["channels"] = conv.channels
    row["language"] = conv.language
    if case.turns is not None:
        row["diarization"] = diarization_error(case.turns, out.turns, collar_s=options.collar_s,
                                               skip_overlap=options.skip_overlap,
                                               uem=case.uem)
        ref_roles = _role_turns(case, options.role_names)
        if ref_roles is not None:
            hyp = [(u.start_s, u.end_s, u.role.value) for u in conv.utterances]
            row["roles"] = role_accuracy(ref_roles, hyp)
    if case.transcript is not None:
        unit = unit_for(case.transcript)
        hyp_text = " ".join(u.text for u in conv.utterances)
        row["asr"] = {"unit": unit, "counts": edit_counts(case.transcript, hyp_text, unit)}
    if case.labels is not None and out.scorecard is not None:
        items = {it.result.criterion_id: it.result for it in out.scorecard.items}
        outcomes = {}
        for cid, expected in case.labels.items():
            r = items.get(cid)
            if r is None:
                continue
            outcomes[cid] = {"expected": expected, "status": r.status.value,
                             "provisional": r.provisional_status.value,
                             "severity": r.severity, "kind": r.kind}
        row["criteria"] = outcomes
    if out.scorecard is not None:
        card = out.scorecard
        row["scorecard"] = {"total_score": round(card.total_score, 2), "grade": card.grade,
                            "has_fatal": card.has_fatal,
                            "has_non_fatal_error": card.has_non_fatal_error,
                            "needs_review": card.needs_review}
    return row


def _summarise_calls(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    summary: dict[str, Any] = {"calls": len(rows), "failed": len(rows) - len(ok)}
    by_source: dict[str, dict[str, Any]] = {}
    for r in ok:
        s = by_source.setdefault(r["source"], {"calls": 0, "diarization": None, "roles": None,
                                               "asr": {}})
        s["calls"] += 1
        if "diarization" in r:
            s["diarization"] = (r["diarization"] if s["diarization"] is None
                                else s["diarization"] + r["diarization"])
        if "roles" in r:
            s["roles"] = r["roles"] if s["roles"] is None else s["roles"] + r["roles"]
        if "asr" in r:
            unit = r["asr"]["unit"]
            s["asr"][unit] = s["asr"].get(unit, ErrorCounts()) + r["asr"]["counts"]
    summary["by_source"] = by_source
    criteria: dict[str, dict[str, Any]] = {}
    truth_fatal: list[bool] = []
    pred_fatal: list[bool] = []
    truth_nf: list[bool] = []
    pred_nf: list[bool] = []
    for r in ok:
        if "criteria" not in r:
            continue
        tf = pf = tn = pn = False
        for cid, o in r["criteria"].items():
            c = criteria.setdefault(cid, {"severity": o["severity"], "kind": o["kind"],
                                          "counts": BinaryCounts(), "needs_review": 0})
            truth, predicted = o["expected"] == "fail", o["provisional"] == "fail"
            c["counts"] = c["counts"].add(truth, predicted)
            c["needs_review"] += o["status"] == "needs_review"
            if o["kind"] != "error":
                continue
            if o["severity"] == "fatal":
                tf, pf = tf or truth, pf or predicted
            else:
                tn, pn = tn or truth, pn or predicted
        truth_fatal.append(tf)
        pred_fatal.append(pf)
        truth_nf.append(tn)
        pred_nf.append(pn)
    if criteria:
        summary["criteria"] = criteria
        fatal = [c["counts"] for c in criteria.values()
                 if c["severity"] == "fatal" and c["kind"] == "error"]
        non_fatal = [c["counts"] for c in criteria.values()
                     if c["severity"] != "fatal" and c["kind"] == "error"]
        summary["fatal"] = sum(fatal, BinaryCounts())
        summary["non_fatal"] = sum(non_fatal, BinaryCounts())
        summary["kpi"] = {
            "labelled_calls": len(truth_fatal),
            "fatal_error_accuracy": {"reference": error_free_share(truth_fatal),
                                     "pipeline": error_free_share(pred_fatal),
                                     "call_agreement": _agreement(truth_fatal, pred_fatal)},
            "non_fatal_error_accuracy": {"reference": error_free_share(truth_nf),
                                         "pipeline": error_free_share(pred_nf),
                                         "call_agreement": _agreement(truth_nf, pred_nf)},
        }
    return summary


def _agreement(a: list[bool], b: list[bool]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0


def _speed(clock: Meter, wall_s: float, audio_s: float, calls: int, peak: Peak,
           fine: dict[str, float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "wall_s": wall_s, "audio_s": audio_s, "calls": calls,
        "rtf": wall_s / audio_s if audio_s else None,
        "calls_per_hour": 3600 * calls / wall_s if wall_s else None,
        "cpu_s": sum(st.cpu_s for st in clock.stages),
        "gpu_s": sum(st.gpu_s for st in clock.stages),
        "stages": stage_totals(clock), "peak_rss_mb": round(peak.rss_mb, 1),
        "peak_gpu_mb": round(peak.gpu_mb, 1) if peak.gpu_mb is not None else None,
    }
    if fine:
        out["stage_wall_s"] = {k: round(v, 3) for k, v in fine.items()}
    return out


def bench_calls(cases: tuple[CallCase, ...], options: BenchOptions, hook: StageHook
                ) -> dict[str, Any]:
    """Accuracy (per call and pooled) and speed, with the naive baseline beside it."""
    tenants = _Tenants(options)
    warm_up = None
    if options.naive_baseline and cases:
        # One untimed call first, so one-off process costs (imports, JIT compilation of the
        # acoustic features) land on neither side of the comparison; models are released
        # again, so both timed runs start without any model loaded.
        warm_up = cases[0].name
        run_naive(cases[:1], tenants, null_hook)
    with sample_peaks() as peak:
        outputs, clock, wall = run_pipeline(cases, tenants, hook)
    rows = [_call_accuracy(c, o, options) for c, o in zip(cases, outputs, strict=True)]
    audio_s = sum(o.conversation.duration_s for o in outputs if o.conversation is not None)
    fine: dict[str, float] = {}
    for o in outputs:
        if o.scorecard is not None:
            for k, v in o.scorecard.provenance.get("processing_s", {}).items():
                fine[k] = fine.get(k, 0.0) + float(v)
    done = sum(o.scorecard is not None for o in outputs)
    result: dict[str, Any] = {"per_call": rows, "summary": _summarise_calls(rows),
                              "speed": {"pipeline": _speed(clock, wall, audio_s, done, peak,
                                                           fine)}}
    if options.naive_baseline:
        with sample_peaks() as naive_peak:
            cards, naive_clock, naive_wall = run_naive(cases, tenants, hook)
        naive_done = sum(not isinstance(c, str) for c in cards)
        same = sum(1 for o, c in zip(outputs, cards, strict=True)
                   if o.scorecard is not None and not isinstance(c, str)
                   and _same_verdicts(o.scorecard, c))
        result["speed"]["naive"] = _speed(naive_clock, naive_wall, audio_s, naive_done,
                                          naive_peak)
        result["speed"]["speedup_vs_naive"] = naive_wall / wall if wall else None
        result["speed"]["same_verdicts"] = {"calls": same, "of": done}
        result["speed"]["warm_up_call"] = warm_up
    return result


def _same_verdicts(a: Any, b: Any) -> bool:
    """Same grade and the same status for every criterion."""
    return bool(a.grade == b.grade and [(i.result.criterion_id, i.result.status)
                                         for i in a.items]
                == [(i.result.criterion_id, i.result.status) for i in b.items])


# --- ASR clips -------------------------------------------------------------------------------
def bench_asr(cases: tuple[AsrCase, ...], options: BenchOptions, hook: StageHook
              ) -> dict[str, Any]:
    """WER / CER per source and overall, with the transcriber's real-time factor."""
    from qa_pipeline.asr.registry import get_transcriber
    from qa_pipeline.audio.io import load_audio
    from qa_pipeline.frontend import asr_options_for

    cfg = _Tenants(options).get(options.default_tenant)
    transcriber = get_transcriber(cfg.asr.backend, asr_options_for(cfg))
    decoded: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    clock = Meter()
    audio_s = 0.0
    with sample_peaks() as peak:
        t0 = time.perf_counter()
        for i, case in enumerate(cases):
            hook("bench: ASR", completed=i, total=len(cases))
            row: dict[str, Any] = {"clip": case.name, "source": case.source,
                                   "unit": unit_for(case.reference)}
            try:
                if case.path not in decoded:
                    decoded = {case.path: load_audio(case.path)}  # one file held at a time
                audio = decoded[case.path]
                samples = _clip(audio, case)
                audio_s += len(samples) / audio.sample_rate_hz
                with clock.stage("asr", _device_of(cfg)):
                    t = transcriber.transcribe(samples, case.name)
                # Counts only, no text: references and transcripts of evaluation sets
                # carry their licences, and result files get committed.
                row["counts"] = edit_counts(case.reference, " ".join(w.text for w in t.words),
                                            row["unit"])
            except Exception as e:  # noqa: BLE001
                row["error"] = _describe(e)
            rows.append(row)
        wall = time.perf_counter() - t0
    hook("bench: ASR", completed=len(cases), total=len(cases))
    summary: dict[str, dict[str, ErrorCounts]] = {}
    for row in rows:
        if "counts" in row:
            for key in (row["source"], "all"):
                by_unit = summary.setdefault(key, {})
                by_unit[row["unit"]] = by_unit.get(row["unit"], ErrorCounts()) + row["counts"]
    return {"per_clip": rows, "summary": summary,
            "failed": sum("error" in r for r in rows),
            "model": transcriber.model_id,
            "speed": _speed(clock, wall, audio_s, len(rows), peak)}


def _clip(audio: Any, case: AsrCase) -> np.ndarray:
    if case.channel is not None:
        if case.channel >= audio.num_channels:
            raise ConfigError(f"{case.path} has {audio.num_channels} channel(s), "
                              f"channel {case.channel + 1} requested")
        samples = audio.samples[case.channel]
    else:
        samples = audio.mono()
    sr = audio.sample_rate_hz
    start = int(round((case.start_s or 0.0) * sr))
    end = int(round(case.end_s * sr)) if case.end_s is not None else len(samples)
    clip = samples[start:end]
    if len(clip) == 0:
        raise ConfigError(f"{case.name}: the span holds no audio")
    return np.ascontiguousarray(clip, dtype=np.float32)


# --- sentiment -----------------------------------------------------------------------------
def bench_sentiment(cases: tuple[SentimentCase, ...], options: BenchOptions, hook: StageHook
                    ) -> dict[str, Any]:
    """Macro-F1 over negative / neutral / positive, per source and overall."""
    from qa_pipeline.pipeline import analyzers_for
    from qa_pipeline.sentiment import LABELS
    from qa_pipeline.types import Conversation, Provenance, Role, Utterance

    cfg = _Tenants(options).get(options.default_tenant)
    scorer = analyzers_for(cfg).sentiment
    if scorer is None:
        return {"error": f"tenant {cfg.id!r} has no sentiment model"}
    hook("bench: sentiment", completed=0, total=len(cases))
    utts = tuple(Utterance(i, "S1", Role.CUSTOMER, 1.0, float(i), float(i) + 1.0, c.text,
                           "zh" if unit_for(c.text) == "char" else "en", ())
                 for i, c in enumerate(cases))
    conv = Conversation("sentiment-bench", cfg.id, float(len(cases)), "zh", utts,
                        Provenance(__version__, "none", "none", "none", "none", "none"))
    t0 = time.perf_counter()
    track = scorer.score(conv)
    wall = time.perf_counter() - t0
    hook("bench: sentiment", completed=len(cases), total=len(cases))
    predicted = [i.label for i in track.items]
    out: dict[str, Any] = {"model": track.model_id, "sentences": len(cases),
                           "seconds": wall, "by_source": {}}
    for source in sorted({c.source for c in cases}) + ["all"]:
        idx = [i for i, c in enumerate(cases) if source in ("all", c.source)]
        f1, per = macro_f1([cases[i].label for i in idx], [predicted[i] for i in idx], LABELS)
        out["by_source"][source] = {"sentences": len(idx), "macro_f1": f1, "f1": per}
    return out


# --- the whole run ---------------------------------------------------------------------------
def run_bench(suite: BenchSuite, options: BenchOptions | None = None,
              hook: StageHook | None = None) -> dict[str, Any]:
    """Measure everything the suite has references for; returns the JSON-ready result."""
    options = options or BenchOptions()
    hook = hook or null_hook
    started = time.perf_counter()
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pipeline_version": __version__,
        "machine": machine(),
        "config": {"collar_s": options.collar_s, "skip_overlap": options.skip_overlap,
                   "device": options.device or "tenant setting",
                   "compute_type": options.compute_type or "tenant setting",
                   "asr_batch_size": options.asr_batch_size or "tenant setting",
                   "naive_baseline": options.naive_baseline},
        "manifests": list(suite.manifests),
    }
    if suite.calls:
        result["calls"] = bench_calls(suite.calls, options, hook)
    if suite.asr:
        result["asr"] = bench_asr(suite.asr, options, hook)
    if suite.sentiment:
        result["sentiment"] = bench_sentiment(suite.sentiment, options, hook)
    result["machine"]["gpu"] = _gpu_name()
    result["total_wall_s"] = time.perf_counter() - started
    jsonable: dict[str, Any] = to_jsonable(result)
    return jsonable


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": platform.processor() or platform.machine(),
                            "cores": os.cpu_count()}
    for module in ("torch", "ctranslate2", "faster_whisper"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - versions are informational
            info[module] = None
    return info


def to_jsonable(value: Any) -> Any:
    """Metric objects -> dicts, recursively."""
    if isinstance(value, (DiarizationScore, ErrorCounts, RoleScore, BinaryCounts)):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value

