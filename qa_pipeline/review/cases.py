"""The trainers' case library: search calls by criterion outcome, sentiment, phrase and
date; tag good and bad examples; suggested exemplars per criterion; case packs (zip of the
evidence clip, a transcript excerpt and the scorecard for each call).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, select

from qa_pipeline.errors import NotFoundError, QAPipelineError, ReviewError
from qa_pipeline.privacy.vault import for_display
from qa_pipeline.review.audio_access import clip_wav, recording_path
from qa_pipeline.store import TenantStore
from qa_pipeline.store.tables import (
    AuditEntry,
    CaseTag,
    ConversationRow,
    ScorecardDocument,
    ScorecardItemRow,
    ScorecardRow,
    utcnow,
)
from qa_pipeline.types import Conversation

LABELS = ("good", "bad")
OUTCOMES = ("pass", "fail", "not_applicable", "needs_review")
_CLIP_PAD_S = 2.0
_CLIP_MAX_S = 30.0
_MAX_CLIPS = 3  # evidence moments per call in a case pack
_EXCERPT_CONTEXT = 2  # utterances before and after the evidence


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """What a trainer looks for; empty fields do not restrict."""

    criterion_id: str = ""
    outcome: str = ""  # the human verdict where there is one, else the automated status
    sentiment: str = ""
    phrase: str = ""
    day_from: str = ""
    day_to: str = ""
    label: str = ""  # only calls tagged good / bad

    def __post_init__(self) -> None:
        if self.outcome and self.outcome not in OUTCOMES:
            raise ReviewError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.label and self.label not in LABELS:
            raise ReviewError(f"label {self.label!r} is not one of {', '.join(LABELS)}")
        if self.outcome and not self.criterion_id:
            raise ReviewError("an outcome needs the criterion it is the outcome of")


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A suggested example of one criterion."""

    scorecard_id: int
    call_id: str
    criterion_id: str
    outcome: str
    evidence_confidence: float | None
    human_confirmed: bool


class CaseLibrary:
    """The case library of one tenant."""

    def __init__(self, tenant: TenantStore, *, audio_roots: Sequence[Path] = (),
                 base_dir: Path | None = None) -> None:
        self.tenant = tenant
        self.audio_roots = tuple(audio_roots)
        self.base_dir = base_dir or Path.cwd()

    def search(self, q: CaseQuery, *, limit: int = 100) -> list[dict[str, Any]]:
        """Current scorecards matching ``q``, newest first, with their tags."""
        c = ScorecardRow
        stmt = select(c.id, c.call_id, c.agent_id, c.call_day, c.total_score, c.grade,
                      c.sentiment_end).where(c.current.is_(True))
        if q.sentiment:
            stmt = stmt.where(c.sentiment_end == q.sentiment)
        if q.day_from:
            stmt = stmt.where(c.call_day >= q.day_from)
        if q.day_to:
            stmt = stmt.where(c.call_day <= q.day_to)
        if q.criterion_id:
            i = ScorecardItemRow
            items = select(i.scorecard_id).where(i.criterion_id == q.criterion_id)
            if q.outcome:
                items = items.where(i.verdict == q.outcome)
            stmt = stmt.where(c.id.in_(items))
        if q.label:
            stmt = stmt.where(c.call_id.in_(select(CaseTag.call_id)
                                            .where(CaseTag.label == q.label)))
        if q.phrase.strip():
            if self.tenant.vault is not None:
                raise ReviewError("this tenant's transcripts are stored encrypted: phrase "
                                  "search is not available")
            stmt = stmt.where(c.call_id.in_(_phrase_calls(q.phrase.strip())))
        stmt = stmt.order_by(c.call_day.desc(), c.id.desc()).limit(limit)
        with self.tenant.session() as s:
            rows = s.execute(stmt).tuples().all()
            tags = self._tags(s, [r[1] for r in rows])
            found = self._criterion_findings(s, q.criterion_id, [r[0] for r in rows])
        return [{"scorecard_id": sid, "call_id": call, "agent_id": agent, "day": day,
                 "total_score": round(score, 2), "grade": grade, "sentiment_end": sent,
                 "tags": tags.get(call, []), **found.get(sid, {})}
                for sid, call, agent, day, score, grade, sent in rows]

    def _criterion_findings(self, s: Any, criterion_id: str, card_ids: list[int]
                            ) -> dict[int, dict[str, Any]]:
        """The searched criterion's verdict, best quote and confidence on each card."""
        if not criterion_id or not card_ids:
            return {}
        from qa_pipeline.store.tables import ScorecardDocument

        out: dict[int, dict[str, Any]] = {}
        for doc in s.scalars(select(ScorecardDocument).where(
                ScorecardDocument.scorecard_id.in_(card_ids))):
            card = self.tenant.unseal(doc.data)
            item = next((i for i in card.get("items") or ()
                         if i.get("criterion_id") == criterion_id), None)
            if item is None:
                continue
            quoted = [e for e in item.get("evidence") or () if e.get("quote")]
            best = max(quoted, key=lambda e: float(e.get("word_probability") or 0.0),
                       default=None)
            out[doc.scorecard_id] = {
                "verdict": (item.get("review") or {}).get("status") or item["status"],
                "quote": best["quote"] if best else "",
                "confidence": best.get("word_probability") if best else None}
        return out

    def criteria(self) -> list[str]:
        """Criterion ids of the tenant's current scorecards (what tags and searches may
        name).
        """
        i = ScorecardItemRow
        with self.tenant.session() as s:
            return list(s.scalars(select(i.criterion_id).where(i.current.is_(True))
                                  .distinct().order_by(i.criterion_id)))

    def history(self, call_id: str) -> list[dict[str, Any]]:
        """Tagging and untagging of one call, oldest first (who, when, what)."""
        with self.tenant.session() as s:
            return [{"at": e.at.isoformat(timespec="seconds"), "actor": e.actor,
                     "action": e.action, "before": e.before, "after": e.after}
                    for e in s.scalars(select(AuditEntry).where(
                        AuditEntry.entity == "call", AuditEntry.entity_id == call_id,
                        AuditEntry.action.in_(("case.tag", "case.untag")))
                        .order_by(AuditEntry.id))]

    @staticmethod
    def _tags(s: Any, call_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        if not call_ids:
            return out
        for t in s.scalars(select(CaseTag).where(CaseTag.call_id.in_(call_ids))
                           .order_by(CaseTag.id)):
            out.setdefault(t.call_id, []).append(
                {"tag_id": t.id, "label": t.label, "criterion_id": t.criterion_id,
                 "note": t.note, "tagged_by": t.tagged_by})
        return out

    def tags(self, call_id: str) -> list[dict[str, Any]]:
        """The tags of one call."""
        with self.tenant.session() as s:
            return self._tags(s, [call_id]).get(call_id, [])

    def tag(self, call_id: str, label: str, *, tagged_by: str, criterion_id: str = "",
            note: str = "") -> int:
        """Mark a call as a good or bad example (of one criterion of its scorecard, or
        overall). Tagging again adds the new note to the old one (both stay readable).

        Raises:
            ReviewError: an unknown label, or a criterion the call's scorecard does not have.
        """
        if label not in LABELS:
            raise ReviewError(f"label {label!r} is not one of {', '.join(LABELS)}")
        with self.tenant.session() as s:
            sid = s.scalar(select(ScorecardRow.id).where(ScorecardRow.call_id == call_id,
                                                         ScorecardRow.current.is_(True))
                           .limit(1))
            if sid is None:
                raise NotFoundError(f"no scored call {call_id!r}")
            if criterion_id:
                known = list(s.scalars(select(ScorecardItemRow.criterion_id).where(
                    ScorecardItemRow.scorecard_id == sid)))
                if criterion_id not in known:
                    raise ReviewError(f"criterion {criterion_id!r} is not on this call's "
                                      f"scorecard; one of: {', '.join(sorted(known))}")
            row = s.scalar(select(CaseTag).where(CaseTag.call_id == call_id,
                                                 CaseTag.criterion_id == criterion_id,
                                                 CaseTag.label == label))
            if row is None:
                row = CaseTag(tenant_id=self.tenant.tenant_id, call_id=call_id,
                              criterion_id=criterion_id, label=label, note=note,
                              tagged_by=tagged_by, created_at=utcnow())
                s.add(row)
            else:
                if note and note not in row.note:
                    row.note = f"{row.note}\n{note}" if row.note else note
                row.tagged_by = tagged_by
            s.flush()
            s.add(AuditEntry(tenant_id=self.tenant.tenant_id, actor=tagged_by,
                             action="case.tag", entity="call", entity_id=call_id, before=None,
                             after={"label": label, "criterion_id": criterion_id,
                                    "note": note}, at=utcnow()))
            return int(row.id)

    def untag(self, tag_id: int, *, actor: str) -> None:
        """Remove a tag."""
        with self.tenant.session() as s:
            row = s.get(CaseTag, tag_id)
            if row is None or row.tenant_id != self.tenant.tenant_id:
                raise NotFoundError(f"no tag {tag_id}")
            before = {"label": row.label, "criterion_id": row.criterion_id, "note": row.note}
            call_id = row.call_id
            s.execute(delete(CaseTag).where(CaseTag.id == tag_id))
            s.add(AuditEntry(tenant_id=self.tenant.tenant_id, actor=actor,
                             action="case.untag", entity="call", entity_id=call_id,
                             before=before, after=None, at=utcnow()))

    def exemplars(self, criterion_id: str, *, per_outcome: int = 5,
                  min_confidence: float = 0.8) -> dict[str, list[Exemplar]]:
        """Clear passes and clear failures of a criterion: final (not awaiting review)
        verdicts whose quoted evidence was transcribed with a word probability of at least
        ``min_confidence``; verdicts a human confirmed first, then by confidence.
        """
        i = ScorecardItemRow
        out: dict[str, list[Exemplar]] = {}
        with self.tenant.session() as s:
            for outcome in ("pass", "fail"):
                confirmed = i.human_status == outcome
                automatic = (i.human_status.is_(None) & (i.status == outcome))
                stmt = (select(ScorecardRow.id, ScorecardRow.call_id, i.evidence_confidence,
                               i.human_status)
                        .join(ScorecardRow, ScorecardRow.id == i.scorecard_id)
                        .where(ScorecardRow.current.is_(True), i.criterion_id == criterion_id,
                               confirmed | automatic,
                               i.evidence_confidence >= min_confidence)
                        .order_by(i.human_status.is_(None), i.evidence_confidence.desc(),
                                  ScorecardRow.id.desc())
                        .limit(per_outcome))
                out[outcome] = [Exemplar(sid, call, criterion_id, outcome, conf, human is not None)
                                for sid, call, conf, human in s.execute(stmt).tuples()]
        return out

    def case_pack(self, call_ids: Sequence[str], *, criterion_id: str = "") -> bytes:
        """A zip with, per call, ``<call>/scorecard.json``, ``<call>/excerpt.txt`` (the
        evidence utterances with context) and one clip per evidence moment, the evidence ± 2 s
        (``<call>/clip.wav``, ``clip_2.wav``, ...; at most three, each at most 30 s; or
        ``clip_missing.txt`` saying why not), plus ``index.json`` and ``index.html`` (a page
        to open in a browser: per call the verdicts, the excerpt and a player per clip). For
        a tenant that stores transcripts encrypted, quotes and excerpts are redacted and
        the clips are beeped where personal data was said.
        """
        if not call_ids:
            raise ReviewError("a case pack needs at least one call")
        buf = io.BytesIO()
        index = []
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for call_id in dict.fromkeys(call_ids):
                stored, conversation, source = self._case(call_id)
                # Packs are for people: redacted (and beeped) where the tenant encrypts.
                shown, card, beeps = for_display(self.tenant.tenant_id, conversation, stored)
                assert card is not None
                conv = shown.to_dict()
                spans = _evidence_spans(card, criterion_id)
                whole = (spans[0][0], spans[-1][1])
                z.writestr(f"{call_id}/scorecard.json",
                           json.dumps(card, ensure_ascii=False, indent=2))
                excerpt = _excerpt(conv, card, whole, criterion_id)
                z.writestr(f"{call_id}/excerpt.txt", excerpt)
                entry: dict[str, Any] = {"call_id": call_id, "grade": card["grade"],
                                         "agent_id": (card.get("call") or {}).get("agent_id"),
                                         "total_score": card["total_score"],
                                         "span_s": [round(whole[0], 2), round(whole[1], 2)],
                                         "clips_s": [[round(a, 2), round(b, 2)]
                                                     for a, b in spans],
                                         "items": [{"criterion_id": i["criterion_id"],
                                                    "severity": i["severity"],
                                                    "status": i["status"]}
                                                   for i in card["items"]
                                                   if not criterion_id
                                                   or i["criterion_id"] == criterion_id],
                                         "tags": self.tags(call_id)}
                try:
                    path = recording_path(source, self.audio_roots, self.base_dir)
                    names = []
                    for k, span in enumerate(spans):
                        name = "clip.wav" if k == 0 else f"clip_{k + 1}.wav"
                        z.writestr(f"{call_id}/{name}", clip_wav(path, *span, beeps=beeps))
                        names.append(name)
                    entry["clip"], entry["clips"] = names[0], names
                except (QAPipelineError, OSError, RuntimeError) as e:
                    z.writestr(f"{call_id}/clip_missing.txt", f"no audio clip: {e}\n")
                    entry["clip"], entry["clips"] = None, []
                entry["excerpt"] = excerpt
                index.append(entry)
            z.writestr("index.json", json.dumps(
                {"tenant_id": self.tenant.tenant_id, "criterion_id": criterion_id,
                 "calls": [{k: v for k, v in e.items() if k != "excerpt"} for e in index]},
                ensure_ascii=False, indent=2))
            z.writestr("index.html", _index_html(self.tenant.tenant_id, criterion_id, index))
        return buf.getvalue()

    def _case(self, call_id: str) -> tuple[dict[str, Any], Conversation, str]:
        """The current card, the conversation and the recording's URI of a scored call."""
        with self.tenant.session() as s:
            card = s.scalar(select(ScorecardDocument.data)
                            .join(ScorecardRow,
                                  ScorecardRow.id == ScorecardDocument.scorecard_id)
                            .where(ScorecardRow.call_id == call_id,
                                   ScorecardRow.current.is_(True)))
        if card is None:
            raise NotFoundError(f"no scored call {call_id!r}")
        conversation, _ = self.tenant.conversation(call_id)
        return (dict(self.tenant.unseal(card)), conversation,
                self.tenant.call(call_id).source_uri)


def _phrase_calls(phrase: str) -> Any:
    # Conversations are stored as JSON text; non-ASCII may be stored escaped (\uXXXX) or
    # as is depending on the driver, so both spellings are searched.
    escaped = json.dumps(phrase)[1:-1]
    text = cast(ConversationRow.data, String)
    cond = text.contains(phrase, autoescape=True)
    if escaped != phrase:
        cond = cond | text.contains(escaped, autoescape=True)
    return select(ConversationRow.call_id).where(cond)


def _evidence_spans(card: dict[str, Any], criterion_id: str) -> list[tuple[float, float]]:
    """The moments a case pack clips: each evidence span ± the pad, overlapping ones merged,
    at most :data:`_MAX_CLIPS` of them (earliest first) and each at most :data:`_CLIP_MAX_S`.
    """
    items = [i for i in card["items"] if not criterion_id or i["criterion_id"] == criterion_id]
    if criterion_id and not items:
        raise NotFoundError(f"the scorecard has no criterion {criterion_id!r}")
    if not criterion_id:  # the findings that make the call an example: its failures
        items = [i for i in items if i.get("kind") != "flag"
                 and i["status"] in ("fail", "needs_review")] or items
    ev = sorted((max(0.0, e["start_s"] - _CLIP_PAD_S), e["end_s"] + _CLIP_PAD_S)
                for i in items for e in i.get("evidence") or () if e["end_s"] > e["start_s"])
    if not ev:
        return [(0.0, _CLIP_MAX_S)]
    merged: list[tuple[float, float]] = []
    for start, end in ev:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [(a, min(b, a + _CLIP_MAX_S)) for a, b in merged[:_MAX_CLIPS]]


def _index_html(tenant_id: str, criterion_id: str, calls: list[dict[str, Any]]) -> str:
    """A page to open from the unpacked zip: verdicts, excerpt and players per call."""
    from html import escape

    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>case pack {escape(tenant_id)}</title>",
             "<style>body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2em}"
             "pre{background:#f5f7fa;padding:.6em;white-space:pre-wrap}"
             "td,th{padding:.2em .6em;border-bottom:1px solid #dde}</style></head><body>",
             f"<h1>Case pack · {escape(tenant_id)}"
             f"{' · ' + escape(criterion_id) if criterion_id else ''}</h1>"]
    for c in calls:
        parts.append(f"<section id='{escape(c['call_id'])}'><h2>{escape(c['call_id'])}"
                     f" · {escape(str(c.get('agent_id') or ''))} · {c['total_score']:.1f}"
                     f" ({escape(c['grade'])})</h2><table><tr><th>criterion</th>"
                     "<th>severity</th><th>verdict</th></tr>")
        parts.extend(f"<tr><td>{escape(i['criterion_id'])}</td><td>{escape(i['severity'])}"
                     f"</td><td>{escape(i['status'])}</td></tr>" for i in c["items"])
        parts.append("</table>")
        for name, (a, b) in zip(c.get("clips") or [], c["clips_s"], strict=False):
            parts.append(f"<p>{a:.1f}–{b:.1f} s <audio controls preload='none' "
                         f"src='{escape(c['call_id'])}/{escape(name)}'></audio></p>")
        if not c.get("clips"):
            parts.append("<p><i>no audio clip (see clip_missing.txt)</i></p>")
        parts.append(f"<pre>{escape(c['excerpt'])}</pre></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _excerpt(conv: dict[str, Any], card: dict[str, Any], span: tuple[float, float],
             criterion_id: str) -> str:
    utts = conv.get("utterances") or []
    inside = [k for k, u in enumerate(utts) if u["end_s"] > span[0] and u["start_s"] < span[1]]
    lo = max(0, (inside[0] if inside else 0) - _EXCERPT_CONTEXT)
    hi = min(len(utts), (inside[-1] + 1 if inside else 0) + _EXCERPT_CONTEXT)
    head = [f"call {card['call_id']}  rubric {card['rubric']}  score {card['total_score']}  "
            f"grade {card['grade']}"]
    for i in card["items"]:
        if not criterion_id or i["criterion_id"] == criterion_id:
            head.append(f"  {i['criterion_id']} [{i['severity']}]: {i['status']}")
    lines = [f"[{u['start_s']:7.2f}-{u['end_s']:7.2f}] {u.get('role', '?'):8} {u['text']}"
             for u in utts[lo:hi]]
    return "\n".join([*head, "", *lines]) + "\n"
