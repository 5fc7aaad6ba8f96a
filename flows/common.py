"""Pieces shared by the flows: runner construction, transient-error retries, progress."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qa_pipeline.errors import SourceError, StoreError
from qa_pipeline.runner import BatchRunner, RunOptions
from qa_pipeline.store import Store

# Errors worth retrying with backoff: a bucket or NFS hiccup, a database restart. Bad audio
# is not retried; it is quarantined by the runner.
TRANSIENT = (SourceError, StoreError, OSError, ConnectionError, TimeoutError)
RETRY_DELAYS_S: list[float] = [2.0, 10.0, 30.0]


def retry_transient(_task: Any, _run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only transient I/O failures."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception:  # noqa: BLE001 - anything else is not transient
        return False
    return False


def current_run_id() -> str:
    """The flow run's id (recorded with costs and scorecards); a fresh one outside a run."""
    import uuid

    from prefect.runtime import flow_run

    return str(flow_run.get_id() or uuid.uuid4().hex)[:32]


def options_from(params: dict[str, Any]) -> RunOptions:
    """RunOptions from a flow's JSON-friendly parameters."""
    out_dir = params.get("out_dir")
    return RunOptions(
        cache_dir=Path(params.get("cache_dir") or ".qa_cache"),
        out_dir=Path(out_dir) if out_dir else None,
        asr_model=params.get("asr_model"), diarizer=params.get("diarizer"),
        sentiment=params.get("sentiment"), rubric=params.get("rubric"),
        run_id=params.get("run_id") or "",
    )


class _StoreCache:
    """One open store per URL per process (tasks of one flow run share the engine)."""

    def __init__(self) -> None:
        self._stores: dict[str, Store] = {}

    def get(self, url: str | None) -> Store:
        key = url or ""
        if key not in self._stores:
            self._stores[key] = Store(url)
        return self._stores[key]


_STORES = _StoreCache()


def runner(params: dict[str, Any]) -> BatchRunner:
    """A runner for one task, reporting progress to the Prefect run logger."""
    from prefect.logging import get_run_logger

    log = get_run_logger()

    def hook(step: str, *, completed: int | None = None, total: int | None = None) -> None:
        if completed is not None and total:
            log.info("%s %d/%d", step, completed, total)

    return BatchRunner(_STORES.get(params.get("db_url")), options_from(params), hook=hook)


def quiet_library_logs() -> None:
    """Library loggers stay at WARNING inside flows (Prefect shows INFO of its own)."""
    logging.getLogger("qa_pipeline").setLevel(logging.WARNING)
