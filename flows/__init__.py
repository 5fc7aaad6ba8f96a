"""Prefect flows over :mod:`qa_pipeline` (a thin layer: every task calls one library stage).

Importing this package sets offline-friendly Prefect defaults before Prefect is imported
(see ../shared/PREFECT.md): no telemetry, a longer ephemeral-server start-up timeout, and a
``PREFECT_HOME`` of our own instead of ``~/.prefect``. Explicit environment settings win.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_HOME", str(Path.home() / ".cache" / "qa_pipeline" / "prefect"))
# Prefect creates PREFECT_HOME itself but not its parents.
Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
# Large recorder batches keep the embedded SQLite server from answering 503 under load.
os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "200")
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE", "200")
