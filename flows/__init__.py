"""Prefect flows over :mod:`qa_pipeline` (a thin layer: every task calls one library stage).

Importing this package changes nothing: no environment variable is set and no folder is
created. The command line calls :func:`prefect_defaults` before it imports Prefect.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Offline-friendly Prefect settings for a local run (see ../shared/PREFECT.md); explicit
#: environment settings win.
PREFECT_DEFAULTS: dict[str, str] = {
    # No telemetry; a longer start-up timeout for the local API (flows/local_api.py).
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # Large recorder batches keep the embedded SQLite server from answering 503 under load.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
}


def prefect_defaults() -> Path:
    """Apply :data:`PREFECT_DEFAULTS` and a ``PREFECT_HOME`` of our own (instead of
    ``~/.prefect``) to this process's environment, where not set already.

    Call it before Prefect is first imported: Prefect reads its settings then.

    Returns:
        The ``PREFECT_HOME`` folder (created, with its parents, which Prefect does not make).
    """
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_HOME",
                          str(Path.home() / ".cache" / "qa_pipeline" / "prefect"))
    home = Path(os.environ["PREFECT_HOME"]).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
