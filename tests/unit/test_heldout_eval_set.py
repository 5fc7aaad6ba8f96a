"""benchmarks/heldout_eval.py --set DIR: score another held-out set laid out like the first."""

from __future__ import annotations

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
