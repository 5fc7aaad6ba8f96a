"""Prefect's API served in this process (`flows.local_api`) for runs without a configured
server: history recorded, a clean exit, nothing left running, a configured API untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A whole process, as `qa-pipeline run` is: a flow of 12 tasks under the local API, then
# what is left running at the end of the block, then the interpreter's own exit.
CHILD = """
import json, os, threading
from flows import prefect_defaults
prefect_defaults()
from prefect import flow, task
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from flows.local_api import local_api

@task
def double(i):
    return 2 * i

@flow(name="local-api-check")
def total(n):
    return sum(double(i) for i in range(n))

with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
    with local_api() as url:
        result = total(12)
    children = [p for p in os.listdir("/proc") if p.isdigit()
                and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]
                == str(os.getpid())]
    print(json.dumps({"url": url, "result": result, "children": children,
                      "threads": [t.name for t in threading.enumerate()],
                      "api_url_after": PREFECT_API_URL.value(),
                      "env_after": os.environ.get("PREFECT_API_URL")}))
"""


SLOW_CHILD = """
import atexit, gc, time
atexit.register(gc.freeze)  # as the command line does: no seconds-long last collections
from flows import prefect_defaults
prefect_defaults()
from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from flows.local_api import local_api

@task
def slow():
    print("started", flush=True)
    time.sleep(600)

@flow(name="terminated")
def run():
    slow()

with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), local_api():
    run()
"""


def _child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def test_a_local_run_is_recorded_exits_cleanly_and_leaves_nothing_running(tmp_path) -> None:
    home = tmp_path / "prefect"
    proc = subprocess.run([sys.executable, "-c", CHILD], env=_child_env(home), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["result"] == 2 * sum(range(12))
    assert out["url"].startswith("http://127.0.0.1:")
    # No temporary-server subprocess, no server thread, settings and environment restored.
    assert out["children"] == []
    assert "prefect-local-api" not in out["threads"]
    assert out["api_url_after"] is None and out["env_after"] is None
    # Nothing failed on the way out (a server stopped before the client's workers had sent
    # their events shows as connection errors and retries here).
    for bad in ("Traceback", "Error", "retry", "Still processing"):
        assert bad not in proc.stderr, proc.stderr[-3000:]
    # The history is in Prefect's database under PREFECT_HOME, where `prefect server
    # start` shows it later: the flow run and every task run, completed.
    with sqlite3.connect(home / "prefect.db") as db:
        flows = db.execute("SELECT f.name, r.state_type FROM flow_run r "
                           "JOIN flow f ON f.id = r.flow_id").fetchall()
        tasks = db.execute("SELECT state_type, COUNT(*) FROM task_run GROUP BY 1").fetchall()
    assert flows == [("local-api-check", "COMPLETED")]
    assert tasks == [("COMPLETED", 12)]


def test_the_local_api_serves_while_open_and_stops_on_exit() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.local_api import local_api

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        env_before = os.environ.get("PREFECT_API_URL")
        with local_api() as url:
            assert url is not None
            assert PREFECT_API_URL.value() == url == os.environ["PREFECT_API_URL"]
            with urllib.request.urlopen(f"{url}/health", timeout=30) as r:
                assert json.loads(r.read()) is True
            assert "prefect-local-api" in [t.name for t in threading.enumerate()]
        assert PREFECT_API_URL.value() is None
        assert os.environ.get("PREFECT_API_URL") == env_before
    assert "prefect-local-api" not in [t.name for t in threading.enumerate()]
    with pytest.raises(OSError):  # the port is closed
        urllib.request.urlopen(f"{url}/health", timeout=5)


def test_a_configured_api_is_left_alone() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.local_api import local_api

    configured = "http://127.0.0.1:4200/api"
    threads = {t.name for t in threading.enumerate()}
    with temporary_settings({PREFECT_API_URL: configured}):
        with local_api() as url:
            assert url is None
            assert PREFECT_API_URL.value() == configured
            assert {t.name for t in threading.enumerate()} == threads


def test_a_server_that_does_not_start_raises_a_domain_error(monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.local_api import LocalApiError, local_api

    def broken(**_kw: object) -> None:
        raise RuntimeError("no database")

    monkeypatch.setattr("prefect.server.api.server.create_app", broken)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(LocalApiError) as err, local_api():
            pass
        # nothing of the failed start is left in the settings (checked inside the block: a
        # session's test harness may serve an API outside it)
        assert PREFECT_API_URL.value() is None
    assert isinstance(err.value.__cause__, RuntimeError)


def test_the_server_starts_and_the_store_opens_one_at_a_time(monkeypatch, tmp_path) -> None:
    # Alembic keeps the running migration in module globals: Prefect's migrations (at the
    # server's start-up) and the store's (its first open, in the warm-up thread) must not
    # overlap in one process.
    from contextlib import asynccontextmanager

    from prefect.settings import PREFECT_API_URL, temporary_settings
    from starlette.applications import Starlette

    import flows.common
    from flows.local_api import MIGRATIONS, local_api

    held: dict[str, bool] = {}

    @asynccontextmanager
    async def lifespan(_app: object):  # type: ignore[no-untyped-def]
        held["server start-up"] = MIGRATIONS.locked()
        yield

    def app(**_kw: object) -> Starlette:
        return Starlette(lifespan=lifespan)

    def store(url: str) -> str:
        held["store open"] = MIGRATIONS.locked()
        return url

    monkeypatch.setattr("prefect.server.api.server.create_app", app)
    monkeypatch.setattr(flows.common, "Store", store)
    with temporary_settings(restore_defaults={PREFECT_API_URL}), local_api():
        pass
    flows.common._StoreCache().get(f"sqlite:///{tmp_path / 'qa.db'}")
    assert held == {"server start-up": True, "store open": True}
    assert not MIGRATIONS.locked()


def test_the_server_runs_with_the_callers_settings_and_its_flush_interval(monkeypatch) -> None:
    from contextlib import asynccontextmanager

    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_API_URL,
        get_current_settings,
        temporary_settings,
    )
    from starlette.applications import Starlette

    from flows.local_api import LocalApi

    seen: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(_app: object):  # type: ignore[no-untyped-def]
        # What the server's services read: the settings of the server's thread.
        services = get_current_settings().server.services
        seen["database"] = PREFECT_API_DATABASE_CONNECTION_URL.value()
        seen["recorder"] = services.task_run_recorder.flush_interval
        seen["persister"] = services.event_persister.flush_interval
        yield

    monkeypatch.setattr("prefect.server.api.server.create_app",
                        lambda **_kw: Starlette(lifespan=lifespan))
    url = "sqlite+aiosqlite:////nonexistent/callers.db"
    with temporary_settings({PREFECT_API_DATABASE_CONNECTION_URL: url},
                            restore_defaults={PREFECT_API_URL}):
        api = LocalApi(flush_every_s=17.0)
        api.start()
        api.stop()
    assert seen == {"database": url, "recorder": 17.0, "persister": 17.0}


def test_sigterm_records_the_crashed_run_before_the_process_ends(tmp_path) -> None:
    import signal

    home = tmp_path / "prefect"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CHILD], env=_child_env(home),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Through the exit path (Prefect alone re-sends SIGTERM to the default action, which
    # ends the process before anything is recorded, -15 here).
    assert proc.returncode == 143, err[-3000:]
    with sqlite3.connect(home / "prefect.db") as db:
        flows = db.execute("SELECT state_type FROM flow_run").fetchall()
        tasks = db.execute("SELECT name, state_type FROM task_run").fetchall()
    assert flows == [("CRASHED",)]
    assert [(n.split("-")[0], t) for n, t in tasks] == [("slow", "CRASHED")]


def test_the_start_up_timeout_is_prefects_ephemeral_server_setting(monkeypatch) -> None:
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    import flows.local_api

    seen: dict[str, float] = {}

    class Recording(flows.local_api.LocalApi):
        def start(self) -> str:
            seen["timeout"] = self.startup_timeout_s
            return "http://127.0.0.1:9/api"

        def stop(self) -> None:
            pass

    monkeypatch.setattr(flows.local_api, "LocalApi", Recording)
    with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 7},
                            restore_defaults={PREFECT_API_URL}), flows.local_api.local_api():
        pass
    assert seen == {"timeout": 7.0}
