from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_api():
    """The real Prefect engine against a temporary server, once per session (~15 s)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
            prefect_test_harness(server_startup_timeout=90):
        yield


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
