"""Kill ``qa-pipeline run`` (the score_calls flow, and the same stages run in-process
without Prefect) mid-batch with SIGKILL and run it again: no scorecard lost, none duplicated,
the quarantine intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf
from sqlalchemy import func, select

from qa_pipeline.store import Store
from qa_pipeline.store.tables import QuarantineEntry, ScorecardItemRow, ScorecardRow
from tests.conftest import DATA_SAMPLES, REPO

pytestmark = pytest.mark.integration


def count(store, table):
    if "default" not in store.tenant_ids():
        return 0
    with store.session_for("default") as s:
        return s.scalar(select(func.count()).select_from(table))


@pytest.mark.parametrize("orchestrator", ["prefect", "local"])
def test_killed_flow_rerun_loses_and_duplicates_nothing(tmp_path, orchestrator):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    base, sr = sf.read(DATA_SAMPLES / "calls" / "en_good_mono_8k.wav", dtype="float32")
    for i in range(3):
        sf.write(inbox / f"call{i}.wav", base * (0.6 + 0.1 * i), sr)
    (inbox / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    cmd = [sys.executable, "-m", "flows.cli", "run", str(inbox), "--tenant", "default",
           "--db", db, "--cache-dir", str(tmp_path / "cache"), "--shard-size", "1",
           "--orchestrator", orchestrator]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    store = Store(db)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while count(store, ScorecardRow) < 1:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no scorecard appeared"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its temporary Prefect server
    proc.wait()
    before = count(store, ScorecardRow)
    assert 1 <= before <= 3
    assert count(store, QuarantineEntry) == 1

    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]  # corrupt.wav
    assert f"skipped as already done: {before}" in again.stderr
    assert count(store, ScorecardRow) == 3
    items = len(store.tenant("default").scorecards()[0]["items"])
    assert count(store, ScorecardItemRow) == 3 * items
    [q] = store.tenant("default").quarantined()
    assert (q.reason, q.attempts) == ("corrupt", 2)
    assert {c.status for c in store.tenant("default").calls()} == {"scored"}
