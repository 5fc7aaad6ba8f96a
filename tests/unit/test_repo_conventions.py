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
    assert _readme_commands()[1] in ci


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
