"""Issue 27: tenant files are read with the rubrics' safe YAML loader (file:line errors)."""

from __future__ import annotations

import re

import pytest

from qa_pipeline.errors import ConfigError
from qa_pipeline.tenants import load_tenant, load_tenant_file


def _write(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _bomb(depth: int = 9, width: int = 9) -> str:
    lines = ["id: bomb", "name: &a0 x"]
    for d in range(1, depth + 1):
        lines.append(f"l{d}: &a{d} [{', '.join([f'*a{d - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60, method="thread")
def test_an_alias_bomb_is_refused_at_its_line(tmp_path):
    path = _write(tmp_path, "bomb", _bomb())
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:2: invalid YAML: anchors "
                                          "and aliases .* not allowed in tenant configs"):
        load_tenant_file(path)


def test_an_alias_that_once_loaded_is_refused(tmp_path):
    # safe_load accepted this and gave hotwords the greeting list.
    path = _write(tmp_path, "t", "id: t\ngreeting_phrases: &g [hello]\nhotwords: *g\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:2: .*anchors and aliases"):
        load_tenant_file(path)


@pytest.mark.parametrize("text,line", [
    # A set is a safe_load type, but no tenant setting is one: it was silently accepted.
    ("id: t\nhotwords: !!set {a: null, b: null}\n", 2),
    ("id: t\nprivacy:\n  mode: none\n  kinds: !!python/tuple [phone]\n", 4),
    ("id: t\nasr: !!python/object/apply:os.system [echo]\n", 2),
    ("id: t\nname: !local x\n", 2),
])
def test_non_core_tags_are_refused_with_file_and_line(tmp_path, text, line):
    path = _write(tmp_path, "t", text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{line}: tag '.*' is not "
                                          "allowed"):
        load_tenant_file(path)


def test_a_duplicate_key_is_refused_at_its_line(tmp_path):
    path = _write(tmp_path, "t", "id: t\nagent_channel: left\nagent_channel: right\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:3: duplicate key"):
        load_tenant_file(path)


def test_invalid_settings_name_their_line_and_key(tmp_path):
    _write(tmp_path, "x", "id: x\nname: X\nasr:\n  beam_size: many\n")
    with pytest.raises(ConfigError, match=r"x\.yaml:4 \(asr\.beam_size\)"):
        load_tenant("x", tmp_path)


def test_shipped_tenants_still_load():
    assert load_tenant("default").languages == ("zh", "en")
    assert load_tenant("swift_express").privacy.mode == "redact_before_storage"
