"""``qa-pipeline run --orchestrator auto|prefect|local``: ``local`` runs the flow's stages in
this process without importing Prefect, with the flow's summary, exit status, quarantine and
skip-if-done; ``auto`` picks Prefect only when a Prefect API is configured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import soundfile as sf
from typer.testing import CliRunner

import flows.startup
from flows.startup import api_configured_outside_prefect, resolve_orchestrator
from qa_pipeline.errors import ConfigError
from qa_pipeline.settings import get_settings
from qa_pipeline.store import Store
from tests.conftest import REPO
from tests.runner_fakes import CALLS
from tests.unit.test_runner import voice

# The summary keys of the score_calls flow (flows/score_calls.py).
FLOW_SUMMARY_KEYS = {"run_id", "worker", "processed", "skipped", "failed"}


@pytest.fixture
def app():
    from flows.cli import cli_app

    return cli_app()


@pytest.fixture
def scripted(monkeypatch):
    """Every front end the runner builds transcribes a fixed script (no Whisper)."""
    from qa_pipeline.runner import run as run_module
    from tests.runner_fakes import scripted_factory

    monkeypatch.setattr(run_module, "_default_frontend", scripted_factory())


@pytest.fixture
def inbox(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "good.wav", voice(9, 3), 8000)
    (d / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    return d


@pytest.mark.usefixtures("scripted")
def test_local_run_quarantines_skips_done_work_and_writes_the_flow_summary(app, tmp_path,
                                                                           inbox):
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    args = ["run", str(inbox), "--tenant", "default", "--db", db, "--out",
            str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
            "--orchestrator", "local", "--json", str(tmp_path / "s.json")]
    before = CALLS["asr"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output  # a quarantined input fails the command
    assert "processed: 1, skipped as already done: 0, quarantined: 1" in first.output
    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert set(summary) == FLOW_SUMMARY_KEYS
    [processed] = summary["processed"]
    assert [f["reason"] for f in summary["failed"]] == ["corrupt"]
    assert CALLS["asr"] == before + 1
    t = Store(db).tenant("default")
    assert [c.call_id for c in t.calls()] == [processed["call_id"]]
    assert t.count_scorecards() == 1
    assert [q.reason for q in t.quarantined()] == ["corrupt"]
    assert {c.stage for c in t.costs(processed["call_id"])} >= {"frontend", "scoring"}
    assert (tmp_path / "out" / processed["call_id"] / "scorecard.html").is_file()

    (inbox / "corrupt.wav").unlink()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "processed: 0, skipped as already done: 1, quarantined: 0" in again.output
    assert CALLS["asr"] == before + 1
    assert t.count_scorecards() == 1


def test_an_unknown_orchestrator_lists_the_valid_ones(app, tmp_path, monkeypatch):
    result = CliRunner().invoke(app, ["run", str(tmp_path), "--tenant", "default",
                                      "--orchestrator", "dask"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # rich wraps the message
    assert "unknown orchestrator 'dask'; valid: auto, prefect, local" in text
    with pytest.raises(ConfigError, match="valid: auto, prefect, local"):
        resolve_orchestrator("dask")
    monkeypatch.setenv("QA_PIPELINE_ORCHESTRATOR", "dask")
    with pytest.raises(ConfigError, match="QA_PIPELINE_ORCHESTRATOR.*'auto', 'prefect' or "
                                          "'local'"):
        get_settings()


def test_the_orchestrator_setting_comes_from_the_environment(monkeypatch):
    assert get_settings().orchestrator == "auto"
    monkeypatch.setenv("QA_PIPELINE_ORCHESTRATOR", "local")
    assert get_settings().orchestrator == "local"


@pytest.mark.parametrize(("outside", "inside", "expected"), [
    (True, False, "prefect"), (False, True, "local"), (None, True, "prefect"),
    (None, False, "local")])
def test_auto_picks_prefect_only_when_an_api_is_configured(monkeypatch, outside, inside,
                                                           expected):
    asked = []
    monkeypatch.setattr(flows.startup, "api_configured_outside_prefect", lambda: outside)
    monkeypatch.setattr(flows.startup, "api_configured",
                        lambda: asked.append(1) or inside)
    for name in [m for m in sys.modules if m == "prefect" or m.startswith("prefect.")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    assert resolve_orchestrator("auto") == expected
    assert asked == ([] if outside is not None else [1])  # Prefect only when undecided
    assert resolve_orchestrator("local") == "local"
    assert resolve_orchestrator("prefect") == "prefect"


def test_auto_asks_prefect_once_it_is_loaded(monkeypatch):
    # Settings changed in this process (temporary_settings) are visible only to Prefect.
    import prefect  # noqa: F401

    monkeypatch.setattr(flows.startup, "api_configured_outside_prefect", lambda: False)
    monkeypatch.setattr(flows.startup, "api_configured", lambda: True)
    assert resolve_orchestrator("auto") == "prefect"


def _profiles(path, active, **profiles):
    body = f'active = "{active}"\n' + "".join(
        f"[profiles.{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items())
        for name, values in profiles.items())
    path.write_text(body, encoding="utf-8")


@pytest.mark.parametrize("case", ["nothing", "env", "profile", "profile_without_url",
                                  "profile_from_env", "profiles_path"])
def test_the_api_read_without_prefect_agrees_with_prefect(tmp_path, monkeypatch, case):
    from prefect.settings import Settings

    for name in [n for n in os.environ if n.startswith("PREFECT_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "prefect_home"
    home.mkdir()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    url = "http://127.0.0.1:4200/api"
    servers = {"remote": {"PREFECT_API_URL": url}, "plain": {"PREFECT_LOGGING_LEVEL": "INFO"}}
    if case == "env":
        monkeypatch.setenv("PREFECT_API_URL", url)
    elif case == "profile":
        _profiles(home / "profiles.toml", "remote", **servers)
    elif case == "profile_without_url":
        _profiles(home / "profiles.toml", "plain", **servers)
    elif case == "profile_from_env":
        _profiles(home / "profiles.toml", "plain", **servers)
        monkeypatch.setenv("PREFECT_PROFILE", "remote")
    elif case == "profiles_path":
        _profiles(tmp_path / "elsewhere.toml", "remote", **servers)
        monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "elsewhere.toml"))
    ours = api_configured_outside_prefect()
    assert ours is not None
    assert ours == bool(Settings().api.url)
    assert ours == (case not in ("nothing", "profile_without_url"))


def test_settings_files_of_the_working_directory_are_left_to_prefect(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("PREFECT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert api_configured_outside_prefect() is False
    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://x/api"\n', encoding="utf-8")
    assert api_configured_outside_prefect() is None


_PROBE = """
import json, sys
from typer.testing import CliRunner
from qa_pipeline.runner import run as run_module
from tests.runner_fakes import scripted_factory
run_module._default_frontend = scripted_factory()
from flows.cli import cli_app
inbox, out = sys.argv[1], sys.argv[2]
codes = []
for i, extra in enumerate([[], ["--orchestrator", "local"]]):
    result = CliRunner().invoke(cli_app(), [
        "run", inbox, "--tenant", "default", "--db", f"sqlite:///{out}/qa{i}.db",
        "--out", f"{out}/out{i}", "--cache-dir", f"{out}/cache", *extra])
    codes.append([result.exit_code, result.output[-2000:]])
    if len(sys.argv) > 3:  # the second run with an API configured
        import os
        os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
loaded = sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))
print(json.dumps({"codes": codes, "prefect": loaded}))
"""


def test_a_local_run_never_imports_prefect(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    sf.write(inbox / "good.wav", voice(9, 3), 8000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path / "ph"))
    # auto without any Prefect configuration, then local although an API is configured
    out = subprocess.run([sys.executable, "-c", _PROBE, str(inbox), str(tmp_path), "api"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for code, output in result["codes"]:
        assert code == 0, output
        assert "processed: 1," in output
    assert result["prefect"] == []
