"""Markdown tables from a harness result (the JSON form :func:`run_bench` returns)."""

from __future__ import annotations

from typing import Any


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown_report(result: dict[str, Any]) -> str:
    """Every section the result has, as Markdown."""
    m = result["machine"]
    gpu = m.get("gpu") or "no GPU"
    lines = [f"# Evaluation — {result['date']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {gpu}; torch {m.get('torch')}, "
             f"CTranslate2 {m.get('ctranslate2')}, faster-whisper {m.get('faster_whisper')}; "
             f"pipeline {result['pipeline_version']}.",
             f"Config: collar {result['config']['collar_s']} s (centred on reference "
             f"boundaries), skip overlap {result['config']['skip_overlap']}, device "
             f"{result['config']['device']}.",
             "Manifests: " + ", ".join(f"`{p}`" for p in result["manifests"]), ""]
    if "calls" in result:
        lines += _calls(result["calls"])
    if "asr" in result:
        lines += _asr(result["asr"])
    if "sentiment" in result:
        lines += _sentiment(result["sentiment"])
    lines.append(f"Total harness wall time: {result['total_wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def _calls(calls: dict[str, Any]) -> list[str]:
    s = calls["summary"]
    out = [f"## Calls through the pipeline ({s['calls']} calls, {s['failed']} failed)", ""]
    sources = s["by_source"]
    if any(v["diarization"] or v["roles"] or v["asr"] for v in sources.values()):
        out += ["| source | calls | DER | missed | false alarm | confusion | role accuracy "
                "| role coverage | WER | CER |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, v in sources.items():
            d, r, a = v["diarization"], v["roles"], v["asr"]
            out.append(
                f"| {name} | {v['calls']} | {_pct(d['der']) if d else '–'} | "
                f"{_pct(d['missed']) if d else '–'} | {_pct(d['false_alarm']) if d else '–'} | "
                f"{_pct(d['confusion']) if d else '–'} | {_pct(r['accuracy']) if r else '–'} | "
                f"{_pct(r['coverage']) if r else '–'} | "
                f"{_pct(a['word']['rate']) if 'word' in a else '–'} | "
                f"{_pct(a['char']['rate']) if 'char' in a else '–'} |")
        out.append("")
    if "criteria" in s:
        k = s["kpi"]
        out += [f"### Criteria against labels ({k['labelled_calls']} labelled calls; a "
                "positive is a violation, `needs_review` counted by its provisional verdict)",
                "", "| criterion | severity | tp | fp | fn | tn | precision | recall | F1 "
                "| needs review |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for cid, c in s["criteria"].items():
            n = c["counts"]
            sev = c["severity"] + (" (flag)" if c["kind"] != "error" else "")
            out.append(f"| {cid} | {sev} | {n['tp']} | {n['fp']} | {n['fn']} | {n['tn']} | "
                       f"{n['precision']:.3f} | {n['recall']:.3f} | {n['f1']:.3f} | "
                       f"{c['needs_review']} |")
        f, nf = s["fatal"], s["non_fatal"]
        fea, nfea = k["fatal_error_accuracy"], k["non_fatal_error_accuracy"]
        out += ["", f"Fatal criteria pooled: precision {f['precision']:.3f}, recall "
                f"{f['recall']:.3f}; non-fatal: F1 {nf['f1']:.3f} (P {nf['precision']:.3f}, "
                f"R {nf['recall']:.3f}).",
                f"Fatal-error accuracy (1 − fatal calls / calls): reference "
                f"{_pct(fea['reference'])}, pipeline {_pct(fea['pipeline'])}, per-call "
                f"agreement {_pct(fea['call_agreement'])}. Non-fatal-error accuracy: reference "
                f"{_pct(nfea['reference'])}, pipeline {_pct(nfea['pipeline'])}, agreement "
                f"{_pct(nfea['call_agreement'])}.", ""]
    sp = calls["speed"]
    out += ["### Speed and cost", "",
            "| run | calls | audio s | wall s | CPU s | GPU s | RTF | calls / hour "
            "| peak RSS MB | peak GPU MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("pipeline", "naive"):
        if name in sp:
            r = sp[name]
            out.append(f"| {name} | {r['calls']} | {r['audio_s']:.0f} | {r['wall_s']:.1f} | "
                       f"{r['cpu_s']:.1f} | {r['gpu_s']:.1f} | {_num(r['rtf'], 3)} | "
                       f"{_num(r['calls_per_hour'], 0)} | {r['peak_rss_mb']:.0f} | "
                       f"{_num(r['peak_gpu_mb'], 0)} |")
    if "speedup_vs_naive" in sp:
        same = sp["same_verdicts"]
        out += ["", f"Speed-up over the naive baseline (same files, same process): "
                f"**{sp['speedup_vs_naive']:.2f}×**; identical verdicts on "
                f"{same['calls']} of {same['of']} calls."]
    stages = sp["pipeline"]["stages"]
    out += ["", "Pipeline stages (wall / CPU / GPU s): " + "; ".join(
        f"{k} {v['wall_s']:.1f} / {v['cpu_s']:.1f} / {v['gpu_s']:.1f}"
        for k, v in stages.items())]
    fine = sp["pipeline"].get("stage_wall_s")
    if fine:
        out.append("Wall seconds inside the stages: " + ", ".join(
            f"{k} {v:.1f}" for k, v in fine.items()) + ".")
    failed = [r for r in calls["per_call"] if "error" in r]
    if failed:
        out += ["", "Failed calls: " + "; ".join(f"{r['call']}: {r['error']}" for r in failed)]
    return out + [""]


def _asr(asr: dict[str, Any]) -> list[str]:
    out = [f"## ASR on clips ({asr['model']})", "",
           "| source | clips | WER | CER | S / D / I | reference units |",
           "|---|---:|---:|---:|---:|---:|"]
    # Word-scored sources first, then character-scored ones, each with its pooled row last.
    rows = sorted(((unit, name == "all", name, c) for name, by_unit in asr["summary"].items()
                   for unit, c in by_unit.items()), key=lambda r: (r[0] != "word", r[1], r[2]))
    for unit, _, name, c in rows:
        rate = _pct(c["rate"])
        out.append(f"| {'**all**' if name == 'all' else name} | {c['items']} | "
                   f"{rate if unit == 'word' else '–'} | {rate if unit == 'char' else '–'} "
                   f"| {c['substitutions']} / {c['deletions']} / {c['insertions']} | "
                   f"{c['reference_units']} |")
    sp = asr["speed"]
    asr_s = sp["stages"].get("asr", {}).get("wall_s", 0.0)
    out += ["", f"{sp['audio_s']:.0f} s of audio transcribed in {sp['wall_s']:.1f} s "
            f"(RTF {_num(sp['rtf'], 3)}, ASR stage {asr_s:.1f} s); {asr['failed']} clip(s) "
            "failed.", ""]
    return out


def _sentiment(sent: dict[str, Any]) -> list[str]:
    if "error" in sent:
        return [f"## Sentiment: {sent['error']}", ""]
    out = [f"## Sentiment ({sent['model']})", "",
           "| source | sentences | macro-F1 | F1 negative / neutral / positive |",
           "|---|---:|---:|---:|"]
    for name, v in sent["by_source"].items():
        per = v["f1"]
        out.append(f"| {'**all**' if name == 'all' else name} | {v['sentences']} | "
                   f"{v['macro_f1']:.3f} | " + " / ".join(
                       _num(per.get(k), 3) for k in ("negative", "neutral", "positive")) + " |")
    return out + [""]
