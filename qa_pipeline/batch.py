"""Batch helpers shared by the CLI and flows: discovery, per-file isolation, quarantine."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa_pipeline.errors import AudioError, OutsideInputError, QAPipelineError
from qa_pipeline.manifest import is_url

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".mp4",
                              ".wma", ".amr", ".au", ".aiff", ".aif"})


def discover(paths: Iterable[str | os.PathLike[str]], extra_suffixes: Iterable[str] = ()
             ) -> list[Path]:
    """Files named directly plus audio files found recursively in folders (sorted, unique).

    Links inside a folder are listed as they are and never followed into: a link to a file
    or folder outside the folder is still listed, so the caller can refuse it by name
    (:func:`check_inside`) rather than read another tenant's recording.
    """
    suffixes = AUDIO_EXTENSIONS | frozenset(extra_suffixes)

    def wanted(p: Path) -> bool:
        return p.suffix.lower() in suffixes or any(p.name.endswith(s) for s in extra_suffixes)

    found: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            found.setdefault(p, None)
            continue
        children: list[Path] = []
        for folder, dirs, files in os.walk(p):  # followlinks=False: links are not entered
            here = Path(folder)
            children += [here / d for d in dirs if (here / d).is_symlink()]
            children += [here / f for f in files]
        for child in sorted(children):
            if child.is_symlink() and not _inside(child, p):
                found.setdefault(child, None)  # refused later, with its reason
            elif child.is_file() and wanted(child):
                found.setdefault(child, None)
    return list(found)


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
    """Refuse a file found in the input folder ``root`` that is, once links are resolved,
    somewhere else.

    Raises:
        OutsideInputError: ``path`` leads out of ``root``.
    """
    if not _inside(Path(path), Path(root)):
        raise OutsideInputError(f"{path} links to {Path(path).resolve()}, outside the input "
                                f"folder {root}; it is not read")


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
    """Record a failed input as ``<out>/_quarantine/<file name>-<digest>.json``; the digest
    is of the input's full location, so inputs of the same name in different folders get
    records of their own and a retry of the same input replaces its record.
    """
    qdir = Path(out_dir) / "_quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    location = failure.path if is_url(failure.path) else os.path.abspath(failure.path)
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:12]
    name = PurePosixPath(failure.path.replace(os.sep, "/")).name or "input"
    target = qdir / f"{name}-{digest}.json"
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
