"""Content-keyed cache of front-end results: ``(tenant, audio sha256, front-end key)`` ->
conversation + speaker turns + acoustic features + what computing them cost.

An entry holds a result, never an identity: the call id and source path are blanked when it
is written and bound from the current plan when it is read (:meth:`CachedFrontEnd.bind`), so
the same audio delivered again under another manifest, call id or folder is not transcribed
twice and carries the new delivery's identity. A cache directory shared by several nodes
(NFS) is shared work. Paths are tenant-scoped: one tenant's cache never holds another's
conversations.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_pipeline.emotion import AcousticTrack
from qa_pipeline.errors import StoreError
from qa_pipeline.privacy.vault import Vault, is_sealed
from qa_pipeline.store import StageSeconds
from qa_pipeline.types import Conversation, SpeakerTurn


@dataclass(frozen=True, slots=True)
class CachedFrontEnd:
    """A front-end result read back from the cache.

    Attributes:
        conversation: the transcript; ``call_id`` and ``source_path`` are empty until
            :meth:`bind` gives it the current plan's identity.
        acoustics: per-utterance acoustic features, if computed.
        turns: the speaker turns the conversation was built from.
        costs: what computing the result cost, under ``run_id``, the run that paid it.
        path: where the entry lives.
    """

    conversation: Conversation
    acoustics: AcousticTrack | None
    turns: tuple[SpeakerTurn, ...]
    costs: tuple[StageSeconds, ...]
    run_id: str
    path: Path

    def bind(self, call_id: str, source_path: str) -> CachedFrontEnd:
        """The result under the identity of the call being processed now."""
        conv = dataclasses.replace(self.conversation, call_id=call_id, source_path=source_path)
        acoustics = (dataclasses.replace(self.acoustics, call_id=call_id)
                     if self.acoustics else None)
        return dataclasses.replace(self, conversation=conv, acoustics=acoustics)


class FrontEndCache:
    """Files under ``root/<tenant>/<sha[:2]>/<sha>-<frontend_key>.json``, written atomically.

    ``vaults`` gives the vault of tenants whose transcripts are stored encrypted: their
    entries hold the conversation sealed with the tenant's key.
    """

    def __init__(self, root: str | os.PathLike[str],
                 vaults: Callable[[str], Vault | None] | None = None) -> None:
        self.root = Path(root)
        self._vaults = vaults or (lambda _tenant: None)

    def path(self, tenant_id: str, sha256: str, frontend_key: str) -> Path:
        """Where one entry lives."""
        return self.root / tenant_id / sha256[:2] / f"{sha256}-{frontend_key}.json"

    def get(self, tenant_id: str, sha256: str, frontend_key: str) -> CachedFrontEnd | None:
        """The cached result, or None on a miss (an unreadable entry counts as a miss)."""
        p = self.path(tenant_id, sha256, frontend_key)
        if not p.exists():
            return None
        try:
            return self.read(p, self._vaults(tenant_id))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, conversation: Conversation, frontend_key: str, *,
            acoustics: AcousticTrack | None, turns: tuple[SpeakerTurn, ...] = (),
            costs: list[StageSeconds], run_id: str) -> Path:
        """Store a result under its content key, without the call's identity; returns its
        path.
        """
        p = self.path(conversation.tenant_id, conversation.sha256 or "", frontend_key)
        p.parent.mkdir(parents=True, exist_ok=True)
        vault = self._vaults(conversation.tenant_id)
        conv = dataclasses.replace(conversation, call_id="", source_path="").to_dict()
        data: dict[str, Any] = {
            "conversation": vault.seal(conv) if vault is not None else conv,
            "acoustics": acoustics.to_dict() if acoustics else None,
            "turns": [[t.start_s, t.end_s, t.speaker, t.channel] for t in turns],
            "costs": [dataclasses.asdict(c) for c in costs],
            "run_id": run_id,
        }
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, p)
        return p

    @staticmethod
    def read(path: str | os.PathLike[str], vault: Vault | None = None) -> CachedFrontEnd:
        """Read one entry by path (``vault``: the tenant's, for sealed entries).

        Raises:
            StoreError: a sealed entry and no vault (or the wrong key).
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        stored = data["conversation"]
        if is_sealed(stored) and vault is None:
            raise StoreError(f"{path}: the cached transcript is encrypted and no key is "
                             "configured for its tenant")
        conv = Conversation.from_dict(vault.open(stored) if vault is not None else stored)
        acoustics = (AcousticTrack.from_dict(conv.call_id, data["acoustics"])
                     if data.get("acoustics") else None)
        turns = tuple(SpeakerTurn(float(s), float(e), str(spk), ch)
                      for s, e, spk, ch in data.get("turns", []))
        costs = tuple(StageSeconds(**c) for c in data.get("costs", []))
        return CachedFrontEnd(conv, acoustics, turns, costs, data.get("run_id", ""),
                              Path(path))
