"""Prefect's API served inside this process, for a local run without a configured server.

Without ``PREFECT_API_URL``, Prefect starts a temporary server for every process: a second
Python interpreter that imports Prefect's server again and runs uvicorn, while the CLI
process imports the same server module anyway. :class:`LocalApi` serves the same application
(:func:`prefect.server.api.server.create_app`, ephemeral services only: the task-run recorder
and event persister that keep the run's history, no UI or scheduler) from uvicorn
in a thread of this process, against the same database (``PREFECT_HOME``'s SQLite by
default), so the runs stay visible later in ``prefect server start``'s UI.

Order at exit matters: the client's event and log workers send what they hold, the server's
recorder and persister then consume it, and only then does the server stop
(:meth:`LocalApi.stop`). A configured ``PREFECT_API_URL`` is left alone (:func:`local_api`).
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from qa_pipeline.errors import QAPipelineError

if TYPE_CHECKING:
    import asyncio

    import uvicorn

#: The in-memory topics that the server's recorder and persister consume.
_TOPICS = ("events", "logs")

#: Held while a migration may run in this process: Alembic keeps the running migration in
#: module globals, so two at once (Prefect's database at the server's start-up, the store's
#: on its first open in the warm-up thread) break each other.
MIGRATIONS = threading.Lock()


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


class LocalApiError(QAPipelineError):
    """Prefect's in-process API did not start."""


class LocalApi:
    """Prefect's API app served by uvicorn in a background thread on 127.0.0.1.

    Args:
        startup_timeout_s: how long :meth:`start` waits for the app's start-up (migrations
            of a fresh database included).
        drain_timeout_s: how long :meth:`stop` waits for the client's workers and for the
            server's consumers to finish the run's events and logs.
        flush_every_s: how often the server's task-run recorder and event persister write
            what they hold (Prefect's default is 5 s); they also write at the stop. A
            process killed mid-run loses at most this much of its task-run history.
    """

    def __init__(self, startup_timeout_s: float = 90.0, drain_timeout_s: float = 30.0,
                 flush_every_s: float = 60.0) -> None:
        self.startup_timeout_s = startup_timeout_s
        self.flush_every_s = flush_every_s
        self.drain_timeout_s = drain_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._url: str | None = None
        self._error: BaseException | None = None

    @property
    def api_url(self) -> str:
        """The API's URL (``http://127.0.0.1:PORT/api``); only while started."""
        if self._url is None:
            raise LocalApiError("the local Prefect API is not started")
        return self._url

    def start(self) -> str:
        """Serve the API and wait until it answers.

        Returns:
            The API's URL.

        Raises:
            LocalApiError: the server did not start within ``startup_timeout_s`` (its
                error chained, where it raised one).
        """
        if self._url is not None:
            return self._url
        try:
            import uvicorn
            from prefect.server.api.server import create_app
        except ImportError as e:
            raise LocalApiError("Prefect's server (prefect[server]) is not installed") from e
        # The temporary server's own settings: no UI, ephemeral services only, and
        # final=True (this app is the process's only one, so Prefect may skip copies).
        try:
            app = create_app(ephemeral=True, final=True)
        except Exception as e:
            raise LocalApiError("Prefect's API app could not be built") from e
        config = uvicorn.Config(app, log_level="error", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self._server = server
        # The server's tasks read Prefect's settings from the context: the caller's (its
        # database, its service switches), not the process's defaults, plus the recorders'
        # flush interval. Stopping cancels a flush under way (Prefect logs an error and
        # writes the batch again at shutdown), so the run's history is written every
        # `flush_every_s` and at the stop, after the last events arrived.
        from prefect.settings import (
            PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL,
            PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL,
            temporary_settings,
        )

        with temporary_settings({
                PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL: self.flush_every_s,
                PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL: self.flush_every_s}):
            context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._serve, server, sock),
                                        name="prefect-local-api", daemon=True)
        deadline = time.monotonic() + self.startup_timeout_s
        with MIGRATIONS:
            self._thread.start()
            # uvicorn sets `started` once the app's start-up (migrations, services) is done
            # and the socket listens; the thread ends early only on an error.
            while not server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    self._stop_server()
                    sock.close()
                    raise LocalApiError("Prefect's in-process API did not start within "
                                        f"{self.startup_timeout_s:.0f} s") from self._error
                time.sleep(0.02)
        self._url = f"http://127.0.0.1:{port}/api"
        return self._url

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        import asyncio

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        except BaseException as e:  # noqa: BLE001 - reported by start() / stop()
            self._error = e
        finally:
            sock.close()

    def stop(self) -> None:
        """Send what the client's workers hold, let the server record it, then stop the
        server and join its thread. Safe to call twice.
        """
        if self._server is None:
            return
        if self._url is not None:
            self._drain_client()
            self._wait_consumed()
        self._stop_server()
        self._url = None

    def _drain_client(self) -> None:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        # Both send over HTTP / websocket to this server: it must still be up. A worker
        # with items left warns "Still processing items" while it drains: here the wait is
        # the point, so the warning is not shown.
        quiet = _DropMessage("Still processing items")
        loggers = [logging.getLogger(w.__name__) for w in (APILogWorker, EventsWorker)]
        for log in loggers:
            log.addFilter(quiet)
        try:
            APILogWorker.drain_all(timeout=self.drain_timeout_s)
            EventsWorker.drain_all(timeout=self.drain_timeout_s)
        finally:
            for log in loggers:
                log.removeFilter(quiet)

    def _wait_consumed(self) -> None:
        """Wait until the server's consumers (task-run recorder, event persister) have taken
        every message the client sent; at shutdown they write the batches they hold.
        """
        import asyncio

        from prefect.server.utilities.messaging.memory import Topic

        async def pending() -> int:
            return sum(s._queue.qsize() + s._retry.qsize()  # noqa: SLF001 - no public size
                       for name in _TOPICS for s in Topic.by_name(name)._subscriptions)  # noqa: SLF001

        loop = self._loop
        if loop is None:
            return
        deadline = time.monotonic() + self.drain_timeout_s
        while time.monotonic() < deadline:
            if asyncio.run_coroutine_threadsafe(pending(), loop).result(
                    self.drain_timeout_s) == 0:
                return
            time.sleep(0.05)

    def _stop_server(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            # A graceful exit: uvicorn runs the app's shutdown, whose services flush
            # what they hold (the task-run recorder's and event persister's last batch).
            server.should_exit = True
        if thread is not None:
            thread.join(self.drain_timeout_s)
        self._server = self._thread = self._loop = None


@contextmanager
def local_api(*, startup_timeout_s: float | None = None) -> Iterator[str | None]:
    """Serve Prefect's API in this process while the block runs, unless an API is
    configured (then nothing changes and ``None`` is yielded).

    The process's Prefect settings point at the local API while the block runs (the
    settings context, and ``PREFECT_API_URL`` in the environment for threads that read
    settings afresh); both are restored on exit, after the server has stopped.

    Args:
        startup_timeout_s: how long to wait for the server; default Prefect's
            ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``, as for its temporary server.

    Yields:
        The local API's URL, or None when ``PREFECT_API_URL`` was set already.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if PREFECT_API_URL.value():
        yield None
        return
    if startup_timeout_s is None:
        startup_timeout_s = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    server = LocalApi(startup_timeout_s=startup_timeout_s)
    url = server.start()
    try:
        with _api_url_environ(url), temporary_settings({PREFECT_API_URL: url}), \
                _sigterm_exits():
            try:
                yield url
            finally:
                # While the settings still name this server: the workers drain to it.
                server.stop()
    finally:
        server.stop()  # idempotent; here only if the settings failed to apply


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM ends the process through its exit path (``SystemExit``, status 143) instead
    of at once, so that the server records what the run sent (its crashed task runs
    included) before it stops. Prefect's flow engine marks the run crashed and then sends
    SIGTERM again to the handler it found: this one. Only in the main thread, and only
    where SIGTERM has its default action (an application's own handler stays).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def exit_(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _api_url_environ(url: str) -> Iterator[None]:
    """``PREFECT_API_URL`` in the process environment (for subprocesses the run starts), put
    back as it was at the end.
    """
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
