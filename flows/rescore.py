"""Flow ``rescore``: stored conversations -> new scorecards under the tenant's current
rubric (or ``rubric``), per tenant and date range. No audio is read and no ASR runs.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from flows.common import (
    RETRY_DELAYS_S,
    current_run_id,
    quiet_library_logs,
    retry_transient,
    runner,
)
from qa_pipeline.store.store import parse_started_at


@task(retries=3, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=retry_transient)
def rescore_tenant(tenant: str, since: str | None, until: str | None,
                   params: dict[str, Any]) -> dict[str, Any]:
    """Re-score one tenant's calls started in ``[since, until)``."""
    report = runner(params).rescore(tenant, since=parse_started_at(since or ""),
                                    until=parse_started_at(until or ""))
    return report.to_dict()


@flow(name="rescore", log_prints=True)
def rescore(
    tenant: str,
    rubric: str | None = None,
    since: str | None = None,
    until: str | None = None,
    db_secret: str | None = None,
    out_dir: str | None = None,
    sentiment: str | None = None,
) -> dict[str, Any]:
    """Backfill: new scorecards for stored conversations (ISO dates; ``until`` exclusive).

    The store's URL comes from ``$QA_PIPELINE_DB_URL`` or the Prefect ``Secret`` block named
    ``db_secret``, never from a parameter.
    """
    quiet_library_logs()
    run_id = current_run_id()
    params = {"db_secret": db_secret, "out_dir": out_dir, "rubric": rubric, "sentiment": sentiment,
              "run_id": run_id}
    report = rescore_tenant(tenant, since, until, params)
    get_run_logger().info("rescored %d calls of %s, %d failed", len(report["processed"]),
                          tenant, len(report["failed"]))
    return report
