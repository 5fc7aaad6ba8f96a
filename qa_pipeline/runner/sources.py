"""Where recordings come from: local files and folders, manifest CSVs, and any fsspec
location (``s3://bucket/prefix`` with the ``s3`` extra, ``memory://`` in tests).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from qa_pipeline.batch import AUDIO_EXTENSIONS, check_inside, discover
from qa_pipeline.errors import ConfigError, SourceError
from qa_pipeline.manifest import CallMeta, is_manifest, is_url, read_manifest
from qa_pipeline.tenants import validate_tenant_id

CONVERSATION_SUFFIX = "conversation.json"


@dataclass(frozen=True, slots=True)
class CallSource:
    """One recording to process: where it is and what is known about it.

    ``root`` is the local input folder the recording was found in (empty for files named
    directly, manifest rows and remote objects): :func:`fetch` refuses a file that links out
    of it.
    """

    uri: str
    meta: CallMeta
    root: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (flows pass sources between tasks)."""
        return {"uri": self.uri, "meta": {**self.meta.to_dict(), "path": self.meta.path},
                "root": self.root}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallSource:
        """Inverse of :meth:`to_dict`."""
        return cls(d["uri"], CallMeta(**d["meta"]), d.get("root", ""))


def list_sources(inputs: Sequence[str | os.PathLike[str]], tenant: str | None = None, *,
                 conversations: bool = False) -> list[CallSource]:
    """Expand inputs into call sources (manifests carry their tenant per row; files and
    folders take ``tenant``). Duplicated locations are listed once. With
    ``conversations``, folders also yield their ``conversation.json`` files.

    Raises:
        ConfigError: a file or folder without a tenant, or a malformed manifest.
        SourceError: a remote location cannot be listed.
    """
    out: dict[str, CallSource] = {}
    plain: list[str | os.PathLike[str]] = []
    for item in inputs:
        if is_manifest(item):
            for m in read_manifest(item, tenant):
                out.setdefault(m.path, CallSource(m.path, m))
        else:
            plain.append(item)
    if plain and not tenant:
        raise ConfigError("a tenant is required for files and folders (manifests carry "
                          "tenant_id per row)")
    if tenant:
        validate_tenant_id(tenant)
    extra = (CONVERSATION_SUFFIX,) if conversations else ()
    for item in plain:
        remote = is_url(item)
        found = _list_remote(str(item)) if remote else [str(p) for p in discover([item], extra)]
        root = str(item) if not remote and Path(item).is_dir() else ""
        for uri in found:
            out.setdefault(uri, CallSource(uri, CallMeta(path=uri, tenant_id=tenant or ""),
                                           root))
    return list(out.values())


def is_conversation_file(uri: str) -> bool:
    """A source that is a front end's output (a ``conversation.json``), not a recording."""
    return uri.lower().endswith(".json")


def _list_remote(url: str) -> list[str]:
    fs, root = _filesystem(url)
    try:
        if not fs.isdir(root):
            return [url]
        found = sorted(p for p in fs.find(root) if PurePosixPath(p).suffix.lower()
                       in AUDIO_EXTENSIONS)
    except OSError as e:
        raise SourceError(f"cannot list {url}: {e}") from e
    return [fs.unstrip_protocol(p) for p in found]


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError as e:
        raise SourceError(f"{url}: no filesystem for this scheme ({e}); for s3:// install "
                          "the s3 extra (`pip install 'qa-pipeline[s3]'`)") from e
    except ValueError as e:
        raise SourceError(f"{url}: {e}") from e


def fetch(source: CallSource, staging_dir: str | os.PathLike[str]) -> Path:
    """A local path holding the recording (remote objects are copied into ``staging_dir``
    once, atomically; local files are used where they are).

    Raises:
        SourceError: the object cannot be read (transient errors are worth a retry).
        OutsideInputError: a file found in an input folder links out of it.
    """
    if not is_url(source.uri):
        if source.root:
            check_inside(source.uri, source.root)
        return Path(source.uri)
    target = staged_path(source.uri, source.meta.tenant_id, staging_dir)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    fs, path = _filesystem(source.uri)
    try:
        with fs.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, FileNotFoundError) as e:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"cannot fetch {source.uri}: {e}") from e
    os.replace(tmp, target)
    return target


def staged_path(uri: str, tenant_id: str, staging_dir: str | os.PathLike[str]) -> Path:
    """Where :func:`fetch` keeps the local copy of a remote recording (tenant-scoped)."""
    name = hashlib.sha256(uri.encode()).hexdigest()[:20]
    return Path(staging_dir) / tenant_id / (name + PurePosixPath(uri).suffix)


def tenants_of(sources: Iterable[CallSource]) -> list[str]:
    """The distinct tenants of some sources, sorted."""
    return sorted({s.meta.tenant_id for s in sources})
