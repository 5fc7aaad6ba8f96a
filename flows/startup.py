"""Start-up of a local orchestrated run: Prefect's API starts beside the warm-up of the
models the first calls need.

Without ``PREFECT_API_URL``, the process serves Prefect's API itself
(:mod:`flows.local_api`) instead of the temporary server Prefect would start as a second
process; meanwhile the process loads its models in a thread (on two cores the server's
start-up and the loading run side by side). The flow starts once the API answers, while the
loading goes on beside the flow's first calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from flows.local_api import local_api


def api_configured() -> bool:
    """Whether a Prefect API is configured (then no local server is started)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


@contextmanager
def warm_start(prepare: Callable[[], None],
               serve: Callable[[], AbstractContextManager[object]] = local_api
               ) -> Iterator[None]:
    """Start ``prepare`` in a background thread (:mod:`qa_pipeline.runner.warmup`) and, if
    no API is configured, serve Prefect's API in this process while the block runs; the
    block starts once the API answers.

    The flow then starts without waiting for the warm-up: its front end finds the ASR model
    loaded or waits for the load under way (never loads a copy), and the scoring stage waits
    for the rest (:func:`qa_pipeline.runner.warmup.wait`). Against a configured API the
    loading thus runs beside the flow's start and first calls instead of before them.

    ``prepare`` is an optimisation: an error in it is logged and dropped, because the work
    it would have done happens again, and fails where the run handles failures (per call, with
    quarantine). A server that does not start raises here, as the flow call would.

    Args:
        prepare: loads what the run's calls need; it must not write what the flow reads.
        serve: serves the API while its context is open, and points Prefect's settings at
            it (tests pass a fake).
    """
    from qa_pipeline.runner import warmup

    if api_configured():
        warmup.start(prepare)
        yield
        return
    # The server's module is imported before the warm-up starts: the import holds the GIL
    # for seconds, and the server can only start once it is done.
    import prefect.server.api.server  # noqa: F401

    warmup.start(prepare)
    with serve():
        yield
