"""benchmarks/scripted_calls.py: scripted call -> Conversation -> scorecard -> P/R/F1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import scripted_calls as sc  # noqa: E402

from qa_pipeline.errors import ConfigError  # noqa: E402
from qa_pipeline.pipeline import CallAnalyzers  # noqa: E402
from qa_pipeline.types import Role  # noqa: E402

# A tiny rubric with the default rubrics' criterion ids, so that the test does not depend on
# the default rubrics' phrase lists (which change as the rubrics are rewritten).
RUBRIC = """\
id: customer_service_{lang}
version: 1
sections:
  - id: s
    weight: 100
    criteria:
      - id: greeting
        points: 10
        rule: {{type: required_phrase, role: agent, phrases: [hello]}}
      - id: abusive_language
        severity: fatal
        points: 10
        rule: {{type: forbidden_phrase, role: agent, phrases: [idiot]}}
      - id: closing
        points: 10
        rule: {{type: required_phrase, role: agent, phrases: [goodbye]}}
      - id: customer_complaint
        kind: flag
        rule: {{type: forbidden_phrase, role: customer, phrases: [ridiculous]}}
"""

CALLS = [
    {"id": "en_t1", "lang": "en", "industry": "telecom", "layout": "stereo",
     "turns": [{"role": "agent", "text": "hello you have reached Acme"},
               {"role": "customer", "text": "my router keeps dropping"},
               {"role": "agent", "text": "only an idiot would unplug it, goodbye"}],
     "expected": {"greeting": "pass", "abusive_language": "fail", "closing": "pass",
                  "customer_complaint": "pass"}},
    # The rubric misses this call's abuse (fn) and its complaint (fn), and wrongly fails the
    # closing (fp): every cell of the confusion counts is exercised.
    {"id": "en_t2", "lang": "en", "industry": "bank", "layout": "mono",
     "turns": [{"role": "agent", "text": "hello this is Sam"},
               {"role": "customer", "text": "this is absurd, third time I call"},
               {"role": "agent", "text": "you clearly cannot read a bill"}],
     "expected": {"greeting": "pass", "abusive_language": "fail", "closing": "pass",
                  "customer_complaint": "fail"}},
    {"id": "en_t3", "lang": "en", "industry": "retail", "layout": "mono",
     "turns": [{"role": "agent", "text": "hello"},
               {"role": "customer", "text": "this is ridiculous"},
               {"role": "agent", "text": "sorry about that, goodbye"}],
     "expected": {"greeting": "pass", "abusive_language": "pass", "closing": "pass",
                  "customer_complaint": "fail"}},
]


@pytest.fixture()
def rubric_dir(tmp_path: Path) -> Path:
    for lang in ("zh", "en"):
        (tmp_path / f"customer_service_{lang}.yaml").write_text(RUBRIC.format(lang=lang),
                                                                encoding="utf-8")
    return tmp_path


def test_conversation_timing_roles_and_layout():
    call = sc.parse_call(CALLS[0])
    conv = sc.to_conversation(call)
    assert conv.channels == 2 and conv.language == "en" and conv.call_id == "en_t1"
    u0, u1, u2 = conv.utterances
    assert u0.start_s == 0.0 and u0.end_s == pytest.approx(5 / 2.6)
    assert u1.start_s == pytest.approx(5 / 2.6 + 0.6)
    assert u1.end_s - u1.start_s == pytest.approx(4 / 2.6)
    assert (u0.role, u0.channel, u1.role, u1.channel) == (Role.AGENT, 0, Role.CUSTOMER, 1)
    assert u2.text == "only an idiot would unplug it, goodbye"
    assert [w.text for w in u2.words][:3] == ["only", "an", "idiot"]
    assert all(w.probability == 1.0 for u in conv.utterances for w in u.words)
    assert u2.words[0].start_s == u2.start_s and u2.words[-1].end_s == pytest.approx(u2.end_s)
    mono = sc.to_conversation(sc.parse_call({**CALLS[0], "layout": "mono"}))
    assert mono.channels == 1 and all(u.channel is None for u in mono.utterances)
    assert [u.start_s for u in mono.utterances] == [u.start_s for u in conv.utterances]


def test_chinese_duration_counts_characters_and_words_are_characters():
    call = sc.parse_call({"id": "zh_t", "lang": "zh", "layout": "mono",
                          "turns": [{"role": "agent", "text": "您好，请问有什么可以帮您？"},
                                    {"role": "customer", "text": "我的order还没到"}],
                          "expected": {}})
    conv = sc.to_conversation(call)
    assert conv.utterances[0].end_s == pytest.approx(11 / 4.5)
    assert [w.text for w in conv.utterances[0].words][:3] == ["您", "好，", "请"]
    assert [w.text for w in conv.utterances[1].words] == ["我", "的", "order", "还", "没", "到"]


def test_scores_and_counts(rubric_dir: Path, tmp_path: Path):
    calls = [sc.parse_call(c) for c in CALLS]
    result = sc.evaluate(calls, rubric_dir, CallAnalyzers(acoustic=None))
    crit = result["all"]["criteria"]
    assert {k: crit["abusive_language"][k] for k in ("tp", "fp", "fn", "tn")} == \
        {"tp": 1, "fp": 0, "fn": 1, "tn": 1}
    assert crit["closing"]["fp"] == 1 and crit["closing"]["tn"] == 2
    assert crit["customer_complaint"]["tp"] == 1 and crit["customer_complaint"]["fn"] == 1
    assert result["all"]["fatal_recall"] == 0.5 and result["all"]["fatal_precision"] == 1.0
    # Non-fatal pooled: greeting 3 tn; closing 1 fp 2 tn; complaint 1 tp 1 fn 1 tn.
    assert result["all"]["non_fatal_counts"]["tp"] == 1
    assert result["all"]["non_fatal_f1"] == pytest.approx(0.5)
    # en_t2 has a fatal violation the rubric misses: 2 of 3 calls agree.
    assert result["all"]["per_call_fatal_agreement"] == pytest.approx(0.6667)
    assert result["stereo"]["calls"] == 1 and result["stereo"]["fatal_recall"] == 1.0
    assert result["mono"]["calls"] == 2 and result["mono"]["fatal_recall"] == 0.0
    missed = {(m["call_id"], m["criterion_id"]) for m in result["mismatches"]}
    assert missed == {("en_t2", "abusive_language"), ("en_t2", "closing"),
                      ("en_t2", "customer_complaint")}


def test_cli_writes_json(rubric_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CALLS) + "\n", encoding="utf-8")
    out = tmp_path / "r.json"
    assert sc.main([str(path), "--rubric-dir", str(rubric_dir), "--sentiment", "none",
                    "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["all"]["calls"] == 3 and data["mono"]["calls"] == 2
    assert "fatal R/P 0.500/1.000" in capsys.readouterr().out


def test_bad_input_is_rejected(tmp_path: Path):
    with pytest.raises(ConfigError, match="layout"):
        sc.parse_call({**CALLS[0], "layout": "quad"})
    with pytest.raises(ConfigError, match="valid"):
        sc.parse_call({**CALLS[0], "expected": {"greeting": "ok"}})
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps(CALLS[0]) + "\n" + json.dumps(CALLS[0]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="repeats"):
        sc.load_calls([path])
