"""Redaction of text, conversations (utterance text and word spans) and audio spans."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_pipeline.privacy.detect import KINDS, PiiSpan, detect
from qa_pipeline.types import Conversation, Utterance, Word


def placeholder(kind: str) -> str:
    """What replaces a mention in text, such as ``[PHONE]`` or ``[CN_ID]``."""
    return f"[{kind.upper()}]"


def redact_text(text: str, kinds: tuple[str, ...] = KINDS) -> tuple[str, list[PiiSpan]]:
    """``text`` with every mention replaced by its placeholder, and the mentions removed."""
    spans = detect(text, kinds)
    return _apply(text, spans), spans


@dataclass(frozen=True, slots=True)
class RedactedSpan:
    """A removed mention located in the call: utterance, kind, and the seconds it covered
    (the words that said it), for beeping the audio.
    """

    utterance_index: int
    kind: str
    start_s: float
    end_s: float
    spoken: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"utterance_index": self.utterance_index, "kind": self.kind,
                "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "spoken": self.spoken}


def _word_offsets(text: str, words: tuple[Word, ...]) -> list[tuple[int, int] | None]:
    offsets: list[tuple[int, int] | None] = []
    pos = 0
    for w in words:
        token = w.text.strip()
        i = text.find(token, pos) if token else -1
        if i < 0:
            offsets.append(None)
            continue
        offsets.append((i, i + len(token)))
        pos = i + len(token)
    return offsets


def _apply(text: str, spans: list[PiiSpan]) -> str:
    out, pos = [], 0
    for sp in sorted(spans, key=lambda x: x.start):
        out.append(text[pos:sp.start])
        out.append(placeholder(sp.kind))
        pos = sp.end
    out.append(text[pos:])
    return "".join(out)


def _redact_utterance(u: Utterance, spans: list[PiiSpan]
                      ) -> tuple[Utterance, list[RedactedSpan]]:
    if not spans:
        return u, []
    offsets = _word_offsets(u.text, u.words)
    words = list(u.words)
    found: list[RedactedSpan] = []
    for s in spans:
        hit = [i for i, o in enumerate(offsets) if o and o[0] < s.end and o[1] > s.start]
        for i in hit:
            w = words[i]
            words[i] = dataclasses.replace(w, text="#" * max(len(w.text.strip()), 1))
        start = min((u.words[i].start_s for i in hit), default=u.start_s)
        end = max((u.words[i].end_s for i in hit), default=u.end_s)
        found.append(RedactedSpan(u.index, s.kind, start, end, s.spoken))
    return dataclasses.replace(u, text=_apply(u.text, spans), words=tuple(words)), found


def _speaker_chains(conv: Conversation, max_gap_s: float) -> list[list[int]]:
    """Indices of each speaker's consecutive turns (others' turns in between allowed, such
    as an agent's "嗯" while the customer reads out a number), split at long pauses.
    """
    chains: list[list[int]] = []
    last: dict[str, list[int]] = {}
    for i, u in enumerate(conv.utterances):
        chain = last.get(u.speaker)
        if chain is not None and u.start_s - conv.utterances[chain[-1]].end_s <= max_gap_s:
            chain.append(i)
        else:
            chain = [i]
            chains.append(chain)
            last[u.speaker] = chain
    return chains


def redact_conversation(conv: Conversation, kinds: tuple[str, ...] = KINDS, *,
                        max_gap_s: float = 8.0) -> tuple[Conversation, list[RedactedSpan]]:
    """Utterance texts get placeholders, the words that said a mention are masked (timing
    kept), and the removed spans are returned with their seconds. A number one speaker
    spreads over several turns (gaps up to ``max_gap_s``) is found across them: each
    speaker's consecutive turns are read as one text.
    """
    per_utt: dict[int, list[PiiSpan]] = {}
    for chain in _speaker_chains(conv, max_gap_s):
        joined, bounds, pos = [], [], 0
        for i in chain:
            text = conv.utterances[i].text
            bounds.append((i, pos, pos + len(text)))
            joined.append(text)
            pos += len(text) + 1
        for sp in detect(" ".join(joined), kinds):
            for i, a, b in bounds:
                lo, hi = max(sp.start, a), min(sp.end, b)
                if lo < hi:
                    text = conv.utterances[i].text
                    per_utt.setdefault(i, []).append(dataclasses.replace(
                        sp, start=lo - a, end=hi - a, text=text[lo - a:hi - a]))
    utterances, removed = [], []
    for i, u in enumerate(conv.utterances):
        nu, found = _redact_utterance(u, per_utt.get(i, []))
        utterances.append(nu)
        removed.extend(found)
    return dataclasses.replace(conv, utterances=tuple(utterances)), removed


def redact_scorecard(card: dict[str, Any], kinds: tuple[str, ...] = KINDS
                     ) -> tuple[dict[str, Any], int]:
    """Evidence quotes of a ``scorecard.json`` document; returns (copy, mentions removed)."""
    out = dict(card)
    items, n = [], 0
    for item in card.get("items", []):
        item = dict(item)
        evidence = []
        for ev in item.get("evidence", []):
            ev = dict(ev)
            if isinstance(ev.get("quote"), str):
                ev["quote"], spans = redact_text(ev["quote"], kinds)
                n += len(spans)
            evidence.append(ev)
        item["evidence"] = evidence
        items.append(item)
    out["items"] = items
    return out, n


def redact_scorecard_object(card: Any, kinds: tuple[str, ...] = KINDS) -> Any:
    """A :class:`~qa_pipeline.scorecard.card.Scorecard` whose evidence quotes are redacted."""
    items = []
    for item in card.items:
        evidence = tuple(dataclasses.replace(e, quote=redact_text(e.quote, kinds)[0])
                         for e in item.result.evidence)
        items.append(dataclasses.replace(
            item, result=dataclasses.replace(item.result, evidence=evidence)))
    return dataclasses.replace(card, items=tuple(items))


def redact_audio(samples: np.ndarray, sample_rate_hz: int, spans: list[RedactedSpan], *,
                 mode: str = "beep", pad_s: float = 0.05) -> np.ndarray:
    """A copy of ``samples`` (channels x time or time) with each span beeped (1 kHz tone
    at -20 dBFS) or silenced.
    """
    if mode not in ("beep", "silence"):
        raise ValueError(f"unknown audio redaction mode {mode!r}; expected beep or silence")
    out = np.array(samples, dtype=np.float32, copy=True)
    n = out.shape[-1]
    for s in spans:
        a = max(0, int((s.start_s - pad_s) * sample_rate_hz))
        b = min(n, int((s.end_s + pad_s) * sample_rate_hz))
        if b <= a:
            continue
        fill = (0.1 * np.sin(2 * np.pi * 1000 * np.arange(b - a) / sample_rate_hz)
                if mode == "beep" else np.zeros(b - a))
        out[..., a:b] = fill.astype(np.float32)
    return out
