"""Call manifests: a CSV naming recordings with their tenant and call metadata."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.errors import ConfigError
from qa_pipeline.tenants import validate_tenant_id

REQUIRED_COLUMNS = ("path",)
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
    return Path(path).suffix.lower() == ".csv"


def read_manifest(path: str | os.PathLike[str], default_tenant: str | None = None
                  ) -> list[CallMeta]:
    """Parse a manifest; relative audio paths are relative to the manifest's folder."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ConfigError(f"{p}: manifest lacks column(s) {', '.join(missing)}")
            unknown = [c for c in columns if c not in KNOWN_COLUMNS]
            if unknown:
                raise ConfigError(
                    f"{p}: unknown manifest column(s) {', '.join(unknown)}; "
                    f"known: {', '.join(KNOWN_COLUMNS)}"
                )
            rows = list(reader)
    except OSError as e:
        raise ConfigError(f"{p}: cannot read manifest: {e}") from e
    out = []
    for line, row in enumerate(rows, start=2):
        tenant = (row.get("tenant_id") or default_tenant or "").strip()
        if not tenant:
            raise ConfigError(f"{p}:{line}: no tenant_id and no --tenant given")
        validate_tenant_id(tenant)
        audio = Path(row["path"].strip())
        if not audio.is_absolute():
            audio = p.parent / audio
        out.append(CallMeta(
            path=str(audio), tenant_id=tenant, call_id=(row.get("call_id") or "").strip() or None,
            agent_id=(row.get("agent_id") or "").strip(),
            team_id=(row.get("team_id") or "").strip(),
            business_line=(row.get("business_line") or "").strip(),
            started_at=(row.get("started_at") or "").strip(),
            direction=(row.get("direction") or "").strip(),
            channel_layout=(row.get("channel_layout") or "").strip(),
        ))
    return out
