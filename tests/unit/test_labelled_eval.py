"""benchmarks/labelled_eval.py: rescoring transcribed labelled calls without ASR, and the
figures it reports (hand-computed on a tiny example)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import labelled_calls as lc  # noqa: E402
import labelled_eval as le  # noqa: E402
import scripted_calls as sc  # noqa: E402

from qa_pipeline.conversation.export import write_conversation  # noqa: E402
from qa_pipeline.errors import ConfigError  # noqa: E402
from qa_pipeline.pipeline import CallAnalyzers  # noqa: E402

# Criterion ids of the default rubrics, rules that do not depend on their phrase lists.
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
      - id: interruption
        points: 10
        rule: {{type: metric_threshold, metric: interruptions_agent, max: 0}}
      - id: customer_complaint
        kind: flag
        rule: {{type: forbidden_phrase, role: customer, phrases: [ridiculous]}}
"""

CALLS = [
    # abuse found (fatal tp).
    ("en_test_00_stereo", "stereo", ["hello you have reached Acme", "where is my parcel",
                                     "only an idiot would ask, it is coming"],
     {"greeting": "pass", "abusive_language": "fail", "interruption": "pass",
      "customer_complaint": "pass"}),
    # abuse missed (fatal fn), greeting wrongly failed (fp), interruption planted on a mono
    # call (not measurable: the rule is not applicable, a fn only in mono_all_labels).
    ("en_test_01_mono", "mono", ["good day", "where is my parcel", "you clearly cannot read"],
     {"greeting": "pass", "abusive_language": "fail", "interruption": "fail",
      "customer_complaint": "pass"}),
    # complaint found (tp).
    ("en_test_02_stereo", "stereo", ["hello", "this is ridiculous", "it is coming"],
     {"greeting": "pass", "abusive_language": "pass", "interruption": "pass",
      "customer_complaint": "fail"}),
]


@pytest.fixture()
def rubric_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rubrics"
    d.mkdir()
    for lang in ("zh", "en"):
        (d / f"customer_service_{lang}.yaml").write_text(RUBRIC.format(lang=lang),
                                                         encoding="utf-8")
    return d


@pytest.fixture()
def audio_dir(tmp_path: Path) -> Path:
    """A rendered-and-transcribed folder: plan.json and transcripts/<id>/conversation.json."""
    d = tmp_path / "labelled"
    plan = {}
    for cid, layout, texts, expected in CALLS:
        roles = ["agent", "customer", "agent"]
        call = sc.ScriptedCall(cid, "en", "", layout, tuple(
            sc.ScriptedTurn(r, t) for r, t in zip(roles, texts, strict=True)), expected)
        write_conversation(sc.to_conversation(call),
                           d / "transcripts" / cid / "conversation.json")
        plan[cid] = {"half": "test", "lang": "en", "layout": layout, "expected": expected,
                     "turns": []}
    (d / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    return d


def test_rescored_transcripts_give_the_hand_computed_figures(audio_dir: Path,
                                                             rubric_dir: Path) -> None:
    r = le.score_audio(audio_dir, rubric_dir, CallAnalyzers(acoustic=None))
    assert r["halves"] == ["test"]
    a = r["all"]
    assert a["calls"] == 3
    assert a["fatal_recall"] == 0.5 and a["fatal_precision"] == 1.0
    # Non-fatal, mono interruption left out: greeting 1 fp 2 tn, interruption 2 tn,
    # complaint 1 tp 2 tn -> P 0.5, R 1.0, F1 2/3.
    assert a["non_fatal_counts"]["tp"] == 1 and a["non_fatal_counts"]["fp"] == 1
    assert a["non_fatal_counts"]["fn"] == 0
    assert a["non_fatal_f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["per_call_fatal_agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["criteria"]["interruption"]["tn"] == 2 and a["criteria"]["interruption"]["fn"] == 0
    assert r["stereo"]["calls"] == 2 and r["stereo"]["fatal_recall"] == 1.0
    assert r["stereo"]["goals_met"] == {"fatal_recall": True, "fatal_precision": True,
                                        "non_fatal_f1": True,
                                        "per_call_fatal_agreement": True}
    assert r["mono"]["calls"] == 1 and r["mono"]["per_call_fatal_agreement"] == 0.0
    assert r["mono"]["goals_met"]["fatal_recall"] is False
    assert "interruption" not in r["mono"]["criteria"]
    # With every planted label, the unmeasurable mono interruption counts as a miss.
    assert r["mono_all_labels"]["criteria"]["interruption"]["fn"] == 1
    assert r["en_mono"]["calls"] == 1 and "zh" not in r
    assert {(m["call_id"], m["criterion_id"]) for m in r["mismatches"]} == {
        ("en_test_01_mono", "abusive_language"), ("en_test_01_mono", "greeting"),
        ("en_test_01_mono", "interruption")}
    table = le.markdown(None, r)
    assert "| **test half, audio** (stereo) | 2 | 1.000 / 1.000 | 1.000 | 100.0 % |" in table
    # Nothing predicted on mono: precision is 1.0 by the metric's convention.
    assert "| **test half, audio** (mono) | 1 | 0.000 / 1.000 | 0.000 | 0.0 % |" in table
    assert "| abusive_language | fatal | 1.00 / 0.50 (1 0 1) |" in table


def test_a_missing_transcript_names_the_command_that_makes_it(audio_dir: Path,
                                                              rubric_dir: Path) -> None:
    (audio_dir / "transcripts" / "en_test_02_stereo" / "conversation.json").unlink()
    with pytest.raises(ConfigError, match="qa-pipeline transcribe"):
        le.score_audio(audio_dir, rubric_dir, CallAnalyzers(acoustic=None))


def test_text_calls_keep_the_half_wording_and_drop_timing_labels() -> None:
    pc = lc.plan("test")[1]
    call = le.to_scripted(pc)
    assert call.id == pc.call.name and call.layout == "mono"
    assert [t.text for t in call.turns] == [t.text for t in pc.call.turns]
    assert set(call.expected) == set(lc.CRITERIA) - {"dead_air", "interruption"}
    assert call.notes.split() == list(pc.phrasing_ids)


def test_text_scoring_reports_both_halves(rubric_dir: Path) -> None:
    r = le.score_text(rubric_dir, CallAnalyzers(acoustic=None))
    assert set(r) == {"tune", "test"}
    for half in lc.HALVES:
        assert r[half]["all"]["calls"] == 48
        assert r[half]["stereo"]["calls"] == r[half]["mono"]["calls"] == 24
        assert "interruption" not in r[half]["all"]["criteria"]
        # Every planted abuse is labelled: tp + fn is the planted count in both halves.
        c = r[half]["all"]["criteria"]["abusive_language"]
        assert c["tp"] + c["fn"] == sum(pc.expected["abusive_language"] == "fail"
                                        for pc in lc.plan(half))


def test_a_bundle_scores_as_the_folder_it_was_written_from(audio_dir: Path, rubric_dir: Path,
                                                           tmp_path: Path) -> None:
    bundle = tmp_path / "b.json.gz"
    assert le.write_bundle(audio_dir, bundle) == 3
    first = bundle.read_bytes()
    le.write_bundle(audio_dir, bundle)
    assert bundle.read_bytes() == first
    from_dir = le.score_audio(audio_dir, rubric_dir, CallAnalyzers(acoustic=None))
    from_bundle = le.score_audio(bundle, rubric_dir, CallAnalyzers(acoustic=None))
    assert from_bundle == from_dir


def test_tag_options_are_parsed_by_field_type_and_unknown_names_are_listed():
    from qa_pipeline.acts.track import TagOptions

    opts = le.parse_tag_options(["clause_gap_s=0.5", "split_clauses=false", "min_clause_units=6"])
    assert opts == TagOptions(clause_gap_s=0.5, split_clauses=False, min_clause_units=6)
    assert le.parse_tag_options([]) == TagOptions()
    assert le.parse_tag_options(["comma_min_utterance_units=30"]).comma_min_utterance_units == 30
    assert le.parse_tag_options(["comma_min_utterance_units=none"]) == TagOptions()
    with pytest.raises(ConfigError, match="clause_gap_s"):
        le.parse_tag_options(["clause_gap=0.5"])
    with pytest.raises(ConfigError, match="bool"):
        le.parse_tag_options(["split_clauses=maybe"])
    with pytest.raises(ConfigError, match="float"):
        le.parse_tag_options(["clause_gap_s=long"])
