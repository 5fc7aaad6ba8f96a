"""Importing the flows package has no side effects: no environment variable, no folder, no
command added to the library's CLI. Registration is explicit (``flows.cli.cli_app``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os
before = dict(os.environ)
import qa_pipeline.cli as base
names = lambda: sorted(c.name or c.callback.__name__ for c in base.app.registered_commands)
commands_before = names()
import flows
import flows.cli
import flows.common
after = dict(os.environ)
changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
commands_after_import = names()
flows.cli.cli_app()
flows.cli.cli_app()  # idempotent
print(json.dumps({"changed": changed, "before": commands_before,
                  "after_import": commands_after_import, "registered": names()}))
"""


def test_importing_flows_changes_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["changed"] == []
    assert list(home.rglob("*")) == []  # no ~/.cache/qa_pipeline/prefect made at import
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert result["after_import"] == result["before"]
    assert not {"run", "rescore", "costs"} & set(result["before"])
    added = sorted(set(result["registered"]) - set(result["before"]))
    assert added == ["costs", "rescore", "run"]
    assert len(result["registered"]) == len(set(result["registered"]))


def test_prefect_defaults_are_applied_only_when_asked(tmp_path, monkeypatch):
    from flows import PREFECT_DEFAULTS, prefect_defaults

    for name in [*PREFECT_DEFAULTS, "PREFECT_HOME"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")  # explicit settings win
    home = prefect_defaults()
    assert home == tmp_path / ".cache" / "qa_pipeline" / "prefect" and home.is_dir()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "90"
