"""A local Prefect server and two process workers on loopback: the prefect.yaml
deployment is created, one batch fans out over both workers, nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import soundfile as sf

from qa_pipeline.store import Store
from tests.conftest import DATA_SAMPLES, REPO

pytestmark = pytest.mark.integration
PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("prefect server did not become healthy")


def wait_for_workers(api: str, pool: str, n: int, timeout_s: float = 120) -> None:
    """Both workers polling before the batch starts (else the first takes every shard)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        req = urllib.request.Request(f"{api}/work_pools/{pool}/workers/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            online = [w for w in json.loads(r.read()) if w.get("status") == "ONLINE"]
        if len(online) >= n:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{n} workers did not come online")


def deployment_runs(api: str) -> list[dict]:
    """Every flow run started from a deployment (the shards' child runs)."""
    body = json.dumps({"flow_runs": {"deployment_id": {"is_null_": False}}}).encode()
    req = urllib.request.Request(f"{api}/flow_runs/filter", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return list(json.loads(r.read()))


def deployments(api: str) -> list[dict]:
    req = urllib.request.Request(f"{api}/deployments/filter", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return list(json.loads(r.read()))


def stop(proc: subprocess.Popen) -> None:
    # Workers ignore SIGTERM (../shared/PREFECT.md) but stop on SIGINT; then SIGKILL.
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "prefect-home"
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_LOGGING_LEVEL": "WARNING"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(env["PREFECT_API_URL"], proc)
        yield env
    finally:
        stop(proc)
        log.close()


def test_two_workers_share_one_batch_without_duplicates(server, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    base, sr = sf.read(DATA_SAMPLES / "calls" / "en_good_mono_8k.wav", dtype="float32")
    for i in range(4):  # four distinct recordings (different bytes, same speech)
        sf.write(inbox / f"call{i}.wav", base * (0.7 + 0.1 * i), sr)
    shared = tmp_path / "shared"
    shared.mkdir()
    # What prefect.yaml's pull step installs on a worker: here the package already installed
    # in this environment (so pip changes nothing and needs no index).
    (shared / "requirements-callqa.txt").write_text("qa-pipeline\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    # The store's URL lives in the workers' environment only, never in a deployment.
    env = {**server, "QA_PIPELINE_DB_URL": db,
           "QA_PIPELINE_INBOX": str(inbox), "QA_PIPELINE_SHARED": str(shared),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    run = dict(env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    r = subprocess.run([*PREFECT, "work-pool", "create", "gpu", "--type", "process"], **run)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([*PREFECT, "--no-prompt", "deploy", "--name", "score-calls-gpu"], **run)
    assert r.returncode == 0, r.stdout + r.stderr

    workers = []
    try:
        for name in ("gpu-0", "gpu-1"):
            wlog = open(tmp_path / f"{name}.log", "w")
            workers.append(subprocess.Popen(
                [*PREFECT, "worker", "start", "--pool", "gpu", "--limit", "1", "--name", name],
                env={**env, "QA_PIPELINE_WORKER_NAME": name, "PREFECT_LOGGING_LEVEL": "INFO"},
                cwd=REPO, stdout=wlog,
                stderr=subprocess.STDOUT))
        wait_for_workers(env["PREFECT_API_URL"], "gpu", 2)
        parent = ("import json; from flows.distributed import score_calls_distributed as f; "
                  f"print(json.dumps(f(inputs=[{str(inbox)!r}], tenant='default', shards=2, "
                  f"cache_dir={str(shared / 'cache')!r}, "
                  f"shard_dir={str(shared / 'shards')!r}, timeout_s=400)))")
        r = subprocess.run([sys.executable, "-c", parent], **{**run, "timeout": 480})
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + "".join(
            (tmp_path / f"gpu-{i}.log").read_text()[-2000:] for i in range(2))
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        children = deployment_runs(env["PREFECT_API_URL"])
    finally:
        for w in workers:
            stop(w)

    # One child run per shard: a resent create request must not start a second one.
    assert len(children) == 2, [(c["name"], c["state_name"]) for c in children]
    assert len(summary["shards"]) == 2
    assert {s["worker"] for s in summary["shards"]} == {"gpu-0", "gpu-1"}
    ids = [p["call_id"] for p in summary["processed"]]
    # The whole summary on failure: a flaky run once showed 2 of 4 processed without saying
    # where the other two went (skipped as done, or quarantined, and why).
    assert len(ids) == 4 and len(set(ids)) == 4 and summary["failed"] == [], json.dumps(
        summary, indent=1)[-4000:] + "".join(
        (tmp_path / f"gpu-{i}.log").read_text()[-3000:] for i in range(2))
    t = Store(db).tenant("default")
    assert t.count_scorecards() == 4
    assert str(tmp_path / "qa.db") not in json.dumps(deployments(env["PREFECT_API_URL"]))
    assert len({c["call_id"] for c in t.scorecards()}) == 4
