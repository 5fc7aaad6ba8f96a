"""Start-up of a local orchestrated run: which orchestrator runs it
(:func:`resolve_orchestrator`) and, with Prefect, its API starting beside the warm-up of the
models the first calls need.

Without ``PREFECT_API_URL``, the process serves Prefect's API itself
(:mod:`flows.local_api`) instead of the temporary server Prefect would start as a second
process; meanwhile the process loads its models in a thread (on two cores the server's
start-up and the loading run side by side). The flow starts once the API answers, while the
loading goes on beside the flow's first calls.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from flows.local_api import local_api
from qa_pipeline.errors import ConfigError
from qa_pipeline.settings import ORCHESTRATORS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def api_configured() -> bool:
    """Whether a Prefect API is configured (then no local server is started)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def api_configured_outside_prefect() -> bool | None:
    """Whether a Prefect API is configured, read without importing Prefect (its import costs
    seconds of CPU that a run without Prefect should not pay).

    Reads the two places where ``PREFECT_API_URL`` is usually set: the environment, and the
    active profile of Prefect's profiles file (``$PREFECT_PROFILES_PATH``, else
    ``$PREFECT_HOME/profiles.toml``, else ``~/.prefect/profiles.toml``).

    Returns:
        True or False where these settle it; None where only Prefect's own settings can tell:
        a settings file in the working directory (``prefect.toml``, ``.env``,
        ``pyproject.toml``'s ``[tool.prefect]``), Prefect's test mode, a profile that the
        profiles file does not hold, or an unreadable profiles file.
    """
    env = os.environ
    if env.get("PREFECT_API_URL", "").strip():
        return True
    if env.get("PREFECT_TESTING_UNIT_TEST_MODE") or env.get("PREFECT_TESTING_TEST_MODE"):
        return None
    if (Path("prefect.toml").is_file() or _mentions(Path(".env"), "PREFECT_")
            or _mentions(Path("pyproject.toml"), "tool.prefect")):
        return None
    if env.get("PREFECT_PROFILES_PATH"):
        path = Path(env["PREFECT_PROFILES_PATH"]).expanduser()
    elif env.get("PREFECT_HOME"):
        path = Path(env["PREFECT_HOME"]).expanduser() / "profiles.toml"
    else:
        path = Path.home() / ".prefect" / "profiles.toml"
    if not path.is_file():
        # Prefect's shipped profiles then apply: the default one has no API URL, but
        # $PREFECT_PROFILE may pick one that has.
        return None if env.get("PREFECT_PROFILE") else False
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    profiles = data.get("profiles")
    active = env.get("PREFECT_PROFILE") or data.get("active")
    if not isinstance(profiles, dict) or not isinstance(profiles.get(active), dict):
        return None
    return bool(str(profiles[active].get("PREFECT_API_URL") or "").strip())


def _mentions(path: Path, text: str) -> bool:
    try:
        return path.is_file() and text in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # unreadable here: let Prefect read it


def resolve_orchestrator(name: str) -> str:
    """``prefect`` or ``local`` for an orchestrator setting: ``auto`` is ``prefect`` when a
    Prefect API is configured, else ``local``.

    Prefect is imported only where needed to decide: it is already loaded (its settings may
    have been changed in this process), or :func:`api_configured_outside_prefect` cannot tell.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    if name not in ORCHESTRATORS:
        raise ConfigError(f"unknown orchestrator {name!r}; valid: {', '.join(ORCHESTRATORS)}")
    if name != "auto":
        return name
    configured = None if "prefect" in sys.modules else api_configured_outside_prefect()
    if configured is None:
        configured = api_configured()
    return "prefect" if configured else "local"


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
