"""End to end from audio: the sample calls score as their planted labels say."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa_pipeline.cli import app
from qa_pipeline.pipeline import analyzers_for, rubric_for, score_conversation
from qa_pipeline.scorecard.kpi import kpi_rollup
from qa_pipeline.tenants import load_tenant
from qa_pipeline.types import Status
from tests.integration.conftest import DATA

pytestmark = pytest.mark.integration


def test_sample_scorecards_match_labels(sample_conversations, sample_rows):
    cards = []
    for row in sample_rows:
        name = row["path"].split("/")[-1].removesuffix(".wav")
        conv = sample_conversations[name]
        tenant = load_tenant(row["tenant_id"])
        card = score_conversation(conv, rubric_for(tenant, conv.language), call_meta=row,
                                  analyzers=analyzers_for(tenant))
        cards.append(card.to_dict())
        expected = json.loads((DATA / "reference" / f"{name}.labels.json").read_text())["expected"]
        for criterion, label in expected.items():
            got = card.item(criterion).result.provisional_status
            if label == "pass":
                assert got in (Status.PASS, Status.NOT_APPLICABLE), (name, criterion, got)
            else:
                assert got is Status(label), (name, criterion, got)
    rows = {r.key: r for r in kpi_rollup(cards, by=("tenant",))}
    assert rows[("default",)].calls == 4


def test_score_cli_writes_json_and_html(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["score", str(DATA / "calls" / "en_bad_stereo_8k.wav"),
                                      "--tenant", "default", "--out", str(out),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    card_path = next(out.glob("*/scorecard.json"))
    card = json.loads(card_path.read_text())
    assert card["rubric"] == "customer_service_en@7"
    assert card["grade"] == "E" and card["total_score"] <= 30
    html = (card_path.parent / "scorecard.html").read_text()
    assert "I guarantee" in html or "guarantee" in html
    # Scored from audio: sentiment, acoustics, emotion and call reason are all there.
    conv = json.loads((card_path.parent / "conversation.json").read_text())
    n_utts = len(conv["utterances"])
    assert [i["utterance_index"] for i in card["sentiment"]["items"]] == list(range(n_utts))
    assert len(card["acoustics"]["items"]) == n_utts
    assert card["call_reason"]["label"] == "complaint"
    statuses = {i["criterion_id"]: i["status"] for i in card["items"]}
    assert statuses["customer_sentiment_end"] == "fail"  # "This is ridiculous." ends the call
    assert "<svg" in html and "Customer emotion" in html
    assert set(card["provenance"]["models"]) >= {"sentiment", "acoustics", "call_reason"}
    # rescoring from the stored conversation.json needs no audio
    again = CliRunner().invoke(app, ["score", str(card_path.parent / "conversation.json"),
                                     "--tenant", "default", "--out", str(tmp_path / "re"),
                                     "--cache-dir", str(tmp_path / "cache")])
    assert again.exit_code == 0, again.output
    re_card = json.loads(next((tmp_path / "re").glob("*/scorecard.json")).read_text())
    assert re_card["total_score"] == card["total_score"]
    # No audio when re-scoring: no acoustic features, the same text sentiment.
    assert re_card["acoustics"] is None
    assert re_card["sentiment"] == card["sentiment"]


def test_same_audio_for_two_tenants_never_overwrites(tmp_path, sample_conversations):
    from qa_pipeline.conversation.export import write_conversation

    conv = sample_conversations["zh_good_stereo_8k"]
    out = tmp_path / "out"
    write_conversation(conv, out / conv.call_id / "conversation.json")  # tenant default
    result = CliRunner().invoke(app, ["transcribe", str(DATA / "calls" / "zh_good_stereo_8k.wav"),
                                      "--tenant", "swift_express", "--out", str(out),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert "holds tenant 'default'" in result.output
    kept = json.loads((out / conv.call_id / "conversation.json").read_text())
    assert kept["tenant_id"] == "default"


def test_conversation_of_other_tenant_is_refused(tmp_path, sample_conversations):
    from qa_pipeline.conversation.export import write_conversation

    conv = sample_conversations["zh_express_stereo_8k"]
    path = write_conversation(conv, tmp_path / "x" / "conversation.json")
    result = CliRunner().invoke(app, ["score", str(path), "--tenant", "default",
                                      "--out", str(tmp_path / "o"),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert "belongs to tenant 'swift_express'" in result.output


def test_outputs_validate_against_documented_schemas(sample_conversations, sample_rows):
    import jsonschema

    pkg = DATA.parent / "qa_pipeline"
    conv_schema = json.loads((pkg / "conversation" / "conversation.schema.json").read_text())
    card_schema = json.loads((pkg / "scorecard" / "scorecard.schema.json").read_text())
    for row in sample_rows:
        conv = sample_conversations[row["path"].split("/")[-1].removesuffix(".wav")]
        jsonschema.validate(json.loads(json.dumps(conv.to_dict())), conv_schema)
        tenant = load_tenant(row["tenant_id"])
        card = score_conversation(conv, rubric_for(tenant, conv.language), call_meta=row,
                                  analyzers=analyzers_for(tenant))
        data = json.loads(json.dumps(card.to_dict()))
        jsonschema.validate(data, card_schema)
        assert data["sentiment"] and data["emotion"] and data["call_reason"]
