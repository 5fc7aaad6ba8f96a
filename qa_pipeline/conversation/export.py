"""``conversation.json`` (see docs/conversation.md), RTTM, SRT and WebVTT."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qa_pipeline.errors import ConfigError
from qa_pipeline.types import Conversation


def write_conversation(conversation: Conversation, path: str | os.PathLike[str]) -> Path:
    """Write ``conversation.json`` atomically (a crash never leaves half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(conversation.to_dict(), ensure_ascii=False, indent=1),
                   encoding="utf-8")
    os.replace(tmp, p)
    return p


def read_conversation(path: str | os.PathLike[str]) -> Conversation:
    """Load a ``conversation.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Conversation.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a valid conversation.json ({e})") from e


def to_rttm(conversation: Conversation) -> str:
    """RTTM with one line per utterance, speaker named by role (agent/customer/unknown)."""
    lines = [
        f"SPEAKER {conversation.call_id} 1 {u.start_s:.3f} {u.end_s - u.start_s:.3f} <NA> <NA> "
        f"{u.role.value} <NA> <NA>"
        for u in conversation.utterances
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(conversation: Conversation) -> str:
    """SubRip subtitles, one cue per utterance, prefixed with the role."""
    blocks = []
    for i, u in enumerate(conversation.utterances, start=1):
        blocks.append(
            f"{i}\n{_stamp(u.start_s, ',')} --> {_stamp(u.end_s, ',')}\n[{u.role.value}] {u.text}\n"
        )
    return "\n".join(blocks)


def to_vtt(conversation: Conversation) -> str:
    """WebVTT with voice spans (``<v agent>``)."""
    cues = [
        f"{_stamp(u.start_s, '.')} --> {_stamp(u.end_s, '.')}\n<v {u.role.value}>{u.text}\n"
        for u in conversation.utterances
    ]
    return "WEBVTT\n\n" + "\n".join(cues)
