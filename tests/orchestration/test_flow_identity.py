"""The score_calls flow under the real Prefect engine with a scripted front end: the
cross-run ``transcribe_shard`` cache holds results, not identity, and ``run`` / ``rescore``
apply the tenant's privacy policy to every file, cache entry and row they write.
"""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from flows.score_calls import score_calls
from qa_pipeline.store import Store
from tests.runner_fakes import CALLS
from tests.unit.test_one_runner import (  # noqa: F401 - fixtures
    assert_no_plaintext_pii,
    inbox,
    manifest,
    pii_frontend,
    tenants,
)
from tests.unit.test_runner import voice

pytestmark = pytest.mark.integration


def unique_call(path):
    """A recording no earlier session has seen (the Prefect cache outlives a session)."""
    noise = np.random.default_rng(uuid.uuid4().int % 2**32).standard_normal(9 * 8000)
    sf.write(path, voice(9, 3) + 0.001 * noise.astype(np.float32), 8000)
    return path


@pytest.mark.usefixtures("pii_frontend")
def test_flow_cache_binds_the_current_manifest_identity(prefect_api, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first_audio = unique_call(tmp_path / "a" / "call.wav")
    second_audio = tmp_path / "b" / "same.wav"
    shutil.copy(first_audio, second_audio)
    cache = str(tmp_path / "cache")
    m1 = manifest(tmp_path / "m1.csv", [(first_audio, "call-a", "agent-1")])
    m2 = manifest(tmp_path / "m2.csv", [(second_audio, "call-b", "agent-2")])
    # The store's URL comes from the environment, never from a flow parameter.
    monkeypatch.setenv("QA_PIPELINE_DB_URL", f"sqlite:///{tmp_path / 'one.db'}")
    first = score_calls(inputs=[str(m1)], cache_dir=cache)
    asr_after_first = CALLS["asr"]
    db2 = f"sqlite:///{tmp_path / 'two.db'}"
    monkeypatch.setenv("QA_PIPELINE_DB_URL", db2)
    second = score_calls(inputs=[str(m2)], cache_dir=cache)
    assert [p["call_id"] for p in first["processed"]] == ["call-a"]
    assert [p["call_id"] for p in second["processed"]] == ["call-b"]
    assert second["failed"] == [] and CALLS["asr"] == asr_after_first
    [call] = Store(db2).tenant("default").calls()
    assert (call.call_id, call.agent_id, call.source_uri) == ("call-b", "agent-2",
                                                              str(second_audio))


@pytest.mark.usefixtures("pii_frontend")
def test_flow_run_from_another_folder_quarantines_no_good_call(prefect_api, tmp_path,
                                                               monkeypatch):
    audio = unique_call(tmp_path / "call.wav")
    for site, folder in (("site1", "in"), ("site2", "recordings")):
        (tmp_path / site / folder).mkdir(parents=True)
        shutil.copy(audio, tmp_path / site / folder / "call.wav")
        monkeypatch.chdir(tmp_path / site)
        db = f"sqlite:///{tmp_path / site / 'qa.db'}"
        # Relative inputs and the default relative cache folder, as a user would type them.
        monkeypatch.setenv("QA_PIPELINE_DB_URL", db)
        summary = score_calls(inputs=[folder], tenant="default")
        assert (len(summary["processed"]), summary["failed"]) == (1, []), summary
        [call] = Store(db).tenant("default").calls()
        assert call.source_uri == f"{folder}/call.wav"


@pytest.mark.usefixtures("tenants", "pii_frontend")
@pytest.mark.parametrize("tenant", ["redact_co", "vault_co"])
def test_run_and_rescore_commands_apply_the_privacy_policy(prefect_api, inbox,  # noqa: F811
                                                           tmp_path, tenant):
    from flows.cli import cli_app

    app = cli_app()

    unique_call(inbox / "pii.wav")
    db = tmp_path / "qa.db"
    common = ["--db", f"sqlite:///{db}", "--out", str(tmp_path / "out")]
    run = CliRunner().invoke(app, ["run", str(inbox), "--tenant", tenant, "--cache-dir",
                                   str(tmp_path / "cache"), *common])
    assert run.exit_code == 0, run.output
    shutil.rmtree(tmp_path / "out")
    rescore = CliRunner().invoke(app, ["rescore", "--tenant", tenant, *common])
    assert rescore.exit_code == 0, rescore.output
    assert len(list((tmp_path / "out").glob("*/scorecard.html"))) == 1
    assert_no_plaintext_pii(tmp_path / "out", tmp_path / "cache", db)
