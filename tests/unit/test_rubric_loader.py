from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_pipeline.errors import RubricValidationError
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text, rubric_json_schema_text

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
id: demo
version: 2
sections:
  - id: opening
    weight: 10
    criteria:
      - id: greeting
        severity: non_fatal
        points: 5
        rule: {type: required_phrase, phrases: [hello]}
"""


def test_default_rubrics_load():
    paths = sorted((REPO / "rubrics").glob("*.yaml"))
    assert len(paths) >= 3
    required = {"greeting", "identity_verification", "forbidden_phrases", "abusive_language",
                "unauthorized_promise", "empathy_on_complaint", "closing", "dead_air",
                "interruption", "customer_complaint", "customer_sentiment_end"}
    for p in paths:
        rubric = load_rubric(p)
        ids = {c.id for _, c in rubric.criteria()}
        assert required <= ids, (p, required - ids)
        fatal = {c.id for _, c in rubric.criteria() if c.severity == "fatal"}
        assert {"identity_verification", "abusive_language", "unauthorized_promise"} <= fatal


def test_ref_records_version():
    assert load_rubric_text(GOOD).ref == "demo@2"


def test_unknown_key_names_file_and_line():
    text = GOOD.replace("        points: 5\n", "        points: 5\n        weigth: 3\n")
    with pytest.raises(RubricValidationError) as err:
        load_rubric_text(text, "demo.yaml")
    assert "demo.yaml:10" in str(err.value)
    assert "unknown key 'weigth'" in str(err.value)


def test_unknown_rule_type_lists_valid_ones():
    text = GOOD.replace("type: required_phrase", "type: magic_phrase")
    with pytest.raises(RubricValidationError) as err:
        load_rubric_text(text, "demo.yaml")
    msg = str(err.value)
    assert "demo.yaml:10" in msg and "unknown rule type 'magic_phrase'" in msg
    assert "required_phrase" in msg and "forbidden_phrase" in msg


def test_rule_key_typo_points_at_rule_line():
    text = GOOD.replace("phrases: [hello]", "phrase: [hello]")
    with pytest.raises(RubricValidationError, match=r"demo.yaml:10.*phrase"):
        load_rubric_text(text, "demo.yaml")


def test_invalid_yaml_has_line():
    with pytest.raises(RubricValidationError, match=r"bad.yaml:\d+: invalid YAML"):
        load_rubric_text("id: x\nsections: [\n  - {", "bad.yaml")


def test_duplicate_key_rejected():
    with pytest.raises(RubricValidationError, match="duplicate key 'version'"):
        load_rubric_text("id: a\nversion: 1\nversion: 2\nsections: []\n", "dup.yaml")


def test_duplicate_criterion_ids():
    text = GOOD + """      - id: greeting
        points: 1
        rule: {type: required_phrase, phrases: [hi]}
"""
    # The repeat is on line 11 (issue 27: it was reported at line 1).
    with pytest.raises(RubricValidationError,
                       match=r"^dup\.yaml:11 \(sections\.0\.criteria\.1\.id\): duplicate "
                             r"criterion id 'greeting' \(first at line 7\)"):
        load_rubric_text(text, "dup.yaml")


def test_bad_severity():
    with pytest.raises(RubricValidationError, match="severity"):
        load_rubric_text(GOOD.replace("non_fatal", "critical"))


def test_unsafe_yaml_tag_rejected():
    with pytest.raises(RubricValidationError):
        load_rubric_text("id: !!python/object/apply:os.system ['echo hi']\nversion: 1\n")


@pytest.mark.parametrize("line,tagged", [
    (10, "        rule: !!python/object/new:os.system {type: required_phrase, phrases: [x]}"),
    (12, "        rule:\n          type: required_phrase\n"
         "          phrases: !!python/object/new:os.system [hello]"),
    (12, "        rule:\n          type: required_phrase\n          phrases: !!set {hello: null}"),
    (12, "        rule:\n          type: required_phrase\n          phrases: [!custom hello]"),
    (12, "        rule:\n          type: required_phrase\n          phrases: !!binary aGVsbG8="),
])
def test_non_core_tags_on_any_node_are_refused_at_their_line(line, tagged):
    # Tags on mappings and lists were silently ignored (issue 27); each is refused at the
    # line of the tagged node.
    text = GOOD.replace("        rule: {type: required_phrase, phrases: [hello]}", tagged)
    with pytest.raises(RubricValidationError, match=rf"^t\.yaml:{line}: tag '.*' is not allowed"):
        load_rubric_text(text, "t.yaml")


def test_core_tags_and_date_like_strings_are_fine():
    text = GOOD.replace("title", "t").replace("version: 2", "version: !!str 2024-01-01")
    assert load_rubric_text(text).version == "2024-01-01"
    plain = GOOD.replace("version: 2", "version: 2024-01-01")
    assert load_rubric_text(plain).version == "2024-01-01"


@pytest.mark.timeout(60, method="thread")
def test_alias_bomb_is_refused_before_expansion():
    # Issue 27: nine levels of nine aliases (522 bytes) grew the loader to 3.6 GB.
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = GOOD + "\n".join(levels) + "\n"
    with pytest.raises(RubricValidationError,
                       match=r"^bomb\.yaml:11: invalid YAML: anchors and aliases"):
        load_rubric_text(text, "bomb.yaml")


@pytest.mark.parametrize("text,line", [
    (GOOD.replace("weight: 10", "weight: &w 10"), 5),
    (GOOD + "extra: *w\n", 11),
    (GOOD.replace("    criteria:\n", "    criteria: &c\n"), 6),
])
def test_any_anchor_or_alias_is_refused_at_its_line(text, line):
    with pytest.raises(RubricValidationError, match=rf"^a\.yaml:{line}: invalid YAML: anchors"):
        load_rubric_text(text, "a.yaml")


@pytest.mark.parametrize("text", ["[" * 5000, "a: " + "{b: " * 3000])
def test_deep_nesting_is_refused_not_a_recursion_error(text):
    with pytest.raises(RubricValidationError, match="nested deeper than 64 levels"):
        load_rubric_text(text, "deep.yaml")


def test_missing_file(tmp_path):
    with pytest.raises(RubricValidationError, match="cannot read"):
        load_rubric(tmp_path / "nope.yaml")


def test_empty_file(tmp_path):
    (tmp_path / "e.yaml").write_text("")
    with pytest.raises(RubricValidationError, match="empty"):
        load_rubric(tmp_path / "e.yaml")


def test_committed_schema_is_current():
    committed = (REPO / "rubrics" / "schema.json").read_text(encoding="utf-8")
    assert committed == rubric_json_schema_text(), (
        "rubrics/schema.json is stale: run `qa-pipeline rubric schema -o rubrics/schema.json`")
    schema = json.loads(committed)
    assert "rule_required_phrase" in schema["$defs"]


def test_schema_validates_default_rubrics():
    import jsonschema
    import yaml

    schema = json.loads((REPO / "rubrics" / "schema.json").read_text(encoding="utf-8"))
    for p in (REPO / "rubrics").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(p.read_text(encoding="utf-8")), schema)
