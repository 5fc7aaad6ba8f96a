"""Regression gate for rubric evaluation: verdicts on perturbed conversations, byte for byte.

    PYTHONPATH=. .venv/bin/python benchmarks/rubric_equivalence.py --out /tmp/verdicts.json
    PYTHONPATH=. .venv/bin/python benchmarks/rubric_equivalence.py \\
        --check benchmarks/results/rubric_equivalence.json

Builds ``--calls`` (default 405) conversations from the reference transcripts in
``data_samples/reference``: per call, two or three reference calls of one language in a row,
with homophone swaps, typos and Traditional characters, phrases of those rubrics planted
(whole, with a typo or a homophone, with numerals or contractions), role flips, low word
probabilities and role confidences, hold announcements, pauses and overlaps, all drawn from a
seeded generator, so the set is the same on every machine and every checkout.
Each call is evaluated with the phrase rubrics shipped at cac5a84 (kept beside this script in
``rubric_equivalence_rubrics/``, so the gate pins the engine, not the rubrics' content) and
the results are written as JSON: per rubric and call every criterion result field by field
(statuses, message, review reason, value, and each quote with its match), and the call's
metrics; floats as ``repr`` (exact). Fields are named one by one, so a field added to a result
type later does not change the output.

A refactoring of matching, normalisation or the engine must leave the output byte-identical.
``--check`` compares the sha256 of the output with the one recorded in a JSON file written by
``--record`` (``tests/unit/test_rubric_equivalence.py`` runs a reduced set on every test run).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The phrase rubrics shipped at cac5a84 (version 2), kept as fixtures: the gate pins the
# matching engine, so it must not move when the shipped rubrics change (they are on dialogue
# acts since version 3).
RUBRICS = Path(__file__).resolve().parent / "rubric_equivalence_rubrics"

# Characters ASR confuses with the ones on the left (same or close pinyin).
_HOMOPHONES = {"诉": "注", "服": "福", "您": "你", "好": "号", "歉": "欠", "再": "在", "见": "建",
               "客": "克", "款": "宽", "退": "推", "账": "帐", "证": "正", "单": "担", "理": "里",
               "赔": "陪", "保": "宝", "务": "物", "号": "好", "身": "深", "份": "分"}
_TRADITIONAL = {"务": "務", "账": "賬", "单": "單", "这": "這", "为": "為", "么": "麼",
                "请": "請", "问": "問", "说": "說", "个": "個"}
_ZH_NUMERALS = ("三百二十", "两万五", "一三八", "十五", "五十块", "一下", "一起", "十分")
_EN_NUMBERS = ("twenty five", "one hundred and twenty", "one two three", "forty",
               "two thousand", "seven")
_EN_CONTRACTIONS = ("I can't", "we'll", "it's", "don't", "I'm", "you're", "won't")
# Hold announcements (the metrics tell an announced hold from dead air).
_HOLDS = {"zh": ("请稍等", "我帮您查一下", "请不要挂机"),
          "en": ("please hold", "let me check", "one moment")}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _rubric_phrases(node: Any, out: list[str]) -> None:
    """Every phrase listed anywhere in a rubric YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "phrases" and isinstance(value, list):
                out.extend(str(v) for v in value)
            else:
                _rubric_phrases(value, out)
    elif isinstance(node, list):
        for item in node:
            _rubric_phrases(item, out)


def _typo(text: str, rng: random.Random) -> str:
    """One letter dropped, doubled or swapped with its neighbour (English typos)."""
    if len(text) < 3:
        return text
    k = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return text[:k] + text[k + 1:]
    if kind == 1:
        return text[:k] + text[k] + text[k:]
    return text[:k - 1] + text[k] + text[k - 1] + text[k + 1:]


def _perturb_zh(text: str, rng: random.Random, rate: float) -> str:
    out = []
    for ch in text:
        if ch in _HOMOPHONES and rng.random() < rate:
            out.append(_HOMOPHONES[ch])
        elif ch in _TRADITIONAL and rng.random() < rate / 3:
            out.append(_TRADITIONAL[ch])
        else:
            out.append(ch)
    return "".join(out)


def _perturb_en(text: str, rng: random.Random, rate: float) -> str:
    return " ".join(_typo(w, rng) if len(w) > 4 and rng.random() < rate else w
                    for w in text.split(" "))


def build_calls(n_calls: int) -> list[Any]:
    """The gate's conversations (the first ``n`` of any larger set are the same)."""
    import yaml

    from qa_pipeline.types import Conversation, Provenance, Role, Utterance, Word

    references: dict[str, list[list[dict[str, str]]]] = {"zh": [], "en": []}
    for path in sorted((REPO / "data_samples" / "reference").glob("*.transcript.tsv")):
        references[path.name[:2]].append(_rows(path))
    phrases: dict[str, list[str]] = {"zh": [], "en": []}
    for path in sorted(RUBRICS.glob("*.yaml")):
        found: list[str] = []
        _rubric_phrases(yaml.safe_load(path.read_text(encoding="utf-8")), found)
        language = "en" if path.stem.endswith("_en") else "zh"
        phrases[language].extend(dict.fromkeys(found))
    provenance = Provenance("gate", "gate", "gate", "gate", "gate", "gate")
    calls = []
    for k in range(n_calls):
        rng = random.Random(1000 + k)
        language = "zh" if k % 5 < 3 else "en"
        pieces = [rng.choice(references[language]) for _ in range(rng.randint(2, 3))]
        rate = rng.choice((0.0, 0.1, 0.3, 0.6))
        utterances = []
        t = rng.uniform(0.0, 2.0)
        held = False  # the previous utterance announced a hold: a long silence follows
        for piece in pieces:
            for line in piece:
                text = line["text"]
                role = Role(line["role"])
                if rng.random() < 0.3:  # plant a phrase of the rubrics
                    planted = rng.choice(phrases[language])
                    style = rng.randrange(4)
                    if style == 1:
                        planted = (_perturb_zh(planted, rng, 0.7) if language == "zh"
                                   else _typo(planted, rng))
                    elif style == 2:
                        planted = rng.choice(_ZH_NUMERALS if language == "zh"
                                             else _EN_NUMBERS) + planted
                    elif style == 3 and language == "en":
                        planted = f"{rng.choice(_EN_CONTRACTIONS)} {planted}"
                    joiner = "" if language == "zh" else " "
                    text = joiner.join((planted, text) if rng.random() < 0.5
                                       else (text, planted))
                text = (_perturb_zh(text, rng, rate) if language == "zh"
                        else _perturb_en(text, rng, rate))
                if rng.random() < 0.1:
                    role = Role.CUSTOMER if role is Role.AGENT else Role.AGENT
                hold = role is Role.AGENT and rng.random() < 0.08
                if hold:
                    text += ("" if language == "zh" else " ") + rng.choice(_HOLDS[language])
                duration = max(0.4, float(line["end_s"]) - float(line["start_s"])
                               + rng.uniform(-0.5, 0.5))
                gap = rng.choice((0.0, 0.3, 0.8, -0.6, 3.5, 9.0))
                start = max(0.0, t + (rng.uniform(8.0, 40.0) if held else gap))
                end = start + duration
                tokens = (list(text) if language == "zh" else text.split()) or [text]
                step = duration / len(tokens)
                low = rng.choice((0.2, 0.5, 0.8))
                words = tuple(Word(start + j * step, start + (j + 1) * step, w,
                                   round(rng.uniform(low, 1.0), 4))
                              for j, w in enumerate(tokens) if w.strip())
                if not words:
                    continue
                utterances.append(Utterance(
                    len(utterances), f"spk_{role.value}", role,
                    rng.choice((1.0, 1.0, 0.9, 0.6, 0.4)), start, end, text, language, words))
                t = end
                held = hold
        utterances.sort(key=lambda u: (u.start_s, u.index))
        utterances = [Utterance(i, u.speaker, u.role, u.role_confidence, u.start_s, u.end_s,
                                u.text, u.language, u.words) for i, u in enumerate(utterances)]
        duration_s = max(u.end_s for u in utterances) + rng.uniform(0.5, 5.0)
        calls.append(Conversation(f"gate_{k:03d}", "default", duration_s, language,
                                  tuple(utterances), provenance))
    return calls


def _float(x: float | None) -> str | None:
    return None if x is None else repr(x)


def _verdict(result: Any) -> list[Any]:
    """One criterion result as JSON-ready values (see the module docstring)."""
    return [result.criterion_id, result.section_id, result.severity, result.kind,
            result.rule_type, result.status.value, result.provisional_status.value,
            result.message, result.review_reason, _float(result.value),
            [[e.utterance_index, e.role.value, _float(e.start_s), _float(e.end_s), e.quote,
              _float(e.word_probability), _float(e.role_confidence), e.note,
              None if e.match is None else [e.match.pattern, e.match.method,
                                            _float(e.match.score), e.match.matched_text]]
             for e in result.evidence]]


def _metrics(metrics: Any) -> list[Any]:
    return [{name: _float(value) for name, value in sorted(metrics.values.items())},
            {name: [[_float(s.start_s), _float(s.end_s), s.label] for s in spans]
             for name, spans in sorted(metrics.spans.items())}]


def verdicts_json(n_calls: int) -> str:
    """Every shipped rubric's results on the gate's first ``n_calls`` conversations."""
    from qa_pipeline.conversation.metrics import compute_metrics
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric

    calls = build_calls(n_calls)
    metrics = [compute_metrics(c) for c in calls]
    out: dict[str, Any] = {"metrics": [_metrics(m) for m in metrics]}
    for path in sorted(RUBRICS.glob("*.yaml")):
        rubric = load_rubric(path)
        out[path.stem] = [
            [_verdict(item) for item in evaluate(rubric, EvaluationContext(c, m)).results]
            for c, m in zip(calls, metrics, strict=True)]
    return json.dumps(out, ensure_ascii=False, indent=0)


def match_counts(text: str) -> dict[str, int]:
    """How many hits of each matching method the verdicts quote (the gate's coverage)."""
    counts = dict.fromkeys(("exact", "pinyin", "fuzzy", "regex"), 0)
    for rubric, calls in json.loads(text).items():
        if rubric == "metrics":
            continue
        for call in calls:
            for verdict in call:
                for quote in verdict[-1]:
                    if quote[-1] is not None and quote[-1][1] in counts:
                        counts[quote[-1][1]] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command line: write, record or check the gate's verdicts."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--calls", type=int, default=405)
    ap.add_argument("--out", type=Path, help="write the verdict JSON here")
    ap.add_argument("--record", type=Path, help="write the verdicts' sha256 and counts here")
    ap.add_argument("--check", type=Path, help="compare with a --record file (exit 1 if not)")
    args = ap.parse_args(argv)
    text = verdicts_json(args.calls)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    summary = {"calls": args.calls, "sha256": digest, "bytes": len(text.encode("utf-8")),
               "hits": match_counts(text)}
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.record:
        args.record.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    if args.check:
        expected = json.loads(args.check.read_text(encoding="utf-8"))
        if (expected["calls"], expected["sha256"]) != (args.calls, digest):
            print(f"verdicts differ from {args.check}", file=sys.stderr)
            return 1
        print("verdicts byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
