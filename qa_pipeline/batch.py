"""Batch helpers shared by the CLI and flows: discovery, per-file isolation, quarantine."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.errors import AudioError, QAPipelineError

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".mp4",
                              ".wma", ".amr", ".au", ".aiff", ".aif"})


def discover(paths: Iterable[str | os.PathLike[str]], extra_suffixes: Iterable[str] = ()
             ) -> list[Path]:
    """Files named directly plus audio files found recursively in folders (sorted, unique)."""
    suffixes = AUDIO_EXTENSIONS | frozenset(extra_suffixes)
    found: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.is_file() and (child.suffix.lower() in suffixes
                                        or any(child.name.endswith(s) for s in extra_suffixes)):
                    found.setdefault(child, None)
        else:
            found.setdefault(p, None)
    return list(found)


@dataclass(frozen=True, slots=True)
class Failure:
    """One input that could not be processed."""

    path: str
    error_type: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"path": self.path, "error_type": self.error_type, "reason": self.reason,
                "message": self.message}


def failure_from(path: str | os.PathLike[str], error: Exception) -> Failure:
    """Describe why ``path`` failed."""
    reason = getattr(error, "reason", None) or (
        "bad_input" if isinstance(error, QAPipelineError) else "internal_error")
    if isinstance(error, AudioError):
        reason = error.reason
    return Failure(str(path), type(error).__name__, str(reason), str(error))


def quarantine(out_dir: str | os.PathLike[str], failure: Failure) -> Path:
    """Record a failed input under ``<out>/_quarantine/`` (idempotent: one file per input)."""
    qdir = Path(out_dir) / "_quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    name = Path(failure.path).name.replace(os.sep, "_") or "input"
    target = qdir / f"{name}.json"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(failure.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, target)
    return target



def claim_output(out: str | os.PathLike[str], call_id: str, tenant_id: str) -> Path:
    """``out/<call_id>``, refusing to overwrite another tenant's results for the same audio."""
    target = Path(out) / call_id
    if target.resolve().parent != Path(out).resolve():
        raise QAPipelineError(f"call id {call_id!r} would write outside {out}")
    existing = target / "conversation.json"
    if existing.exists():
        try:
            owner = json.loads(existing.read_text(encoding="utf-8")).get("tenant_id")
        except ValueError:
            owner = None
        if owner and owner != tenant_id:
            raise QAPipelineError(
                f"{target} holds tenant {owner!r}'s results for this audio; write tenant "
                f"{tenant_id!r} to another output folder")
    return target
