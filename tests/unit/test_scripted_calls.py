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


# --- benchmarks/heldout_eval.py and the held-out files -------------------------------------
import heldout_eval as he  # noqa: E402

HELDOUT = REPO / "benchmarks" / "heldout"


def test_heldout_act_corpus_is_well_formed_and_large_enough():
    for lang in ("zh", "en"):
        items = he.load_act_corpus(HELDOUT / f"acts_{lang}.tsv")
        assert {i.lang for i in items} == {lang}
        per_act = {a: sum(a in i.acts for i in items) for a in he.ACT_IDS}
        assert min(per_act.values()) >= 20, per_act
        assert sum(not i.acts for i in items) >= 80
        assert len({i.text for i in items}) == len(items)


def test_heldout_calls_are_well_formed():
    for lang in ("zh", "en"):
        calls = sc.load_calls([HELDOUT / f"calls_{lang}.jsonl"])
        assert len(calls) >= 24 and {c.lang for c in calls} == {lang}
        assert sum(c.layout == "mono" for c in calls) == len(calls) // 2
        assert len({c.industry for c in calls}) >= 10
        for c in calls:
            assert 8 <= len(c.turns) <= 20, c.id
            assert set(c.expected) == {
                "greeting", "identity_verification", "abusive_language", "unauthorized_promise",
                "forbidden_phrases", "empathy_on_complaint", "closing", "customer_complaint"}
            complained = c.expected["customer_complaint"] == "fail"
            assert (c.expected["empathy_on_complaint"] != "not_applicable") == complained, c.id


def test_act_scores_hand_computed():
    items = [he.LabelledUtterance("en", "agent", ("greeting",), "a"),
             he.LabelledUtterance("en", "agent", ("greeting", "recording_disclosure"), "b"),
             he.LabelledUtterance("en", "customer", (), "c"),
             he.LabelledUtterance("en", "customer", (), "d")]
    pred = [{"greeting"}, {"greeting"}, {"complaint"}, set()]
    s = he.act_scores(items, pred, ["greeting", "recording_disclosure", "complaint"])
    assert s["acts"]["greeting"] == {"support": 2, "tp": 2, "fp": 0, "fn": 0, "precision": 1.0,
                                     "recall": 1.0, "f1": 1.0}
    assert s["acts"]["recording_disclosure"]["fn"] == 1
    assert s["acts"]["complaint"]["fp"] == 1
    # micro: tp 2, fp 1, fn 1 -> F1 2/3; macro over acts with support: (1 + 0) / 2.
    assert s["micro_f1"] == pytest.approx(0.6667) and s["macro_f1"] == 0.5
    assert s["exact_match"] == 0.5 and s["no_act_lines"] == 2 and s["no_act_kept"] == 0.5


class _TinyActModel:
    """The acts interface's shape, with probabilities fixed by the text."""

    model_id = "tiny@1"
    acts = ("greeting", "complaint")

    def predict_texts(self, texts, roles=None):
        import numpy as np

        return np.array([[0.9 if "hello" in t else 0.1, 0.5 if "bad" in t else 0.0]
                         for t in texts])

    def threshold(self, act):
        return 0.6 if act == "complaint" else 0.5


def test_predict_applies_each_acts_threshold():
    items = [he.LabelledUtterance("en", "agent", (), "hello"),
             he.LabelledUtterance("en", "customer", (), "bad service")]
    assert he.predict(_TinyActModel(), items) == [{"greeting"}, set()]


def _fake_eval_dir(root: Path) -> Path:
    (root / "text_callcenter_zh/mobilecs").mkdir(parents=True)
    (root / "text_callcenter_zh/musied").mkdir(parents=True)
    (root / "text_callcenter_en/abcd").mkdir(parents=True)
    (root / "text_callcenter_en/harper_valley_excerpt").mkdir(parents=True)
    (root / "text_callcenter_zh/mobilecs/example.json").write_text(json.dumps(
        [{"id": "d1", "content": [{"[SPEAKER 1]": "您好", "[SPEAKER 2]": "你好我想查话费"}]}],
        ensure_ascii=False), encoding="utf-8")
    (root / "text_callcenter_zh/musied/dev.json").write_text(json.dumps(
        [{"id": 7, "domain": "Phone Conversations", "content": ["客服:请稍等,", "用户:好,"]}],
        ensure_ascii=False), encoding="utf-8")
    (root / "text_callcenter_en/abcd/abcd_sample.json").write_text(json.dumps(
        [{"convo_id": 5, "original": [["agent", "Hi!"], ["action", "x"],
                                      ["customer", "thanks, bye"]]}]), encoding="utf-8")
    (root / "text_callcenter_en/harper_valley_excerpt/s1.segments.tsv").write_text(
        "index\tspeaker_role\thuman_transcript\n1\tagent\thello this is the bank\n"
        "2\tcaller\thi\n", encoding="utf-8")
    return root


def test_real_labels_resolve_by_reference(tmp_path: Path):
    eval_dir = _fake_eval_dir(tmp_path / "eval")
    labels = tmp_path / "real.tsv"
    labels.write_text(
        "source\tref\tlang\trole\tacts\n"
        "mobilecs\texample.json#d1#0#2\tzh\tcustomer\t\n"
        "musied\tdev.json#7#0\tzh\tagent\thold_announcement\n"
        "abcd\tabcd_sample.json#5#2\ten\tcustomer\tthanks_farewell\n"
        "harper_valley\ts1.segments.tsv#s1#1\ten\tagent\tgreeting\n", encoding="utf-8")
    got = he.load_real_labels(labels, eval_dir)
    assert [(u.role, u.text, u.acts) for u in got] == [
        ("customer", "你好我想查话费", ()), ("agent", "请稍等", ("hold_announcement",)),
        ("customer", "thanks, bye", ("thanks_farewell",)),
        ("agent", "hello this is the bank", ("greeting",))]
    labels.write_text("source\tref\tlang\trole\tacts\n"
                      "harper_valley\ts1.segments.tsv#s1#2\ten\tagent\t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="source says 'customer'"):
        he.load_real_labels(labels, eval_dir)
    labels.write_text("source\tref\tlang\trole\tacts\n"
                      "abcd\tabcd_sample.json#5#9\ten\tagent\t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not resolve"):
        he.load_real_labels(labels, eval_dir)


@pytest.mark.skipif(not he.default_eval_dir().is_dir(), reason="../shared/eval is not here")
def test_committed_real_labels_resolve():
    got = he.load_real_labels(HELDOUT / "real_labels.tsv", he.default_eval_dir())
    assert len(got) >= 300 and all(u.text.strip() for u in got)
    assert {u.source for u in got} == set(he.SOURCE_DIRS)


def test_acts_part_exits_2_without_the_act_module(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]):
    def missing(name: str):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(he.importlib, "import_module", missing)
    assert he.main(["--part", "acts"]) == 2
    assert "not importable" in capsys.readouterr().err
