"""One runner behind every command: ``score`` and ``transcribe`` (no store, files only),
``run`` and ``rescore`` (store) apply the same privacy policy, cache, quarantine and failure
policy; the front-end cache holds results, not identity; output files are never lost
behind a store commit; quarantine records and discovery are safe with duplicate names and
links.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import soundfile as sf
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
from qa_pipeline.store import Store
from tests.conftest import REPO
from tests.runner_fakes import CALLS, scripted_factory
from tests.unit.test_runner import voice

PII = {"phone": "13800138000", "resident_id": "11010519491231002X",
       "bank_card": "6222021234567890128", "email": "zhang.wei@example.com"}
PII_SCRIPT = (
    ("agent", 0.0, 2.0, "hello thank you for calling"),
    ("customer", 2.5, 5.0, f"call me on {PII['phone']} my id is {PII['resident_id']}"),
    ("customer", 5.5, 7.0, f"card {PII['bank_card']} mail {PII['email']}"),
    ("agent", 7.5, 8.5, "goodbye"),
)
KEY = Fernet.generate_key().decode()


@pytest.fixture
def tenants(tmp_path, monkeypatch):
    """``default``, a redacting tenant and an encrypting tenant (with its key)."""
    d = tmp_path / "tenants"
    d.mkdir()
    shutil.copy(REPO / "tenants" / "default.yaml", d / "default.yaml")
    for tenant_id, mode in (("redact_co", "redact_before_storage"),
                            ("vault_co", "encrypt_and_redact_on_display")):
        (d / f"{tenant_id}.yaml").write_text(
            f"id: {tenant_id}\nrubrics: {{en: rubrics/customer_service_en.yaml}}\n"
            f"sentiment: {{backend: none}}\nprivacy: {{mode: {mode}}}\n", encoding="utf-8")
    monkeypatch.setenv("QA_PIPELINE_TENANTS_DIR", str(d))
    monkeypatch.setenv("QA_PIPELINE_TENANT_KEY_VAULT_CO", KEY)
    return d


@pytest.fixture
def inbox(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "pii.wav", voice(9, 3), 8000)
    return d


@pytest.fixture
def pii_frontend(monkeypatch):
    """Every front end the runner builds, in any command, transcribes the PII script."""
    from qa_pipeline.runner import run as run_module

    monkeypatch.setattr(run_module, "_default_frontend", scripted_factory(script=PII_SCRIPT))


def assert_no_plaintext_pii(*roots):
    checked = 0
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                checked += 1
                for kind, value in PII.items():
                    assert value.encode() not in data, f"{kind} in {path}"
    assert checked


def cli(*args):
    from qa_pipeline.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("tenant", ["redact_co", "vault_co"])
def test_score_and_transcribe_commands_apply_the_privacy_policy(tmp_path, tenants, inbox,
                                                                 pii_frontend, tenant):
    cache = tmp_path / "cache"
    for command in ("transcribe", "score"):
        out = tmp_path / command
        result = cli(command, inbox, "--tenant", tenant, "--out", out, "--cache-dir", cache)
        assert result.exit_code == 0, result.output
        [conv] = out.glob("*/conversation.json")
        assert "[PHONE]" in conv.read_text(encoding="utf-8")
        assert_no_plaintext_pii(out, cache)
    assert {p.name for p in (tmp_path / "transcribe").glob("*/*")} == {
        "conversation.json", "conversation.rttm", "conversation.srt", "conversation.vtt"}
    assert {p.name for p in (tmp_path / "score").glob("*/*")} == {
        "conversation.json", "scorecard.json", "scorecard.html"}


@pytest.mark.parametrize("tenant", ["redact_co", "vault_co"])
def test_run_command_in_process_applies_the_privacy_policy(tmp_path, tenants, inbox,
                                                           pii_frontend, tenant):
    from flows.cli import cli_app

    db, out, cache = tmp_path / "qa.db", tmp_path / "out", tmp_path / "cache"
    result = CliRunner().invoke(cli_app(), [
        "run", str(inbox), "--tenant", tenant, "--orchestrator", "local", "--db",
        f"sqlite:///{db}", "--out", str(out), "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert "processed: 1," in result.output
    [conv] = out.glob("*/conversation.json")
    assert "[PHONE]" in conv.read_text(encoding="utf-8")
    assert_no_plaintext_pii(out, cache, db)


@pytest.mark.parametrize("tenant", ["redact_co", "vault_co"])
def test_run_and_rescore_apply_the_privacy_policy(tmp_path, tenants, inbox, tenant):
    db = tmp_path / "qa.db"
    store = Store(f"sqlite:///{db}")
    opts = RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out")
    r = BatchRunner(store, opts, frontend_factory=scripted_factory(script=PII_SCRIPT)).run(
        list_sources([inbox], tenant))
    assert len(r.processed) == 1
    rubric = tmp_path / "v9.yaml"
    rubric.write_text((REPO / "rubrics" / "customer_service_en.yaml").read_text(
        encoding="utf-8").replace("version: 2", "version: 9", 1), encoding="utf-8")
    shutil.rmtree(tmp_path / "out")
    again = BatchRunner(store, RunOptions(cache_dir=tmp_path / "cache",
                                          out_dir=tmp_path / "out", rubric=str(rubric))
                        ).rescore(tenant)
    assert len(again.processed) == 1
    assert (tmp_path / "out" / r.processed[0].call_id / "scorecard.html").exists()
    assert_no_plaintext_pii(tmp_path / "out", tmp_path / "cache", db)


def test_score_command_scores_conversation_files_of_the_tenant_only(tmp_path, tenants, inbox,
                                                                    pii_frontend):
    first = tmp_path / "first"
    assert cli("transcribe", inbox, "--tenant", "default", "--out", first, "--cache-dir",
               tmp_path / "c").exit_code == 0
    [conv] = first.glob("*/conversation.json")
    again = cli("score", conv, "--tenant", "default", "--out", tmp_path / "second",
                "--cache-dir", tmp_path / "c")
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "second").glob("*/scorecard.json"))) == 1
    # One tenant's conversation is not scored as another's.
    other = cli("score", conv, "--tenant", "redact_co", "--out", tmp_path / "third",
                "--cache-dir", tmp_path / "c")
    assert other.exit_code == 1
    assert "belongs to tenant 'default', not 'redact_co'" in other.output


def manifest(path, rows):
    path.write_text("path,tenant_id,call_id,agent_id\n" + "".join(
        f"{p},default,{c},{a}\n" for p, c, a in rows), encoding="utf-8")
    return path


def test_cache_holds_results_not_identity(tmp_path, inbox):
    audio = inbox / "pii.wav"
    copy = tmp_path / "elsewhere" / "same.wav"
    copy.parent.mkdir()
    shutil.copy(audio, copy)
    cache = tmp_path / "cache"
    m1 = manifest(tmp_path / "m1.csv", [(audio, "call-a", "agent-1")])
    m2 = manifest(tmp_path / "m2.csv", [(copy, "call-b", "agent-2")])
    r1 = BatchRunner(Store(f"sqlite:///{tmp_path / 'one.db'}"), RunOptions(cache_dir=cache),
                     frontend_factory=scripted_factory()).run(list_sources([m1]))
    asr_before = CALLS["asr"]
    second = Store(f"sqlite:///{tmp_path / 'two.db'}")
    r2 = BatchRunner(second, RunOptions(cache_dir=cache, out_dir=tmp_path / "out"),
                     frontend_factory=scripted_factory()).run(list_sources([m2]))
    assert [p.call_id for p in r1.processed] == ["call-a"]
    assert [(p.call_id, p.cached_frontend) for p in r2.processed] == [("call-b", True)]
    assert CALLS["asr"] == asr_before  # the same audio is not transcribed twice
    [call] = second.tenant("default").calls()
    assert (call.call_id, call.agent_id, call.source_uri) == ("call-b", "agent-2", str(copy))
    conv, _ = second.tenant("default").conversation("call-b")
    assert (conv.call_id, conv.source_path) == ("call-b", str(copy))
    written = json.loads((tmp_path / "out" / "call-b" / "conversation.json").read_text())
    assert (written["call_id"], written["source_path"]) == ("call-b", str(copy))
    [entry] = cache.rglob("*.json")
    text = entry.read_text(encoding="utf-8")
    for identity in ("call-a", "agent-1", str(audio), str(inbox)):
        assert identity not in text


def test_a_run_from_another_folder_reuses_the_cache_and_quarantines_nothing(
        tmp_path, inbox, monkeypatch):
    cache = tmp_path / "cache"
    for site in ("site1", "site2"):
        (tmp_path / site / "in").mkdir(parents=True)
        shutil.copy(inbox / "pii.wav", tmp_path / site / "in" / "call.wav")
    reports = []
    for site in ("site1", "site2"):
        monkeypatch.chdir(tmp_path / site)
        store = Store(f"sqlite:///{tmp_path / site / 'qa.db'}")
        reports.append(BatchRunner(store, RunOptions(cache_dir=cache),
                                   frontend_factory=scripted_factory()).run(
            list_sources(["in"], "default")))
        assert store.tenant("default").quarantined() == []
    assert [(len(r.processed), len(r.failed)) for r in reports] == [(1, 0), (1, 0)]
    assert reports[1].processed[0].cached_frontend


def test_output_files_lost_after_the_commit_are_written_again(tmp_path, inbox):
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    opts = RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out")
    first = BatchRunner(store, opts, frontend_factory=scripted_factory()).run(
        list_sources([inbox], "default"))
    [call_id] = [p.call_id for p in first.processed]
    # A kill between the store commit and the file writes leaves a done call without files.
    shutil.rmtree(tmp_path / "out" / call_id)
    again = BatchRunner(store, opts, frontend_factory=scripted_factory()).run(
        list_sources([inbox], "default"))
    assert ([p.call_id for p in again.processed], again.skipped) == ([call_id], [])
    assert {p.name for p in (tmp_path / "out" / call_id).iterdir()} == {
        "conversation.json", "scorecard.json", "scorecard.html"}
    assert store.tenant("default").count_scorecards() == 1
    # With its files in place the call is done.
    third = BatchRunner(store, opts, frontend_factory=scripted_factory()).run(
        list_sources([inbox], "default"))
    assert (third.processed, [s.call_id for s in third.skipped]) == ([], [call_id])


def test_output_files_are_written_before_the_store_commit(tmp_path, inbox, monkeypatch):
    from qa_pipeline.store.store import TenantStore

    def crash(*_a, **_k):
        raise OSError("killed before the commit")

    monkeypatch.setattr(TenantStore, "save_scorecard", crash)
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    opts = RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out")
    r = BatchRunner(store, opts, frontend_factory=scripted_factory()).run(
        list_sources([inbox], "default"))
    assert r.processed == [] and len(r.failed) == 1
    assert len(list((tmp_path / "out").glob("*/scorecard.json"))) == 1


def test_quarantine_records_are_unique_per_input(tmp_path):
    for sub in ("team1", "team2"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        (tmp_path / "in" / sub / "a.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    out = tmp_path / "out"
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    for _ in range(2):  # a retry replaces each input's record
        r = BatchRunner(store, RunOptions(cache_dir=tmp_path / "c", out_dir=out),
                        frontend_factory=scripted_factory()).run(
            list_sources([tmp_path / "in"], "default"))
        assert len(r.failed) == 2
    records = [json.loads(p.read_text()) for p in (out / "default" / "_quarantine").iterdir()]
    assert sorted(r["path"] for r in records) == [str(tmp_path / "in" / s / "a.wav")
                                                  for s in ("team1", "team2")]


def test_discovery_does_not_follow_links_out_of_the_input_folder(tmp_path, inbox):
    other = tmp_path / "other_tenant"
    (other / "calls").mkdir(parents=True)
    sf.write(other / "secret.wav", voice(6, 5), 8000)
    sf.write(other / "calls" / "more.wav", voice(6, 6), 8000)
    os.symlink(other / "secret.wav", inbox / "link.wav")
    os.symlink(other / "calls", inbox / "linked_folder")
    os.symlink(inbox / "pii.wav", inbox / "alias.wav")  # inside the folder: fine
    out = tmp_path / "out"
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    r = BatchRunner(store, RunOptions(cache_dir=tmp_path / "c", out_dir=out),
                    frontend_factory=scripted_factory()).run(list_sources([inbox], "default"))
    assert {f.source_uri.rsplit("/", 1)[1]: f.failure.reason for f in r.failed} == {
        "link.wav": "outside_input", "linked_folder": "outside_input"}
    assert len(r.processed) == 1  # pii.wav and alias.wav are the same audio
    reasons = {json.loads(p.read_text())["reason"]
               for p in (out / "default" / "_quarantine").iterdir()}
    assert reasons == {"outside_input"}
