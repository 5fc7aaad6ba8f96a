"""Flow ``score_calls_distributed``: one batch fanned out over a pool of workers.

The parent lists the recordings, writes one manifest per shard to shared storage, and
starts one run of the ``score_calls`` deployment per shard (``run_deployment``). Each GPU
worker (``--limit 1``, one per GPU) takes one shard at a time; shards are disjoint and the
store's unique keys plus skip-if-done make a re-delivered shard harmless, and an
idempotency key per shard keeps a retried request from starting a second child.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.deployments import run_deployment

from flows.common import current_run_id, quiet_library_logs, runner
from qa_pipeline.manifest import write_manifest
from qa_pipeline.runner import admit, list_sources


def shard_key(run_id: str, shard: int) -> str:
    """The idempotency key of a shard's child run: one child per shard and parent run.

    Without it, a request that creates the child and times out (the Prefect client gives up
    after ``PREFECT_API_REQUEST_TIMEOUT``, 60 s by default, and sends it again) leaves two
    children scoring the same shard; the parent waits for the second, whose calls the first
    may already have stored, and reports them as skipped. Measured under load on two
    workers: three child runs for two shards.
    """
    return f"{run_id}/shard-{shard:03d}"


@task
def run_shard(deployment: str, parameters: dict[str, Any], timeout_s: float | None,
              idempotency_key: str) -> dict[str, Any]:
    """Start one child run (or find the one a retried request already started) and wait for
    its summary.
    """
    child: Any = run_deployment(deployment, parameters=parameters, timeout=timeout_s,
                                idempotency_key=idempotency_key,
                                as_subflow=True)  # sync call in a sync task: a FlowRun
    if child.state is None or not child.state.is_completed():
        raise RuntimeError(f"shard run {child.name} ended {child.state}")
    result: dict[str, Any] = child.state.result()
    return result


@flow(name="score_calls_distributed", log_prints=True)
def score_calls_distributed(
    inputs: list[str],
    tenant: str | None = None,
    shards: int = 2,
    deployment: str = "score_calls/score-calls-gpu",
    shard_dir: str = ".qa_cache/shards",
    db_secret: str | None = None,
    out_dir: str | None = None,
    cache_dir: str = ".qa_cache",
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Split a batch into ``shards`` manifests and score them on the deployment's workers.

    ``shard_dir`` and ``cache_dir`` must be reachable from every worker (NFS or bucket
    paths). The store is the one every worker's ``$QA_PIPELINE_DB_URL`` (or the ``Secret``
    block named ``db_secret``) names: its URL is never a parameter.
    """
    quiet_library_logs()
    run_id = current_run_id()
    # Shard manifests name files, not the folders they were found in: links out of an input
    # folder are refused here, where the folder is still known. The store opens only to
    # quarantine what was refused.
    sources, refused = admit(list_sources(inputs, tenant))
    if refused:
        runner({"db_secret": db_secret, "out_dir": out_dir, "cache_dir": cache_dir,
                "run_id": run_id}).record_failures(refused)
    parts = [sources[i::shards] for i in range(max(shards, 1))]
    futures = []
    for i, part in enumerate(p for p in parts if p):
        key = shard_key(run_id, i)  # also names the shard's manifest: <run id>/shard-NNN.csv
        manifest = write_manifest([s.meta for s in part], Path(shard_dir) / f"{key}.csv")
        params = {"inputs": [str(manifest)], "db_secret": db_secret, "out_dir": out_dir,
                  "cache_dir": cache_dir}
        futures.append(run_shard.submit(deployment, params, timeout_s, key))
    results = [f.result() for f in futures]
    summary: dict[str, Any] = {"run_id": run_id, "shards": results,
                               "processed": [p for r in results for p in r["processed"]],
                               "skipped": [s for r in results for s in r["skipped"]],
                               "failed": [f.to_dict() for f in refused]
                               + [f for r in results for f in r["failed"]]}
    get_run_logger().info("%d shards: %d processed, %d skipped, %d quarantined", len(results),
                          len(summary["processed"]), len(summary["skipped"]),
                          len(summary["failed"]))
    return summary
