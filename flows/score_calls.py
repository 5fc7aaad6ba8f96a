"""Flow ``score_calls``: recordings -> conversations -> scorecards in the store.

discover -> plan (fetch, sha256, skip what is done under the same configuration) ->
front end shard by shard (one model set per process, content-cached, Prefect-cached by the
shard's sha256s + front-end key) -> release the models -> scoring shard by shard (writes to
the store; never cached, because it has side effects) -> summary artifact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext

from flows.common import (
    RETRY_DELAYS_S,
    current_run_id,
    quiet_library_logs,
    retry_transient,
    runner,
)
from qa_pipeline.batch import Failure
from qa_pipeline.runner import CallFailure, PlannedCall, SkippedCall, list_sources
from qa_pipeline.runner.run import release_stage_models
from qa_pipeline.settings import get_settings


@task(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=retry_transient)
def plan_calls(inputs: list[str], tenant: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """List and fingerprint the recordings; skip done work; quarantine unusable inputs."""
    plan = runner(params).plan(list_sources(inputs, tenant))
    return {"todo": [c.to_dict() for c in plan.todo],
            "skipped": [[s.tenant_id, s.call_id, s.source_uri] for s in plan.skipped],
            "failed": [f.to_dict() for f in plan.failed]}


def _shard_cache_key(_context: TaskRunContext, parameters: dict[str, Any]) -> str:
    # Content, not paths or run ids: the same audio under the same front-end configuration
    # is the same work wherever and whenever it arrives.
    keys = sorted(f"{c['source']['meta']['tenant_id']}/{c['sha256']}/{c['frontend_key']}"
                  for c in parameters["calls"])
    return "frontend-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


@task(cache_key_fn=_shard_cache_key, persist_result=True, result_serializer="json",
      retries=2, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=retry_transient)
def transcribe_shard(calls: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Front end over one shard (models stay loaded for the next shard).

    The result is cached across runs by content, so it holds results only: content-cache
    paths and failure reasons by content key, never a call's id, metadata or location.
    ``run_id`` tells a later run that a result is another run's (see :func:`bind_shard`).
    """
    r = runner(params)
    planned = [PlannedCall.from_dict(c) for c in calls]
    done, failed = r.transcribe(planned, release=False)
    key_of = {c.source.uri: c.content_key for c in planned}
    return {"run_id": r.run_id,
            "results": {c.content_key: path for c, path in done},
            "failed": {key_of[f.source_uri]: {"error_type": f.failure.error_type,
                                              "reason": f.failure.reason,
                                              "message": f.failure.message}
                       for f in failed}}


def bind_shard(calls: list[dict[str, Any]], out: dict[str, Any], run_id: str
               ) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """This run's calls paired with a shard's front-end results: ``([call, cache path or
    None], ...)`` for scoring, and this run's failures. Identity always comes from the
    current plan. A failure recorded by another run (a Prefect cache hit) is tried again
    under this run's identity: its result is None, so :func:`score_shard` redoes it.
    """
    fresh = out.get("run_id") == run_id
    # A value cached by an older version of this task may lack either part: redo its calls.
    results, failures = out.get("results", {}), out.get("failed", {})
    pairs: list[list[Any]] = []
    failed: list[dict[str, Any]] = []
    for c in calls:
        call = PlannedCall.from_dict(c)
        key = call.content_key
        if key in failures and fresh:
            failed.append(CallFailure(
                call.tenant_id, call.source.uri, f"sha256:{call.sha256}",
                Failure(call.source.uri, **failures[key])).to_dict())
        else:
            pairs.append([c, results.get(key)])
    return pairs, failed


@task
def release_models() -> None:
    """End of the front-end stage: free model memory (GPU) before scoring loads its own."""
    release_stage_models()


@task(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=retry_transient)
def score_shard(done: list[list[Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Score one shard and write conversations, scorecards and costs to the store."""
    r = runner(params)
    pairs = [(PlannedCall.from_dict(c), p) for c, p in done]
    # Calls without a usable result: a failure recorded by another run, or a Prefect cache
    # hit that outlived the files it points at (cache dir cleaned). Redo their front end.
    missing = [c for c, p in pairs if p is None or not Path(p).exists()]
    failed: list[CallFailure] = []
    if missing:
        redone, failed = r.transcribe(missing)
        redone_paths = {c.call_id: p for c, p in redone}
        pairs = [(c, redone_paths.get(c.call_id, p)) for c, p in pairs
                 if c.call_id in redone_paths or (p is not None and Path(p).exists())]
    scored, score_failed = r.score([(c, str(p)) for c, p in pairs])
    return {"scored": [s.to_dict() for s in scored],
            "failed": [f.to_dict() for f in failed + score_failed]}


def _shards(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), max(size, 1))]


@flow(name="score_calls", log_prints=True, persist_result=True, result_serializer="json")
def score_calls(
    inputs: list[str],
    tenant: str | None = None,
    db_secret: str | None = None,
    out_dir: str | None = None,
    cache_dir: str = ".qa_cache",
    shard_size: int = 16,
    asr_model: str | None = None,
    diarizer: str | None = None,
    sentiment: str | None = None,
    rubric: str | None = None,
) -> dict[str, Any]:
    """Score recordings (files, folders, manifest CSVs or fsspec URLs) into the store.

    The store's URL is never a parameter (Prefect stores and shows parameters): tasks read it
    from ``$QA_PIPELINE_DB_URL``, or from the Prefect ``Secret`` block named ``db_secret``.

    Returns:
        ``{"run_id", "processed": [...], "skipped": [...], "failed": [...]}``; failed
        entries name the input, the reason and the message, and are quarantined.
    """
    quiet_library_logs()
    log = get_run_logger()
    run_id = current_run_id()
    params = {"db_secret": db_secret, "out_dir": out_dir, "cache_dir": cache_dir,
              "asr_model": asr_model, "diarizer": diarizer, "sentiment": sentiment,
              "rubric": rubric, "run_id": run_id}
    plan = plan_calls(inputs, tenant, params)
    failed = list(plan["failed"])
    log.info("planned: %d to process, %d already done, %d unusable",
             len(plan["todo"]), len(plan["skipped"]), len(failed))
    transcribed: list[list[Any]] = []
    for shard in _shards(plan["todo"], shard_size):
        pairs, shard_failed = bind_shard(shard, transcribe_shard(shard, params), run_id)
        transcribed += pairs
        failed += shard_failed
    if plan["todo"]:
        release_models()
    scored: list[dict[str, Any]] = []
    for shard in _shards(transcribed, shard_size):
        out = score_shard(shard, params)
        scored += out["scored"]
        failed += out["failed"]
    summary = {"run_id": run_id, "worker": get_settings().worker_name,
               "processed": scored,
               "skipped": [{"tenant_id": t, "call_id": c, "source_uri": u}
                           for t, c, u in plan["skipped"]],
               "failed": failed}
    _artifact(summary)
    return summary


def _artifact(summary: dict[str, Any]) -> None:
    rows = ([{"call": f"{p['tenant_id']}/{p['call_id']}", "outcome": "scored",
              "detail": f"{p['total_score']} {p['grade']}"
              + (" FATAL" if p["has_fatal"] else "")} for p in summary["processed"]]
            + [{"call": f"{s['tenant_id']}/{s['call_id']}", "outcome": "skipped (done)",
                "detail": s["source_uri"]} for s in summary["skipped"]]
            + [{"call": f"{f['tenant_id']}/{Path(f['source_uri']).name}",
                "outcome": "quarantined", "detail": f"{f['reason']}: {f['message']}"}
               for f in summary["failed"]])
    create_table_artifact(rows, key="score-calls-summary",
                          description=json.dumps({k: len(summary[k]) for k in
                                                  ("processed", "skipped", "failed")}))


__all__ = ["CallFailure", "SkippedCall", "score_calls"]
