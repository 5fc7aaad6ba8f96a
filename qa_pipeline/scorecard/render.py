"""Write ``scorecard.json`` and a readable, self-contained ``scorecard.html``."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from qa_pipeline.scorecard.card import Scorecard
from qa_pipeline.types import Conversation

_STATUS_COLOURS = {"pass": "#1b7f3b", "fail": "#b3261e", "not_applicable": "#777",
                   "needs_review": "#b26a00"}
_ROLE_COLOURS = {"agent": "#1a5fb4", "customer": "#8f3f71", "unknown": "#555"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2rem auto;max-width:64rem;color:#222;line-height:1.45}
h1{font-size:1.4rem;margin-bottom:.2rem} .muted{color:#666;font-size:.9rem}
.score{font-size:2.4rem;font-weight:700} .badge{display:inline-block;padding:.1rem .5rem;
border-radius:.3rem;color:#fff;font-size:.85rem;margin-left:.4rem}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #ddd;
padding:.35rem .5rem;text-align:left;vertical-align:top} th{background:#f4f4f4}
.ev{font-size:.88rem;margin:.2rem 0 .2rem .8rem} .ts{font-family:monospace;color:#555}
.utt{margin:.15rem 0} .role{font-weight:600;display:inline-block;min-width:5.5rem}
"""


def _ts(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:05.2f}"


def _badge(text: str, colour: str) -> str:
    return f'<span class="badge" style="background:{colour}">{html.escape(text)}</span>'


def _page_lang(card: Scorecard, conversation: Conversation | None) -> str:
    """The page's language: the call's (zh -> zh-CN), else undetermined."""
    lang = (conversation.language if conversation else "") or str(
        (card.call or {}).get("language") or "")
    return "zh-CN" if lang.startswith("zh") else (lang or "und")


def render_html(card: Scorecard, conversation: Conversation | None = None, *,
                audio_href: str | None = None) -> str:
    """A standalone HTML page for QA monitors (no scripts, no external assets).

    ``audio_href`` links the recording (relative to the page, or a URL). The page is a
    snapshot taken when the call was scored: it says so, because reviews and disputes
    change the scorecard in the review app, not this file.
    """
    e = html.escape
    d = card.to_dict()
    flags = []
    if card.has_fatal:
        flags.append(_badge("FATAL", "#b3261e"))
    if card.pending_fatal:
        flags.append(_badge("fatal pending review", "#b26a00"))
    if card.needs_review:
        flags.append(_badge("needs review", "#b26a00"))
    call = d.get("call") or {}
    meta = " · ".join(f"{k}: {e(str(v))}" for k, v in call.items() if v)
    parts = [
        f"<!doctype html><html lang='{_page_lang(card, conversation)}'><head>"
        "<meta charset='utf-8'>",
        f"<title>Scorecard {e(card.call_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Scorecard — call {e(card.call_id)}</h1>",
        f"<div class='muted'>tenant {e(card.tenant_id)} · rubric {e(card.rubric_ref)}"
        f"{' · ' + meta if meta else ''}</div>",
        f"<p><span class='score'>{card.total_score:.1f}</span> / 100 "
        f"{_badge(f'{card.grade} {card.grade_label}', '#333')}{''.join(flags)}</p>",
        f"<p class='muted' id='snapshot'>Snapshot of the automated scoring at "
        f"{e(card.created_at)}. Reviews, overturned items and disputes decided later change "
        "the scorecard in the review app (qa-pipeline serve), not this file.</p>",
        (f"<p><a id='recording' href='{e(audio_href, quote=True)}'>Recording</a> "
         f"<audio controls preload='none' src='{e(audio_href, quote=True)}'></audio></p>"
         if audio_href else ""),
        "<h2>Sections</h2><table><tr><th>Section</th><th>Weight</th><th>Score</th></tr>",
    ]
    for s in card.sections:
        note = " (zeroed by fatal error)" if s.knocked_out else ("" if s.applicable else " (n/a)")
        parts.append(f"<tr><td>{e(s.title or s.section_id)}</td><td>{s.weight:g}</td>"
                     f"<td>{s.score:.1f}{note}</td></tr>")
    parts.append("</table><h2>Items</h2><table><tr><th>Criterion</th><th>Severity</th>"
                 "<th>Status</th><th>Points</th><th>Finding and evidence</th></tr>")
    for item in card.items:
        r = item.result
        status = r.status.value
        colour = _STATUS_COLOURS.get(status, "#333")
        shown = (status if status != "needs_review"
                 else f"needs review ({r.provisional_status.value})")
        points = (f"{item.points_earned:g}/{item.points_possible:g}" if item.points_possible
                  else (f"−{item.deduction:g}" if item.deduction else "—"))
        evidence = "".join(
            f"<div class='ev'><span class='ts'>[{_ts(ev.start_s)}–{_ts(ev.end_s)}]</span> "
            f"<b style='color:{_ROLE_COLOURS.get(ev.role.value, '#333')}'>{e(ev.role.value)}</b>: "
            f"“{e(ev.quote)}”"
            + (f" <span class='muted'>({e(ev.match.method)} match of “{e(ev.match.pattern)}”,"
               f" p={ev.word_probability:.2f})</span>" if ev.match else
               (f" <span class='muted'>{e(ev.note)}</span>" if ev.note else ""))
            + "</div>"
            for ev in r.evidence
        )
        review = f"<div class='muted'>review: {e(r.review_reason)}</div>" if r.review_reason else ""
        kind = " (flag)" if r.kind == "flag" else ""
        parts.append(
            f"<tr><td><b>{e(r.criterion_id)}</b><div class='muted'>{e(r.description)}</div></td>"
            f"<td>{e(r.severity)}{kind}</td><td style='color:{colour}'><b>{e(shown)}</b></td>"
            f"<td>{points}</td><td>{e(r.message)}{review}{evidence}</td></tr>"
        )
    parts.append("</table>")
    values = (card.metrics or {}).get("values", {})
    if values:
        parts.append("<h2>Metrics</h2><table>")
        for k, v in values.items():
            shown_v = "—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
            parts.append(f"<tr><td>{e(k)}</td><td>{shown_v}</td></tr>")
        parts.append("</table>")
    parts.extend(_emotion_html(d, conversation.duration_s if conversation else None))
    if conversation is not None:
        labels = {i["utterance_index"]: i for i in (d.get("sentiment") or {}).get("items", [])}
        parts.append("<h2>Transcript</h2>")
        for u in conversation.utterances:
            mood = labels.get(u.index)
            tag = (f" <span class='muted'>[{e(mood['label'])} {mood['score']:+.2f}]</span>"
                   if mood and mood["label"] != "neutral" else "")
            parts.append(
                f"<div class='utt'><span class='ts'>[{_ts(u.start_s)}]</span> "
                f"<span class='role' style='color:{_ROLE_COLOURS.get(u.role.value, '#333')}'>"
                f"{e(u.role.value)}</span> {e(u.text)}{tag}</div>"
            )
    prov = card.provenance
    parts.append("<h2>Provenance</h2><table>" + "".join(
        f"<tr><td>{e(str(k))}</td><td>{e(json.dumps(v, ensure_ascii=False))}</td></tr>"
        for k, v in prov.items()) + "</table>")
    parts.append(f"<p class='muted'>created {e(card.created_at)}</p></body></html>")
    return "\n".join(parts)


def _sentiment_svg(curve: list[dict[str, Any]], duration_s: float) -> str:
    """Customer valence (solid) and arousal (dashed) over the call, as inline SVG."""
    width, height, pad = 640, 160, 24

    def xy(t: float, v: float) -> tuple[str, str]:
        x = pad + (width - 2 * pad) * min(max(t / max(duration_s, 1e-6), 0.0), 1.0)
        y = pad + (height - 2 * pad) * (1.0 - (v + 1.0) / 2.0)
        return f"{x:.1f}", f"{y:.1f}"

    points = [(p, xy(p["t_s"], p["valence"])) for p in curve]
    valence = " ".join(f"{x},{y}" for _, (x, y) in points)
    arousal = " ".join(",".join(xy(p["t_s"], p["arousal"])) for p in curve
                       if p["arousal"] is not None)
    dots = "".join(
        f"<circle cx='{x}' cy='{y}' r='3' fill='#8f3f71'>"
        f"<title>{_ts(p['t_s'])} valence {p['valence']:+.2f}</title></circle>"
        for p, (x, y) in points)
    zero = xy(0, 0)[1]
    return (
        f"<svg role='img' aria-label='customer sentiment over the call' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' style='background:#fafafa'>"
        f"<line x1='{pad}' y1='{zero}' x2='{width - pad}' y2='{zero}' stroke='#ccc'/>"
        f"<text x='2' y='{pad + 4}' font-size='10' fill='#666'>+1</text>"
        f"<text x='2' y='{height - pad + 4}' font-size='10' fill='#666'>−1</text>"
        f"<text x='{width - pad}' y='{height - 6}' font-size='10' fill='#666' "
        f"text-anchor='end'>{_ts(duration_s)}</text>"
        + (f"<polyline points='{arousal}' fill='none' stroke='#e08a00' "
           f"stroke-dasharray='4 3'/>" if arousal else "")
        + f"<polyline points='{valence}' fill='none' stroke='#8f3f71' stroke-width='2'/>{dots}"
        "</svg>"
    )


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def _emotion_html(d: dict[str, Any], duration_s: float | None) -> list[str]:
    e = html.escape
    parts: list[str] = []
    reason = d.get("call_reason")
    if reason:
        parts.append(f"<h2>Call reason</h2><p><b>{e(reason['label'])}</b> "
                     f"<span class='muted'>(confidence {reason['confidence']:.2f}, "
                     f"{e(reason['method'])}, {e(reason['taxonomy'])})</span></p>")
    emotion = d.get("emotion")
    if not emotion:
        return parts
    parts.append("<h2>Customer emotion</h2>")
    curve = emotion.get("curve") or []
    if curve:
        end = duration_s or max(p["t_s"] for p in curve) + 1.0
        parts.append(_sentiment_svg(curve, end))
        parts.append("<div class='muted'>solid: valence from text (−1 negative … +1 "
                     "positive); dashed: acoustic arousal (calm … agitated)</div>")
    rows = []
    for phase in ("start", "middle", "end"):
        p = emotion["customer"][phase]
        rows.append(f"<tr><td>{phase}</td><td>{_signed(p['valence'])}</td>"
                    f"<td>{_signed(p['arousal'])}</td></tr>")
    # Thirds of the customer's speech: not the end-of-call sentiment criterion (its last
    # utterances), which the items table shows as the verdict.
    parts.append("<table><tr><th>Third of the customer's speech</th><th>Valence</th>"
                 "<th>Arousal</th></tr>"
                 + "".join(rows) + "</table>")
    for key, title in (("escalation", "Escalation"), ("complaint_intent", "Complaint intent")):
        f = emotion[key]
        verdict = _badge("yes", "#b3261e") if f["detected"] else _badge("no", "#1b7f3b")
        parts.append(f"<p>{title}: {verdict} <span class='muted'>{e(f['reason'])}</span></p>")
    return parts


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_scorecard(card: Scorecard, out_dir: str | os.PathLike[str],
                    conversation: Conversation | None = None, *,
                    recording: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Write ``<out>/<call_id>/scorecard.json`` and ``scorecard.html`` atomically.

    ``recording``: the call's audio (a local file, linked relative to the page, or a URL).
    """
    target = Path(out_dir) / card.call_id
    target.mkdir(parents=True, exist_ok=True)
    json_path = target / "scorecard.json"
    html_path = target / "scorecard.html"
    data: dict[str, Any] = card.to_dict()
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=1))
    _atomic_write(html_path, render_html(card, conversation,
                                         audio_href=_audio_href(recording, target)))
    return {"json": json_path, "html": html_path}


def _audio_href(recording: str | os.PathLike[str] | None, page_dir: Path) -> str | None:
    """A link from the page to the recording: a URL as is, a local file relative to the page
    (so an output folder can be moved together with the recordings beside it).
    """
    if recording is None or str(recording) == "":
        return None
    text = str(recording)
    if "://" in text and not text.startswith("file://"):
        return text
    path = Path(text.removeprefix("file://")).resolve()
    try:
        return Path(os.path.relpath(path, page_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_uri()
