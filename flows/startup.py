"""Start-up of a local orchestrated run: Prefect's temporary API server boots beside the
warm-up of the models the first calls need.

Without ``PREFECT_API_URL``, the first flow call of a process starts a temporary server (a
subprocess on 127.0.0.1) and waits for it, seconds in which the process does nothing. Here the
process loads its models in a thread meanwhile (on two cores the server's start-up and the
loading run side by side); the flow starts once the server answers, against the same server,
which Prefect keeps one of per process, while the loading goes on beside the flow's first
calls.
"""

from __future__ import annotations

from collections.abc import Callable


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
    """Start ``prepare`` in a background thread (:mod:`qa_pipeline.runner.warmup`) and, if
    no API is configured, start the temporary API server; return once the server answers.

    The flow then starts without waiting for the warm-up: its front end finds the ASR model
    loaded or waits for the load under way (never loads a copy), and the scoring stage waits
    for the rest (:func:`qa_pipeline.runner.warmup.wait`). Against a configured API the
    loading thus runs beside the flow's start and first calls instead of before them.

    ``prepare`` is an optimisation: an error in it is logged and dropped, because the work
    it would have done happens again, and fails where the run handles failures (per call, with
    quarantine). A server that does not start raises here, as the flow call would.

    Args:
        prepare: loads what the run's calls need; it must not write what the flow reads.
        start_server: starts the server and waits for it (tests pass a fake).
    """
    from qa_pipeline.runner import warmup

    if api_configured():
        warmup.start(prepare)
        return
    # The server's module is imported before the warm-up starts: the import holds the GIL
    # for seconds, and the subprocess can only start once it is done.
    import prefect.server.api.server  # noqa: F401

    warmup.start(prepare)
    start_server()
