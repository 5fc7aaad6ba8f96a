"""README and CI stay consistent; the library never imports Prefect."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.index("```bash") < 200, "the commands must come first"
    commands = _readme_commands()
    assert len(commands) == 2
    assert "qa-pipeline" in commands[0] and "data_samples" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert [line for line in ci.splitlines() if line.strip()][-1] == _readme_commands()[1]


def test_ci_runs_the_main_job_from_an_installed_wheel():
    """CI proves a non-editable install works outside the checkout."""
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    code = [line for line in lines if not line.lstrip().startswith("#")]
    wheel = next(i for i, line in enumerate(code) if "pip wheel" in line)
    install = next(i for i, line in enumerate(code) if i > wheel and "pip\" install" in line)
    assert "-e" not in code[install].split() and "--no-deps" not in code[install]
    assert ".whl" in code[install] and "venv" in code[install - 1]
    run = "\n".join(code[install + 1:])
    assert 'cd "$SITE"' in run and "qa-pipeline\" run" in run and "data_samples/manifest.csv" in run


def test_wheel_ships_the_default_tenants_and_rubrics():
    import tomllib

    from qa_pipeline.settings import defaults_dir

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    forced = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert forced["tenants"] == "qa_pipeline/_defaults/tenants"
    assert forced["rubrics"] == "qa_pipeline/_defaults/rubrics"
    # In this checkout the same folders are the defaults (no copy inside the package).
    assert defaults_dir() == REPO


def test_library_does_not_import_prefect_or_flows():
    for path in (REPO / "qa_pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("prefect", "flows")), f"{path} imports {name}"


def test_rubric_layer_does_not_import_speech_stages():
    for path in (REPO / "qa_pipeline" / "rubric").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for banned in ("qa_pipeline.asr", "qa_pipeline.diarization", "qa_pipeline.audio",
                       "qa_pipeline.alignment", "qa_pipeline.frontend"):
            assert banned not in text, f"{path} imports {banned}"
