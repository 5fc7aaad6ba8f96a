"""Loading started early, in a background thread, that a later step of the same process
waits for.

The front end's ASR leaves part of a CPU idle (CTranslate2 does not keep every core busy), and
a command may wait for something else (Prefect's API server). Loading the scoring models and
the acoustics code meanwhile takes it off the critical path. The loaders fill per-process
caches; the step that needs them calls :func:`wait` first, so it never loads a second copy
beside the warm-up.

A warm-up is an optimisation: an error in it is logged and dropped, because the step that
needs the model loads it again and fails where the run handles failures (per call, with
quarantine).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pending: list[threading.Thread] = []
# CPU seconds of ended warm-ups, and the CPU clocks of running ones (Linux thread clocks).
_ended_cpu_s = 0.0
_running: dict[int, int] = {}


def start(work: Callable[[], None], name: str = "qa-warm-up") -> threading.Thread:
    """Run ``work`` in a daemon thread (in a copy of the caller's context); :func:`wait`
    joins it.
    """
    context = contextvars.copy_context()

    def body() -> None:
        global _ended_cpu_s
        ident = threading.get_ident()
        with _lock:
            if hasattr(time, "pthread_getcpuclockid"):
                _running[ident] = time.pthread_getcpuclockid(ident)
        try:
            context.run(work)
        except Exception:  # noqa: BLE001 - the step that needs it loads (and fails) again
            logger.debug("warm-up failed; the run loads on first use", exc_info=True)
        finally:
            with _lock:
                _running.pop(ident, None)
                _ended_cpu_s += time.thread_time()

    thread = threading.Thread(target=body, name=name, daemon=True)
    with _lock:
        _pending.append(thread)
    thread.start()
    return thread


def wait() -> None:
    """Return once every warm-up this process started has ended (at once if none)."""
    while True:
        with _lock:
            if not _pending:
                return
            thread = _pending.pop(0)
        if thread is not threading.current_thread():
            thread.join()


def cpu_s() -> float:
    """CPU seconds the process's warm-up threads have used so far.

    A stage's meter leaves them out: loading that runs beside a call's front end is not that
    call's cost. Only the threads' own CPU is counted: worker pools a loader starts, such as
    an embedding engine's, are not told apart.
    """
    with _lock:
        # A thread in _running has not reached its final locked block: its clock is valid.
        return _ended_cpu_s + sum(time.clock_gettime(clock) for clock in _running.values())
