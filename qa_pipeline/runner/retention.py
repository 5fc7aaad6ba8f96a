"""Retention: delete a tenant's calls older than N days everywhere the pipeline keeps them —
store rows, front-end cache entries, staged copies of remote recordings, output files.
Recordings in the tenant's own source (recorder folder, bucket) are the tenant's to delete.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.manifest import is_url
from qa_pipeline.runner.sources import staged_path
from qa_pipeline.store import Store
from qa_pipeline.tenants import load_tenant

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What a retention run deleted."""

    tenant_id: str
    before: dt.datetime
    call_ids: list[str] = field(default_factory=list)
    files_deleted: int = 0


def purge_tenant(store: Store, tenant_id: str, *, days: int | None = None,
                 cache_dir: Path | None = None, out_dir: Path | None = None,
                 now: dt.datetime | None = None) -> PurgeReport:
    """Delete the tenant's calls older than ``days`` (default: the tenant's
    ``privacy.retention_days``; nothing is deleted when neither is set).
    """
    days = days if days is not None else load_tenant(tenant_id).privacy.retention_days
    current = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    report = PurgeReport(tenant_id, current - dt.timedelta(days=days or 0))
    if not days:
        return report
    purged = store.tenant(tenant_id).purge_calls(before=report.before)
    report.call_ids = [c.call_id for c in purged]
    targets: list[Path] = []
    for call in purged:
        if cache_dir is not None:
            shard = cache_dir / "frontend" / tenant_id / call.sha256[:2]
            targets += list(shard.glob(f"{call.sha256}-*.json"))
            if is_url(call.source_uri):
                staged = staged_path(call.source_uri, tenant_id, cache_dir / "staging")
                if staged.exists():
                    targets.append(staged)
        if out_dir is not None and (out_dir / call.call_id).is_dir():
            targets.append(out_dir / call.call_id)
    for t in targets:
        if t.is_dir():
            shutil.rmtree(t)
        else:
            t.unlink(missing_ok=True)
        report.files_deleted += 1
    logger.info("retention: %s: %d calls, %d files", tenant_id, len(purged),
                report.files_deleted)
    return report
