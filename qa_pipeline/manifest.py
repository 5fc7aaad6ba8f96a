"""Call manifests: a CSV naming recordings with their tenant and call metadata."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qa_pipeline.errors import ConfigError
from qa_pipeline.tenants import validate_tenant_id

REQUIRED_COLUMNS = ("path",)
# Call ids become folder names (<out>/<call_id>/): no separators, no leading dot.
_CALL_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")
KNOWN_COLUMNS = ("path", "call_id", "tenant_id", "agent_id", "team_id", "business_line",
                 "started_at", "direction", "channel_layout")


@dataclass(frozen=True, slots=True)
class CallMeta:
    """Metadata of one call (what a recorder or CRM knows about it)."""

    path: str
    tenant_id: str
    call_id: str | None = None
    agent_id: str = ""
    team_id: str = ""
    business_line: str = ""
    started_at: str = ""
    direction: str = ""
    channel_layout: str = ""

    def to_dict(self) -> dict[str, str | None]:
        """JSON form (without the local path)."""
        return {
            "call_id": self.call_id, "tenant_id": self.tenant_id, "agent_id": self.agent_id,
            "team_id": self.team_id, "business_line": self.business_line,
            "started_at": self.started_at, "direction": self.direction,
            "channel_layout": self.channel_layout,
        }


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """CSV files are manifests."""
    return str(path).lower().endswith(".csv")


def is_url(path: str | os.PathLike[str]) -> bool:
    """``scheme://...`` (an fsspec location such as ``s3://bucket/key``), not a local path."""
    return "://" in str(path)


def read_manifest(path: str | os.PathLike[str], default_tenant: str | None = None, *,
                  extra_columns: tuple[str, ...] = ()) -> list[CallMeta]:
    """Parse a manifest (a local file or an fsspec URL); relative audio paths are relative
    to the manifest's folder. ``extra_columns`` are allowed beside the known ones (the
    evaluation harness reads its reference columns from the same file).
    """
    remote = is_url(path)
    p: Any = str(path) if remote else Path(path)
    try:
        with _open_text(p) as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ConfigError(f"{p}: manifest lacks column(s) {', '.join(missing)}")
            unknown = [c for c in columns if c not in KNOWN_COLUMNS + extra_columns]
            if unknown:
                raise ConfigError(
                    f"{p}: unknown manifest column(s) {', '.join(unknown)}; "
                    f"known: {', '.join(KNOWN_COLUMNS + extra_columns)}"
                )
            rows = list(reader)
    except (OSError, ImportError, ValueError) as e:
        raise ConfigError(f"{p}: cannot read manifest: {e}") from e
    out = []
    for line, row in enumerate(rows, start=2):
        tenant = (row.get("tenant_id") or default_tenant or "").strip()
        if not tenant:
            raise ConfigError(f"{p}:{line}: no tenant_id and no --tenant given")
        validate_tenant_id(tenant)
        call_id = (row.get("call_id") or "").strip() or None
        if call_id is not None and not _CALL_ID.match(call_id):
            raise ConfigError(f"{p}:{line}: call_id {call_id!r} must be 1-128 letters, digits, "
                              "'_', '.', ':' or '-' (it names the call's output folder)")
        raw = row["path"].strip()
        if is_url(raw) or (not remote and Path(raw).is_absolute()):
            audio = raw
        elif remote:
            audio = p.rsplit("/", 1)[0] + "/" + raw
        else:
            audio = str(p.parent / raw)
        out.append(CallMeta(
            path=audio, tenant_id=tenant, call_id=call_id,
            agent_id=(row.get("agent_id") or "").strip(),
            team_id=(row.get("team_id") or "").strip(),
            business_line=(row.get("business_line") or "").strip(),
            started_at=(row.get("started_at") or "").strip(),
            direction=(row.get("direction") or "").strip(),
            channel_layout=(row.get("channel_layout") or "").strip(),
        ))
    return out


def _open_text(path: str | Path) -> IO[str]:
    if isinstance(path, Path):
        return open(path, newline="", encoding="utf-8-sig")
    import fsspec

    return fsspec.open(path, "r", newline="", encoding="utf-8-sig").open()  # type: ignore[no-any-return]


def write_manifest(calls: list[CallMeta], path: str | os.PathLike[str]) -> Path:
    """Write a manifest CSV (absolute paths or URLs), atomically; the inverse of
    :func:`read_manifest` (distributed runs hand each worker a shard this way).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(KNOWN_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for m in calls:
            writer.writerow({"path": m.path, **{k: v or "" for k, v in m.to_dict().items()}})
    os.replace(tmp, p)
    return p
