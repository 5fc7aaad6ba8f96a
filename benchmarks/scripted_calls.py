"""Score scripted (text-only) calls with a rubric and compare the verdicts with their labels.

    python benchmarks/scripted_calls.py benchmarks/heldout/calls_zh.jsonl \
        benchmarks/heldout/calls_en.jsonl [--rubric-dir rubrics] [--out result.json]

A scripted call is one JSON line (format in the acts interface of issue 24)::

    {"id": "en_h07", "lang": "en", "industry": "telecom", "layout": "stereo",
     "turns": [{"role": "agent", "text": "..."}, {"role": "customer", "text": "..."}],
     "expected": {"greeting": "pass", "identity_verification": "fail", ...},
     "notes": "what was planted"}

Each turn becomes one utterance of a :class:`qa_pipeline.types.Conversation` (no ASR: every
word has probability 1.0, roles are as given). Its duration comes from the text length
(zh 4.5 characters a second, en 2.6 words a second) with 0.6 s between turns; ``layout``
"stereo" puts the agent on channel 0 and the customer on channel 1, "mono" gives no channels
and changes nothing else. The conversation is scored by
:func:`qa_pipeline.pipeline.score_conversation`, the function ``qa-pipeline score`` applies to a
``conversation.json``, with the default tenant's analyzers and the rubric
``RUBRIC_DIR/customer_service_<lang>.yaml``.

A "positive" is a violation: the label ``fail`` (for flags: raised). The prediction is the
criterion's provisional verdict (what the automation decided, before any human review), as in
:mod:`qa_pipeline.rubric.evaluation`. Reported: per-criterion tp/fp/fn/tn with precision,
recall and F1; fatal recall and precision (pooled over the fatal criteria); non-fatal F1
(pooled over the labelled non-fatal criteria); per-call fatal agreement (the call has a fatal
violation or not, expected versus predicted); status agreement (pass / fail /
not_applicable equal); all of it for every call, per layout and per language.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa_pipeline.bench.metrics import BinaryCounts  # noqa: E402
from qa_pipeline.errors import ConfigError  # noqa: E402
from qa_pipeline.pipeline import CallAnalyzers, analyzers_for, score_conversation  # noqa: E402
from qa_pipeline.rubric.loader import load_rubric  # noqa: E402
from qa_pipeline.rubric.schema import Rubric  # noqa: E402
from qa_pipeline.tenants import load_tenant  # noqa: E402
from qa_pipeline.types import Conversation, Provenance, Role, Utterance, Word  # noqa: E402
from qa_pipeline.version import __version__  # noqa: E402

ZH_CHARS_PER_S = 4.5
EN_WORDS_PER_S = 2.6
GAP_S = 0.6
MIN_TURN_S = 0.3
LANGS = ("zh", "en")
LAYOUTS = ("stereo", "mono")
STATUSES = ("pass", "fail", "not_applicable")
ROLES = ("agent", "customer")

# zh: one "word" per CJK character or run of Latin letters / digits, punctuation attached to
# the token before it (as Whisper's zh tokens are); en: whitespace-separated words.
_ZH_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'%.\-]*|[^\sA-Za-z0-9]")


@dataclass(frozen=True)
class ScriptedTurn:
    """One turn of a scripted call."""

    role: str
    text: str


@dataclass(frozen=True)
class ScriptedCall:
    """A scripted call with its expected criterion statuses."""

    id: str
    lang: str
    industry: str
    layout: str
    turns: tuple[ScriptedTurn, ...]
    expected: dict[str, str]
    notes: str = ""


@dataclass(frozen=True)
class CallOutcome:
    """Expected and predicted statuses of one scored call."""

    call_id: str
    lang: str
    layout: str
    expected: dict[str, str]
    predicted: dict[str, str]
    evidence: dict[str, str]


def parse_call(data: dict[str, Any], where: str = "") -> ScriptedCall:
    """Validate one JSON object as a scripted call.

    Raises:
        ConfigError: a field is missing or has a value outside the format.
    """
    try:
        call = ScriptedCall(
            id=str(data["id"]), lang=str(data["lang"]), industry=str(data.get("industry", "")),
            layout=str(data.get("layout", "stereo")),
            turns=tuple(ScriptedTurn(str(t["role"]), str(t["text"])) for t in data["turns"]),
            expected={str(k): str(v) for k, v in data["expected"].items()},
            notes=str(data.get("notes", "")))
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{where}: not a scripted call ({e!r})") from e
    if call.lang not in LANGS:
        raise ConfigError(f"{where}: lang {call.lang!r} is not one of {LANGS}")
    if call.layout not in LAYOUTS:
        raise ConfigError(f"{where}: layout {call.layout!r} is not one of {LAYOUTS}")
    if not call.turns:
        raise ConfigError(f"{where}: call {call.id} has no turns")
    for t in call.turns:
        if t.role not in ROLES or not t.text.strip():
            raise ConfigError(f"{where}: call {call.id} has a turn with role {t.role!r} "
                              f"(valid: {ROLES}) or empty text")
    for cid, status in call.expected.items():
        if status not in STATUSES:
            raise ConfigError(f"{where}: call {call.id}: {cid} = {status!r}, valid: {STATUSES}")
    return call


def load_calls(paths: Iterable[str | Path]) -> list[ScriptedCall]:
    """Read scripted calls from JSON Lines files (blank lines are skipped).

    Raises:
        ConfigError: a file cannot be read, a line is not JSON or not a call, or an id repeats.
    """
    calls: list[ScriptedCall] = []
    seen: set[str] = set()
    for path in paths:
        p = Path(path)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ConfigError(f"{p}: cannot read ({e})") from e
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as e:
                raise ConfigError(f"{p}:{n}: not JSON ({e})") from e
            call = parse_call(data, f"{p}:{n}")
            if call.id in seen:
                raise ConfigError(f"{p}:{n}: call id {call.id!r} repeats")
            seen.add(call.id)
            calls.append(call)
    return calls


def _tokens(text: str, lang: str) -> list[str]:
    if lang == "zh":
        out: list[str] = []
        for tok in _ZH_TOKEN.findall(text):
            if out and not tok[0].isalnum():
                out[-1] += tok
            else:
                out.append(tok)
        return out or [text.strip()]
    return text.split() or [text.strip()]


def turn_duration_s(text: str, lang: str) -> float:
    """Speaking time of a turn: zh 4.5 characters a second, en 2.6 words a second."""
    if lang == "zh":
        units = sum(ch.isalnum() for ch in text)
        return max(MIN_TURN_S, units / ZH_CHARS_PER_S)
    return max(MIN_TURN_S, len(text.split()) / EN_WORDS_PER_S)


def to_conversation(call: ScriptedCall, tenant_id: str = "default") -> Conversation:
    """The call as a Conversation: one utterance per turn, words spread over its duration."""
    stereo = call.layout == "stereo"
    utterances = []
    t = 0.0
    for i, turn in enumerate(call.turns):
        dur = turn_duration_s(turn.text, call.lang)
        toks = _tokens(turn.text, call.lang)
        weights = [max(1, sum(ch.isalnum() for ch in tok)) for tok in toks]
        total = float(sum(weights))
        words = []
        w0 = t
        for tok, w in zip(toks, weights, strict=True):
            w1 = w0 + dur * w / total
            words.append(Word(w0, w1, tok, 1.0))
            w0 = w1
        role = Role(turn.role)
        channel = (0 if role is Role.AGENT else 1) if stereo else None
        utterances.append(Utterance(i, f"spk_{turn.role}", role, 1.0, t, t + dur,
                                    turn.text.strip(), call.lang, tuple(words), channel))
        t += dur + GAP_S
    duration = t - GAP_S + 0.5
    prov = Provenance(__version__, "channel" if stereo else "scripted", "scripted", "scripted",
                      "scripted", "scripted", notes=(f"scripted call, layout {call.layout}",))
    return Conversation(call.id, tenant_id, duration, call.lang, tuple(utterances), prov,
                        source_path=f"scripted:{call.id}", channels=2 if stereo else 1)


def default_analyzers(sentiment: str | None = None) -> CallAnalyzers:
    """The default tenant's analyzers, as ``qa-pipeline score`` builds them."""
    return analyzers_for(load_tenant("default"), sentiment)


def score_calls(calls: Sequence[ScriptedCall], rubric_dir: str | Path = REPO / "rubrics",
                analyzers: CallAnalyzers | None = None) -> list[CallOutcome]:
    """Score every call with ``rubric_dir/customer_service_<lang>.yaml``.

    A labelled criterion that the rubric lacks is predicted ``not_applicable`` (its label
    still counts), so a rubric that drops a criterion cannot look better for it.
    """
    rubrics: dict[str, Rubric] = {}
    outcomes = []
    for call in calls:
        if call.lang not in rubrics:
            rubrics[call.lang] = load_rubric(
                Path(rubric_dir) / f"customer_service_{call.lang}.yaml")
        card = score_conversation(to_conversation(call), rubrics[call.lang],
                                  call_meta={"call_id": call.id}, analyzers=analyzers)
        outcomes.append(outcome_of(card, call.id, call.lang, call.layout, call.expected))
    return outcomes


def outcome_of(card: Any, call_id: str, lang: str, layout: str,
               expected: Mapping[str, str]) -> CallOutcome:
    """A scored call's provisional verdicts (and up to three evidence quotes) for the
    criteria ``expected`` labels; a criterion the rubric lacks counts as not applicable.
    """
    predicted: dict[str, str] = {}
    evidence: dict[str, str] = {}
    for item in card.items:
        r = item.result
        predicted[r.criterion_id] = r.provisional_status.value
        if r.evidence:
            evidence[r.criterion_id] = " | ".join(
                f"#{e.utterance_index} {e.quote}" for e in r.evidence[:3])
    return CallOutcome(call_id, lang, layout, dict(expected),
                       {cid: predicted.get(cid, "not_applicable") for cid in expected},
                       {cid: evidence[cid] for cid in expected if cid in evidence})


def rubric_severities(rubric_dir: str | Path = REPO / "rubrics") -> dict[str, str]:
    """Criterion id -> severity, over the zh and en default rubrics."""
    out: dict[str, str] = {}
    for lang in LANGS:
        rubric = load_rubric(Path(rubric_dir) / f"customer_service_{lang}.yaml")
        for _, c in rubric.criteria():
            out[c.id] = c.severity
    return out


def _counts_dict(c: BinaryCounts) -> dict[str, float]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.to_dict().items()}


def summarize(outcomes: Sequence[CallOutcome], severities: dict[str, str]) -> dict[str, Any]:
    """Per-criterion and pooled figures over ``outcomes`` (see the module docstring)."""
    per: dict[str, BinaryCounts] = {}
    agree: dict[str, int] = {}
    labelled: dict[str, int] = {}
    fatal = BinaryCounts()
    non_fatal = BinaryCounts()
    calls_agree = 0
    for o in outcomes:
        exp_fatal = pred_fatal = False
        for cid, exp in o.expected.items():
            pred = o.predicted[cid]
            truth, guess = exp == "fail", pred == "fail"
            per[cid] = per.get(cid, BinaryCounts()).add(truth, guess)
            agree[cid] = agree.get(cid, 0) + (exp == pred)
            labelled[cid] = labelled.get(cid, 0) + 1
            if severities.get(cid) == "fatal":
                fatal = fatal.add(truth, guess)
                exp_fatal |= truth
                pred_fatal |= guess
            else:
                non_fatal = non_fatal.add(truth, guess)
        calls_agree += exp_fatal == pred_fatal
    n = len(outcomes)
    return {
        "calls": n,
        "fatal_recall": round(fatal.recall, 4),
        "fatal_precision": round(fatal.precision, 4),
        "fatal_counts": _counts_dict(fatal),
        "non_fatal_f1": round(non_fatal.f1, 4),
        "non_fatal_counts": _counts_dict(non_fatal),
        "per_call_fatal_agreement": round(calls_agree / n, 4) if n else None,
        "criteria": {
            cid: {"severity": severities.get(cid, "unknown"), **_counts_dict(c),
                  "status_agreement": round(agree[cid] / labelled[cid], 4)}
            for cid, c in sorted(per.items())
        },
    }


def evaluate(calls: Sequence[ScriptedCall], rubric_dir: str | Path = REPO / "rubrics",
             analyzers: CallAnalyzers | None = None) -> dict[str, Any]:
    """Score ``calls`` and summarise: overall, per layout, per language, and the mismatches."""
    outcomes = score_calls(calls, rubric_dir, analyzers)
    sev = rubric_severities(rubric_dir)
    result: dict[str, Any] = {"rubric_dir": str(rubric_dir), "all": summarize(outcomes, sev)}
    for layout in LAYOUTS:
        sub = [o for o in outcomes if o.layout == layout]
        if sub:
            result[layout] = summarize(sub, sev)
    for lang in LANGS:
        sub = [o for o in outcomes if o.lang == lang]
        if sub:
            result[lang] = summarize(sub, sev)
    result["mismatches"] = [
        {"call_id": o.call_id, "criterion_id": cid, "expected": exp,
         "predicted": o.predicted[cid], "evidence": o.evidence.get(cid, "")}
        for o in outcomes for cid, exp in o.expected.items()
        if (exp == "fail") != (o.predicted[cid] == "fail")
    ]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("calls", nargs="+", type=Path, help="scripted calls (JSON Lines)")
    ap.add_argument("--rubric-dir", type=Path, default=REPO / "rubrics",
                    help="folder with customer_service_zh.yaml and customer_service_en.yaml")
    ap.add_argument("--sentiment", default=None,
                    help="sentiment backend (default: the default tenant's; 'none' disables)")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    args = ap.parse_args(argv)
    result = evaluate(load_calls(args.calls), args.rubric_dir, default_analyzers(args.sentiment))
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    for part in ("all", *LAYOUTS, *LANGS):
        if part in result:
            s = result[part]
            print(f"{part:7s} calls {s['calls']:3d}  fatal R/P {s['fatal_recall']:.3f}/"
                  f"{s['fatal_precision']:.3f}  non-fatal F1 {s['non_fatal_f1']:.3f}  "
                  f"per-call fatal agreement {s['per_call_fatal_agreement']:.3f}")
    if not args.out:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
