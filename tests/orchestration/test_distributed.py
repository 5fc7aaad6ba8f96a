"""score_calls_distributed starts exactly one child run per shard, even when the request
that creates it is sent twice (the Prefect client resends a request that timed out).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect import flow
from prefect.deployments import run_deployment
from prefect.states import Completed

import flows.distributed as distributed
from tests.conftest import DATA_SAMPLES

pytestmark = pytest.mark.integration


@flow(name="shard_echo")
def shard_echo(inputs: list[str]) -> list[str]:
    """A stand-in child flow (never run here: the tests only create its runs)."""
    return inputs


def test_each_shard_run_carries_its_own_stable_idempotency_key(prefect_api, monkeypatch,
                                                               tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("en_good_mono_8k.wav", "en_bad_stereo_8k.wav", "zh_good_stereo_8k.wav"):
        shutil.copy(DATA_SAMPLES / "calls" / name, inbox / name)
    started: list[dict[str, Any]] = []

    def fake_run_deployment(name: str, **kwargs: Any) -> SimpleNamespace:
        started.append({"name": name, **kwargs})
        summary = {"worker": "w", "processed": [], "skipped": [], "failed": []}
        return SimpleNamespace(name=f"child-{len(started)}", state=Completed(data=summary))

    monkeypatch.setattr(distributed, "run_deployment", fake_run_deployment)
    summary = distributed.score_calls_distributed(
        inputs=[str(inbox)], tenant="default", shards=2, shard_dir=str(tmp_path / "shards"),
        cache_dir=str(tmp_path / "cache"))

    run_id = summary["run_id"]
    keys = sorted(s["idempotency_key"] for s in started)
    assert keys == [f"{run_id}/shard-000", f"{run_id}/shard-001"]
    # One manifest per shard, each shard's key naming its own manifest's shard number.
    for s in started:
        manifest = s["parameters"]["inputs"][0]
        assert manifest.endswith(s["idempotency_key"].rsplit("/", 1)[1] + ".csv")


def test_a_repeated_key_finds_the_child_run_already_created(prefect_api):
    deployment = shard_echo.to_deployment(name="idempotency-check")
    deployment.apply()
    name = "shard_echo/idempotency-check"
    params = {"inputs": ["a.csv"]}

    first = run_deployment(name, parameters=params, timeout=0,
                           idempotency_key=distributed.shard_key("run-1", 0))
    again = run_deployment(name, parameters=params, timeout=0,
                           idempotency_key=distributed.shard_key("run-1", 0))
    other = run_deployment(name, parameters=params, timeout=0,
                           idempotency_key=distributed.shard_key("run-1", 1))
    assert again.id == first.id  # type: ignore[union-attr]
    assert other.id != first.id  # type: ignore[union-attr]


def test_links_out_of_the_input_folder_never_reach_a_shard(prefect_api, monkeypatch, tmp_path):
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "other_tenant"
    inbox.mkdir()
    elsewhere.mkdir()
    shutil.copy(DATA_SAMPLES / "calls" / "en_good_mono_8k.wav", inbox / "good.wav")
    shutil.copy(DATA_SAMPLES / "calls" / "zh_good_stereo_8k.wav", elsewhere / "secret.wav")
    (inbox / "link.wav").symlink_to(elsewhere / "secret.wav")
    manifests: list[str] = []

    def fake_run_deployment(name: str, **kwargs: Any) -> SimpleNamespace:
        manifests.append(Path(kwargs["parameters"]["inputs"][0]).read_text(encoding="utf-8"))
        summary = {"worker": "w", "processed": [], "skipped": [], "failed": []}
        return SimpleNamespace(name="child", state=Completed(data=summary))

    monkeypatch.setattr(distributed, "run_deployment", fake_run_deployment)
    monkeypatch.setenv("QA_PIPELINE_DB_URL", f"sqlite:///{tmp_path / 'qa.db'}")
    summary = distributed.score_calls_distributed(
        inputs=[str(inbox)], tenant="default", shards=2, shard_dir=str(tmp_path / "shards"),
        cache_dir=str(tmp_path / "cache"))
    [refused] = summary["failed"]
    assert (refused["reason"], Path(refused["source_uri"]).name) == ("outside_input", "link.wav")
    assert len(manifests) == 1 and "good.wav" in manifests[0]
    assert "link.wav" not in manifests[0] and "secret" not in manifests[0]
