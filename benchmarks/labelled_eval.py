"""Rubric accuracy on the labelled call set, by phrasing half, as text and from transcripts.

    # both halves as text, and the test half from its committed transcripts (no ASR)
    .venv/bin/python benchmarks/labelled_eval.py --rubric-dir rubrics

Text: every call of ``benchmarks/labelled_calls.py``, ``tune`` and ``test`` halves, becomes a
scripted call (``benchmarks/scripted_calls.py``: one utterance per turn, every word certain)
and is scored; the gap between the halves is the rubric's gap between wording it may have
been tuned on and wording it never saw. Text has no timing, so ``dead_air`` and
``interruption`` are not labelled there.

Audio: ``--audio-dir`` is a folder rendered by ``labelled_calls.py --render`` (its
``plan.json``) whose calls were transcribed once by the product::

    qa-pipeline transcribe DIR/manifest.csv --tenant default --out DIR/transcripts --no-exports

Each ``DIR/transcripts/<call_id>/conversation.json`` is scored again with the rubrics of
``--rubric-dir`` (no ASR at scoring time, so a rubric change is measured in seconds).
``--write-bundle`` stores the plan and the transcripts in one gzip JSON file; the test half's
is committed (``benchmarks/labelled/test_half_transcripts.json.gz``) and is what
``--audio-dir`` defaults to, so the figures can be rescored from any checkout. On mono
calls overtalk is not measurable (the mono diarizers are exclusive: the metric is undefined and
the rule not applicable), so the planted ``interruption`` label of mono calls is left out of the
pooled figures; ``mono_all_labels`` keeps it.

A positive is a violation (label ``fail``); the prediction is the criterion's provisional
status. Reported per subset (all, stereo, mono, zh, en and each language x layout): per
criterion tp/fp/fn/tn, precision, recall, F1; fatal recall and precision; non-fatal F1; per-call
fatal agreement (as :func:`scripted_calls.summarize` defines them), and whether the issue 24
goals are met.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import labelled_calls  # noqa: E402
import scripted_calls  # noqa: E402
from scripted_calls import CallOutcome, ScriptedCall, ScriptedTurn  # noqa: E402

from qa_pipeline.acts.track import TagOptions  # noqa: E402
from qa_pipeline.conversation.export import read_conversation  # noqa: E402
from qa_pipeline.errors import ConfigError  # noqa: E402
from qa_pipeline.pipeline import CallAnalyzers, score_conversation  # noqa: E402
from qa_pipeline.rubric.loader import load_rubric  # noqa: E402
from qa_pipeline.rubric.schema import Rubric  # noqa: E402
from qa_pipeline.types import Conversation  # noqa: E402
from qa_pipeline.version import __version__  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
BUNDLE = REPO / "benchmarks" / "labelled" / "test_half_transcripts.json.gz"
TIMING_CRITERIA = frozenset({"dead_air", "interruption"})
"""Labels a text-only call cannot carry (it has no pauses or overlaps)."""
NOT_MEASURABLE = {"mono": frozenset({"interruption"})}
"""Per layout, planted labels the product cannot measure (left out of the pooled figures)."""
GOALS = {"fatal_recall": 0.98, "fatal_precision": 0.95, "non_fatal_f1": 0.92,
         "per_call_fatal_agreement": 0.97}
"""Issue 24's acceptance, per layout, on the test half."""


@dataclass(frozen=True)
class PlanEntry:
    """One call of a rendered ``plan.json``."""

    call_id: str
    half: str
    lang: str
    layout: str
    expected: dict[str, str]


def parse_plan(data: Mapping[str, Any], where: str) -> list[PlanEntry]:
    """The calls of a plan (the content of ``plan.json``).

    Raises:
        ConfigError: an entry lacks a field.
    """
    try:
        return [PlanEntry(cid, str(e["half"]), str(e["lang"]), str(e["layout"]),
                          {str(k): str(v) for k, v in e["expected"].items()})
                for cid, e in data.items()]
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{where}: not a labelled plan ({e!r})") from e


def read_plan(path: Path) -> list[PlanEntry]:
    """The calls of a ``plan.json`` written by ``labelled_calls.py --render``.

    Raises:
        ConfigError: the file is missing or unreadable, or an entry lacks a field.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the plan ({e})") from e
    return parse_plan(data, str(path))


def to_scripted(pc: labelled_calls.PlannedCall) -> ScriptedCall:
    """A planned call as a scripted (text-only) call, without its timing labels."""
    return ScriptedCall(
        id=pc.call.name, lang=pc.call.language, industry="", layout=pc.call.layout,
        turns=tuple(ScriptedTurn(t.role, t.text) for t in pc.call.turns),
        expected={c: v for c, v in pc.expected.items() if c not in TIMING_CRITERIA},
        notes=" ".join(pc.phrasing_ids))


def measurable(outcome: CallOutcome) -> CallOutcome:
    """``outcome`` without the labels its layout cannot measure."""
    drop = NOT_MEASURABLE.get(outcome.layout, frozenset())
    if not drop.intersection(outcome.expected):
        return outcome
    return replace(outcome,
                   expected={c: v for c, v in outcome.expected.items() if c not in drop},
                   predicted={c: v for c, v in outcome.predicted.items() if c not in drop})


def goals_met(summary: Mapping[str, Any]) -> dict[str, bool]:
    """Each issue 24 goal against a :func:`scripted_calls.summarize` result."""
    return {k: summary[k] is not None and summary[k] >= v for k, v in GOALS.items()}


def report(outcomes: Sequence[CallOutcome], severities: dict[str, str]) -> dict[str, Any]:
    """Summaries of ``outcomes`` overall, per layout, per language and per both, with the
    goals checked per layout and the mismatched criteria listed."""
    pooled = [measurable(o) for o in outcomes]
    # subset name -> (languages, layouts) it keeps
    subsets: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "all": (scripted_calls.LANGS, scripted_calls.LAYOUTS)}
    for layout in scripted_calls.LAYOUTS:
        subsets[layout] = (scripted_calls.LANGS, (layout,))
    for lang in scripted_calls.LANGS:
        subsets[lang] = ((lang,), scripted_calls.LAYOUTS)
        for layout in scripted_calls.LAYOUTS:
            subsets[f"{lang}_{layout}"] = ((lang,), (layout,))
    out: dict[str, Any] = {}
    for name, (langs, layouts) in subsets.items():
        sub = [o for o in pooled if o.lang in langs and o.layout in layouts]
        if sub:
            out[name] = scripted_calls.summarize(sub, severities)
            if name in scripted_calls.LAYOUTS:
                out[name]["goals_met"] = goals_met(out[name])
    mono = [o for o in outcomes if o.layout == "mono"]
    if mono and any(NOT_MEASURABLE["mono"].intersection(o.expected) for o in mono):
        out["mono_all_labels"] = scripted_calls.summarize(mono, severities)
    out["mismatches"] = [
        {"call_id": o.call_id, "criterion_id": cid, "expected": exp,
         "predicted": o.predicted[cid], "evidence": o.evidence.get(cid, "")}
        for o in outcomes for cid, exp in sorted(o.expected.items())
        if (exp == "fail") != (o.predicted[cid] == "fail")
    ]
    return out


def score_text(rubric_dir: Path, analyzers: CallAnalyzers | None,
               halves: Iterable[str] = labelled_calls.HALVES) -> dict[str, Any]:
    """Both halves of the plan scored as text."""
    sev = scripted_calls.rubric_severities(rubric_dir)
    out: dict[str, Any] = {}
    for half in halves:
        calls = [to_scripted(pc) for pc in labelled_calls.plan(half)]
        out[half] = report(scripted_calls.score_calls(calls, rubric_dir, analyzers), sev)
    return out


def score_conversations(items: Sequence[tuple[PlanEntry, Conversation]], rubric_dir: Path,
                        analyzers: CallAnalyzers | None) -> list[CallOutcome]:
    """Score transcribed calls with ``rubric_dir/customer_service_<lang>.yaml``.

    A labelled criterion the rubric lacks is predicted ``not_applicable`` (its label counts).
    """
    rubrics: dict[str, Rubric] = {}
    outcomes = []
    for entry, conv in items:
        if entry.lang not in rubrics:
            rubrics[entry.lang] = load_rubric(rubric_dir / f"customer_service_{entry.lang}.yaml")
        card = score_conversation(conv, rubrics[entry.lang],
                                  call_meta={"call_id": entry.call_id}, analyzers=analyzers)
        outcomes.append(scripted_calls.outcome_of(card, entry.call_id, entry.lang,
                                                  entry.layout, entry.expected))
    return outcomes


def load_transcribed(audio_dir: Path) -> list[tuple[PlanEntry, Conversation]]:
    """The plan of ``audio_dir`` with each call's ``transcripts/<id>/conversation.json``.

    Raises:
        ConfigError: the plan or a call's transcript is missing.
    """
    items = []
    for entry in read_plan(audio_dir / "plan.json"):
        path = audio_dir / "transcripts" / entry.call_id / "conversation.json"
        if not path.exists():
            raise ConfigError(f"{path} is missing: transcribe the calls first "
                              f"(qa-pipeline transcribe {audio_dir / 'manifest.csv'} "
                              f"--tenant default --out {audio_dir / 'transcripts'})")
        items.append((entry, read_conversation(path)))
    return items


def write_bundle(audio_dir: Path, path: Path) -> int:
    """Store the plan and transcripts of ``audio_dir`` in one gzip JSON file; the call count."""
    plan = json.loads((audio_dir / "plan.json").read_text(encoding="utf-8"))
    items = load_transcribed(audio_dir)
    bundle = {"plan": plan, "transcripts": {e.call_id: c.to_dict() for e, c in items}}
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same transcripts give the same bytes.
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(json.dumps(bundle, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return len(items)


def read_bundle(path: Path) -> list[tuple[PlanEntry, Conversation]]:
    """The plan and transcripts stored by :func:`write_bundle`.

    Raises:
        ConfigError: the file is unreadable or a planned call has no transcript.
    """
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
        plan, transcripts = data["plan"], data["transcripts"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a transcript bundle ({e!r})") from e
    items = []
    for entry in parse_plan(plan, str(path)):
        if entry.call_id not in transcripts:
            raise ConfigError(f"{path}: no transcript for {entry.call_id}")
        items.append((entry, Conversation.from_dict(transcripts[entry.call_id])))
    return items


def score_audio(audio_dir: Path, rubric_dir: Path,
                analyzers: CallAnalyzers | None) -> dict[str, Any]:
    """The transcribed calls of ``audio_dir`` (a rendered folder or a bundle file) rescored
    with the rubrics of ``rubric_dir``."""
    items = read_bundle(audio_dir) if audio_dir.is_file() else load_transcribed(audio_dir)
    halves = sorted({e.half for e, _ in items})
    outcomes = score_conversations(items, rubric_dir, analyzers)
    audio_s = sum(c.duration_s for _, c in items)
    return {"halves": halves, "audio_s": round(audio_s, 1),
            **report(outcomes, scripted_calls.rubric_severities(rubric_dir))}


def _cell(s: Mapping[str, Any]) -> str:
    return (f"{s['fatal_recall']:.3f} / {s['fatal_precision']:.3f} | {s['non_fatal_f1']:.3f} | "
            f"{100 * s['per_call_fatal_agreement']:.1f} %")


def markdown(text: Mapping[str, Any] | None, audio: Mapping[str, Any] | None) -> str:
    """The README tables: headline figures per layout, then per criterion."""
    head = ["| set | calls | fatal recall / precision | non-fatal F1 | per-call fatal agreement |",
            "|---|---:|---:|---:|---:|"]
    columns: list[tuple[str, Mapping[str, Any]]] = []
    if audio:
        for part, label in (("stereo", "stereo"), ("mono", "mono"),
                            ("mono_all_labels", "mono, interruption counted")):
            if part in audio:
                head.append(f"| **test half, audio** ({label}) | {audio[part]['calls']} | "
                            f"{_cell(audio[part])} |")
        columns.append(("test, audio", audio["all"]))
    if text:
        for half in labelled_calls.HALVES:
            for layout in scripted_calls.LAYOUTS:
                s = text[half][layout]
                head.append(f"| {half} half, text ({layout}) | {s['calls']} | {_cell(s)} |")
        columns += [("test, text", text["test"]["all"]), ("tune, text", text["tune"]["all"])]
    head.append(f"| goal (issue 24, test half, each layout) | | {GOALS['fatal_recall']} / "
                f"{GOALS['fatal_precision']} | {GOALS['non_fatal_f1']} | "
                f"{100 * GOALS['per_call_fatal_agreement']:.0f} % |")
    crit = ["", "Per criterion, all calls of each set (precision / recall of violations; "
            "tp fp fn):", "",
            "| criterion | severity | " + " | ".join(n for n, _ in columns) + " |",
            "|---|---|" + "---:|" * len(columns)]
    ids: dict[str, str] = {}
    for _, s in columns:
        for cid, c in s["criteria"].items():
            ids.setdefault(cid, c["severity"])
    for cid, sev in ids.items():
        cells = []
        for _, s in columns:
            c = s["criteria"].get(cid)
            cells.append("" if c is None else
                         f"{c['precision']:.2f} / {c['recall']:.2f} ({c['tp']} {c['fp']} "
                         f"{c['fn']})")
        crit.append(f"| {cid} | {sev} | " + " | ".join(cells) + " |")
    return "\n".join(head + crit) + "\n"


def _print(title: str, result: Mapping[str, Any]) -> None:
    print(f"== {title}")
    for part in ("all", "stereo", "mono", "mono_all_labels", "zh", "en"):
        if part in result:
            s = result[part]
            print(f"  {part:15s} calls {s['calls']:3d}  fatal R/P {s['fatal_recall']:.3f}/"
                  f"{s['fatal_precision']:.3f}  non-fatal F1 {s['non_fatal_f1']:.3f}  "
                  f"per-call fatal agreement {s['per_call_fatal_agreement']:.3f}")


def parse_tag_options(items: Sequence[str]) -> TagOptions:
    """``NAME=VALUE`` pairs as :class:`TagOptions` (values typed as the field's default).

    Raises:
        ConfigError: an unknown field (the message lists the fields) or a malformed value.
    """
    defaults = TagOptions()
    names = [f.name for f in fields(TagOptions)]
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in names:
            raise ConfigError(f"--tag-option {item!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(names)}")
        kind = type(getattr(defaults, name))
        if kind is type(None):  # an optional int that defaults to None (off)
            kind = int
        try:
            if raw.lower() == "none" and getattr(defaults, name) is None:
                values[name] = None
            elif kind is bool:
                if raw.lower() not in ("true", "false"):
                    raise ValueError(raw)
                values[name] = raw.lower() == "true"
            else:
                values[name] = kind(raw)
        except ValueError as e:
            raise ConfigError(f"--tag-option {item!r}: {name} takes a {kind.__name__}") from e
    return TagOptions(**values)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rubric-dir", type=Path, default=REPO / "rubrics",
                    help="folder with customer_service_zh.yaml and customer_service_en.yaml")
    ap.add_argument("--audio-dir", type=Path, default=BUNDLE,
                    help="rendered + transcribed calls (plan.json, transcripts/) or a bundle "
                         "file (default: the committed test half)")
    ap.add_argument("--no-audio", action="store_true", help="skip the transcribed calls")
    ap.add_argument("--no-text", action="store_true", help="skip the text-only scoring")
    ap.add_argument("--write-bundle", type=Path,
                    help="store --audio-dir's plan and transcripts in this file and stop")
    ap.add_argument("--sentiment", default=None,
                    help="sentiment backend (default: the default tenant's; 'none' disables)")
    ap.add_argument("--text-out", type=Path, default=RESULTS / "labelled5_text.json")
    ap.add_argument("--audio-out", type=Path, default=RESULTS / "labelled5_test_audio.json")
    ap.add_argument("--markdown", type=Path, help="also write the README tables here")
    ap.add_argument("--tag-option", action="append", default=[], metavar="NAME=VALUE",
                    help="a TagOptions field for act tagging, e.g. clause_gap_s=0.5 or "
                         "split_clauses=false (repeatable)")
    ap.add_argument("--act-model", type=Path, default=None,
                    help="act weights (.npz) to score with instead of the packaged ones, e.g. the "
                         "embedding-only qa_pipeline/acts/weights/acts_e5small_head.npz")
    args = ap.parse_args(argv)
    from qa_pipeline.acts import use_act_model

    act_model_id = use_act_model(args.act_model)
    if args.write_bundle:
        n = write_bundle(args.audio_dir, args.write_bundle)
        print(f"wrote {n} transcribed calls into {args.write_bundle}")
        return 0
    tag_options = parse_tag_options(args.tag_option)
    analyzers = replace(scripted_calls.default_analyzers(args.sentiment), tag_options=tag_options)
    meta = {"version": __version__, "rubric_dir": str(args.rubric_dir),
            "act_model": act_model_id,
            "tag_options": asdict(tag_options),
            "rubric_versions": {lang: load_rubric(
                args.rubric_dir / f"customer_service_{lang}.yaml").version
                for lang in scripted_calls.LANGS}}
    outputs: list[tuple[Path, dict[str, Any]]] = []
    text: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    if not args.no_text:
        t0 = time.perf_counter()
        text = {**meta, **score_text(args.rubric_dir, analyzers)}
        text["seconds"] = round(time.perf_counter() - t0, 1)
        for half in labelled_calls.HALVES:
            _print(f"text, {half} half", text[half])
        outputs.append((args.text_out, text))
    if not args.no_audio:
        t0 = time.perf_counter()
        where = args.audio_dir.resolve()
        audio = {**meta, "audio_dir": str(where.relative_to(REPO) if where.is_relative_to(REPO)
                                          else where),
                 **score_audio(args.audio_dir, args.rubric_dir, analyzers)}
        audio["seconds"] = round(time.perf_counter() - t0, 1)
        _print(f"transcribed audio, {'+'.join(audio['halves'])} half", audio)
        outputs.append((args.audio_out, audio))
    for path, result in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
        print(f"wrote {path}")
    tables = markdown(text, audio)
    print(tables)
    if args.markdown:
        args.markdown.write_text(tables, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
