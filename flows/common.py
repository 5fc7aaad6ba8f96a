"""Pieces shared by the flows: runner construction, transient-error retries, progress."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, cast

from qa_pipeline.errors import SchemaOutdatedError, SourceError, StoreError
from qa_pipeline.runner import BatchRunner, RunOptions
from qa_pipeline.store import Store, default_db_url

# Errors worth retrying with backoff: a bucket or NFS hiccup, a database restart. Bad audio
# is not retried; it is quarantined by the runner.
TRANSIENT = (SourceError, StoreError, OSError, ConnectionError, TimeoutError)
RETRY_DELAYS_S: list[float] = [2.0, 10.0, 30.0]


def retry_transient(_task: Any, _run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only transient I/O failures."""
    try:
        state.result()
    except SchemaOutdatedError:
        return False  # waiting does not upgrade a schema: `qa-pipeline db upgrade` does
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


def database_url(secret_block: str | None = None) -> str:
    """The store's URL, resolved inside a task so that it never is a flow-run parameter.

    Args:
        secret_block: name of a Prefect ``Secret`` block holding the URL; without one, the
            URL comes from the settings (``$QA_PIPELINE_DB_URL``, ``--db``).
    """
    if secret_block:
        from prefect.blocks.system import Secret

        # load() dispatches on the caller (sync here: a task function); the cast tells mypy.
        block = cast("Secret[str]", Secret.load(secret_block))
        return str(block.get())
    return default_db_url()


class _StoreCache:
    """One open store per URL per process (tasks of one flow run share the engine). A task
    that asks while a warm-up thread opens (and upgrades) the store waits for that store.
    """

    def __init__(self) -> None:
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Store:
        from flows.local_api import MIGRATIONS

        with self._lock:
            if url not in self._stores:
                # Opening may upgrade the schema: never beside Prefect's own migrations.
                with MIGRATIONS:
                    self._stores[url] = Store(url)
            return self._stores[url]


_STORES = _StoreCache()


def open_store(secret_block: str | None = None) -> Store:
    """The process's open store for the configured URL (opened, and on the embedded SQLite
    default upgraded, on first use; later tasks share it).
    """
    return _STORES.get(database_url(secret_block))


def runner(params: dict[str, Any]) -> BatchRunner:
    """A runner for one task, reporting progress to the Prefect run logger."""
    from prefect.logging import get_run_logger

    log = get_run_logger()

    def hook(step: str, *, completed: int | None = None, total: int | None = None) -> None:
        if completed is not None and total:
            log.info("%s %d/%d", step, completed, total)

    store = open_store(params.get("db_secret"))
    return BatchRunner(store, options_from(params), hook=hook)


def quiet_library_logs() -> None:
    """Library loggers stay at WARNING inside flows (Prefect shows INFO of its own)."""
    logging.getLogger("qa_pipeline").setLevel(logging.WARNING)
