"""Relational storage of calls, conversations, scorecards, quarantine, costs and audit."""

from qa_pipeline.settings import DEFAULT_DB_URL
from qa_pipeline.store.store import (
    CallRecord,
    QuarantineRecord,
    StageSeconds,
    Store,
    TenantStore,
    backup_sqlite,
    default_db_url,
)

__all__ = ["DEFAULT_DB_URL", "CallRecord", "QuarantineRecord", "StageSeconds", "Store",
           "TenantStore", "backup_sqlite", "default_db_url"]
