"""benchmarks/heldout_eval.py --set DIR: score another held-out set laid out like the first."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import heldout_eval as he  # noqa: E402

RUBRIC = """\
id: customer_service_{lang}
version: 1
sections:
  - id: s
    weight: 100
    criteria:
      - id: greeting
        points: 10
        rule: {{type: required_phrase, role: agent, phrases: [hello, 您好]}}
      - id: abusive_language
        severity: fatal
        points: 10
        rule: {{type: forbidden_phrase, role: agent, phrases: [idiot, 笨蛋]}}
"""


def _call(cid: str, lang: str, layout: str, agent: str, abusive: str) -> str:
    return json.dumps({"id": cid, "lang": lang, "industry": "x", "layout": layout,
                       "turns": [{"role": "agent", "text": agent},
                                 {"role": "customer", "text": "ok"}],
                       "expected": {"greeting": "pass", "abusive_language": abusive}},
                      ensure_ascii=False)


def _write_set(root: Path) -> Path:
    root.mkdir()
    (root / "calls_zh.jsonl").write_text(
        _call("zh_1", "zh", "stereo", "您好，笨蛋", "fail") + "\n", encoding="utf-8")
    (root / "calls_en.jsonl").write_text(
        _call("en_1", "en", "mono", "hello there", "pass") + "\n"
        + _call("en_2", "en", "mono", "hello idiot", "pass") + "\n", encoding="utf-8")
    (root / "acts_zh.tsv").write_text("lang\trole\tacts\ttext\nzh\tagent\tgreeting\t您好hello\n"
                                      "zh\tcustomer\t\t好的\n", encoding="utf-8")
    (root / "acts_en.tsv").write_text("lang\trole\tacts\ttext\nen\tagent\t\tnope\n"
                                      "en\tagent\tgreeting\thello\n", encoding="utf-8")
    (root / "real_labels.tsv").write_text(
        "source\tref\tlang\trole\tacts\nmusied\tdev.json#7#0\tzh\tagent\tgreeting\n"
        "musied\tdev.json#7#1\tzh\tcustomer\t\n"
        "harper_valley\ts1.segments.tsv#s1#1\ten\tcustomer\tgreeting\n"
        "harper_valley\ts1.segments.tsv#s1#2\ten\tagent\t\n", encoding="utf-8")
    return root


def test_calls_part_scores_the_given_set(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    for lang in ("zh", "en"):
        (rubrics / f"customer_service_{lang}.yaml").write_text(RUBRIC.format(lang=lang),
                                                                encoding="utf-8")
    set_dir = _write_set(tmp_path / "myset")
    out = tmp_path / "r.json"
    assert he.main(["--part", "calls", "--set", str(set_dir), "--rubric-dir", str(rubrics),
                    "--sentiment", "none", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["set"] == str(set_dir)
    calls = data["calls"]
    assert calls["stereo"]["calls"] == 1 and calls["mono"]["calls"] == 2
    # zh_1: abuse found (tp); en_2: abuse found but not labelled (fp); en_1: tn.
    assert calls["all"]["fatal_counts"]["tp"] == 1 and calls["all"]["fatal_counts"]["fp"] == 1
    assert "calls stereo: 1 calls" in capsys.readouterr().out


class _TinyActModel:
    model_id = "tiny@1"
    acts = ("greeting",)

    def predict_texts(self, texts: list[str], roles: object = None) -> np.ndarray:
        return np.array([[0.9 if "hello" in t else 0.1] for t in texts])

    def threshold(self, act: str) -> float:
        return 0.5


def test_acts_part_reads_the_given_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_dir = _write_set(tmp_path / "myset")
    eval_dir = tmp_path / "eval"
    (eval_dir / "text_callcenter_zh/musied").mkdir(parents=True)
    (eval_dir / "text_callcenter_zh/musied/dev.json").write_text(json.dumps(
        [{"id": 7, "content": ["客服:您好hello,", "用户:好,"]}], ensure_ascii=False),
        encoding="utf-8")
    (eval_dir / "text_callcenter_en/harper_valley_excerpt").mkdir(parents=True)
    (eval_dir / "text_callcenter_en/harper_valley_excerpt/s1.segments.tsv").write_text(
        "index\tspeaker_role\thuman_transcript\n1\tcaller\thello my card\n"
        "2\tagent\tfine\n", encoding="utf-8")
    module = types.SimpleNamespace(load_embedded_act_model=_TinyActModel)
    monkeypatch.setattr(he.importlib, "import_module", lambda name: module)
    out = tmp_path / "r.json"
    assert he.main(["--part", "acts", "--set", str(set_dir), "--eval-dir", str(eval_dir),
                    "--out", str(out)]) == 0
    acts = json.loads(out.read_text(encoding="utf-8"))["acts"]
    assert acts["written"]["zh"]["utterances"] == 2
    assert acts["written"]["en"]["utterances"] == 2
    assert acts["written"]["en"]["acts"]["greeting"]["tp"] == 1
    assert acts["real"]["musied"]["utterances"] == 2
    assert acts["real"]["en"]["acts"]["greeting"]["tp"] == 1


def test_default_set_is_the_first_and_a_missing_folder_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert he.main(["--part", "calls", "--set", str(tmp_path / "absent")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert he._set_name(he.HELDOUT) == "benchmarks/heldout"


# --- the second held-out set's files: well formed, as large as its brief asks -------------
HELDOUT2 = REPO / "benchmarks" / "heldout2"
FATAL = ("identity_verification", "abusive_language", "unauthorized_promise")


def test_second_set_act_corpus_is_well_formed_and_large_enough() -> None:
    for lang in ("zh", "en"):
        items = he.load_act_corpus(HELDOUT2 / f"acts_{lang}.tsv")
        assert {i.lang for i in items} == {lang}
        per_act = {a: sum(a in i.acts for i in items) for a in he.ACT_IDS}
        assert min(per_act.values()) >= 20, per_act
        assert sum(not i.acts for i in items) >= 100
        assert len({i.text for i in items}) == len(items)


def test_second_set_calls_are_well_formed() -> None:
    for lang in ("zh", "en"):
        calls = he.scripted_calls.load_calls([HELDOUT2 / f"calls_{lang}.jsonl"])
        assert len(calls) >= 26 and {c.lang for c in calls} == {lang}
        assert sum(c.layout == "mono" for c in calls) == len(calls) // 2
        assert len({c.industry for c in calls}) >= 10
        for c in calls:
            assert 8 <= len(c.turns) <= 20, c.id
            assert set(c.expected) == {
                "greeting", "identity_verification", "abusive_language", "unauthorized_promise",
                "forbidden_phrases", "empathy_on_complaint", "closing", "customer_complaint"}
            complained = c.expected["customer_complaint"] == "fail"
            assert (c.expected["empathy_on_complaint"] != "not_applicable") == complained, c.id
        for cid in ("identity_verification", "abusive_language", "unauthorized_promise",
                    "forbidden_phrases", "empathy_on_complaint", "closing", "greeting"):
            assert sum(c.expected[cid] == "fail" for c in calls) >= 5, (lang, cid)
        fatal = sum(any(c.expected[f] == "fail" for f in FATAL) for c in calls)
        assert 0.35 <= fatal / len(calls) <= 0.5


@pytest.mark.skipif(not he.default_eval_dir().is_dir(), reason="../shared/eval is not here")
def test_second_set_real_labels_resolve_and_do_not_overlap_the_first() -> None:
    got = he.load_real_labels(HELDOUT2 / "real_labels.tsv", he.default_eval_dir())
    assert len(got) >= 200 and all(u.text.strip() for u in got)
    # Only the first set's source and ref columns are read: its labels stay unseen.
    with (he.HELDOUT / "real_labels.tsv").open(encoding="utf-8", newline="") as f:
        first = {(r["source"], r["ref"]) for r in csv.DictReader(f, delimiter="\t")}
    assert first and not first & {(u.source, u.ref) for u in got}
