"""Relational storage of calls, conversations, scorecards, quarantine, costs and audit."""

from qa_pipeline.store.store import (
    DEFAULT_DB_URL,
    CallRecord,
    QuarantineRecord,
    StageSeconds,
    Store,
    TenantStore,
    default_db_url,
)

__all__ = ["DEFAULT_DB_URL", "CallRecord", "QuarantineRecord", "StageSeconds", "Store",
           "TenantStore", "default_db_url"]
