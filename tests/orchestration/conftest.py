from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def prefect_api():
    """The real Prefect engine against a temporary server, once per session (~15 s)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows import PREFECT_DEFAULTS

    # The server settings the command line applies (the test server runs as a subprocess
    # and reads them from the environment); importing flows no longer sets them.
    mp = pytest.MonkeyPatch()
    for name, value in PREFECT_DEFAULTS.items():
        if name not in os.environ:
            mp.setenv(name, value)

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
            prefect_test_harness(server_startup_timeout=90):
        yield
    mp.undo()


@pytest.fixture
def count_asr(monkeypatch):
    """Counts completed front-end runs (decode + diarize + ASR) in this process."""
    from qa_pipeline.frontend import FrontEnd

    calls = {"n": 0}
    real = FrontEnd.transcribe

    def counting(self, *a, **kw):
        out = real(self, *a, **kw)
        calls["n"] += 1
        return out

    monkeypatch.setattr(FrontEnd, "transcribe", counting)
    return calls
