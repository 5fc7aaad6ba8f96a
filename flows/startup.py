"""Start-up of a local orchestrated run: Prefect's temporary API server boots beside the
warm-up of the models the first calls need.

Without ``PREFECT_API_URL``, the first flow call of a process starts a temporary server (a
subprocess on 127.0.0.1) and waits for it, seconds in which the process does nothing. Here the
server is started in a thread and the process loads its models meanwhile (on two cores the
server's start-up and the loading run side by side); the flow starts when both are done,
against the same server, which Prefect keeps one of per process.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


def api_configured() -> bool:
    """Whether a Prefect API is configured (then no temporary server is started)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def start_temporary_server() -> None:
    """Start Prefect's temporary server (or find the one this process started) and wait
    until it answers; the flow engine then uses it.
    """
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().start()


def warm_start(prepare: Callable[[], None],
               start_server: Callable[[], None] = start_temporary_server) -> None:
    """Run ``prepare`` while the temporary API server starts, if one is needed; return when
    both are done.

    ``prepare`` is an optimisation: an error in it is logged and dropped, because the work
    it would have done happens again, and fails where the run handles failures (per call, with
    quarantine). A server that does not start raises here, as the flow call would.

    Args:
        prepare: loads what the run's first calls need.
        start_server: starts the server and waits for it (tests pass a fake).
    """
    if api_configured():
        _safely(prepare)
        return
    # The server's module is imported here, not in the thread: the import holds the GIL
    # for seconds, and the subprocess can only start once it is done.
    import prefect.server.api.server  # noqa: F401

    errors: list[BaseException] = []

    def start() -> None:
        try:
            start_server()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    # The server reads Prefect's settings of the caller's context (a new thread has none).
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(start,), daemon=True,
                              name="prefect-temporary-server")
    thread.start()
    try:
        _safely(prepare)
    finally:
        thread.join()
    if errors:
        raise errors[0]


def _safely(prepare: Callable[[], None]) -> None:
    try:
        prepare()
    except Exception:  # noqa: BLE001 - the run meets the same error where it handles it
        logger.debug("warm-up failed; the run loads on first use", exc_info=True)
