"""Tenant scoping enforced below the repository: a session bound to a tenant sees and
writes only that tenant's rows, and an unbound session may not touch tenant-owned tables.

This follows SQLAlchemy's documented multi-tenancy recipe (``do_orm_execute`` +
``with_loader_criteria``): the criterion is added to every ORM select, update and delete,
including relationship and alias loads, so a forgotten ``where(tenant_id == ...)`` in a
repository method cannot leak another tenant's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from qa_pipeline.errors import TenantScopeError
from qa_pipeline.store.tables import TENANT_OWNED, TenantOwned

_TENANT_TABLES = frozenset(cls.__table__.name for cls in TENANT_OWNED)  # type: ignore[attr-defined]


class ScopedSession(Session):
    """A session whose ``info`` says whose rows it may see: ``tenant_id`` or ``admin``."""


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    return any(m.class_ in TENANT_OWNED for m in state.all_mappers) or any(
        getattr(t, "name", None) in _TENANT_TABLES
        for t in getattr(state.statement, "get_final_froms", lambda: [])())


@event.listens_for(ScopedSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    info = state.session.info
    tenant = info.get("tenant_id")
    if tenant is None:
        if not info.get("admin") and _touches_tenant_rows(state):
            raise TenantScopeError(
                "query on tenant-owned rows from a session without a tenant; use "
                "Store.tenant(tenant_id)")
        return
    state.statement = state.statement.options(*(
        with_loader_criteria(cls, lambda c: c.tenant_id == tenant, include_aliases=True)
        for cls in TENANT_OWNED))


@event.listens_for(ScopedSession, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    info = session.info
    if info.get("admin"):
        return
    tenant = info.get("tenant_id")
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantOwned) and obj.tenant_id != tenant:
            raise TenantScopeError(
                f"session of tenant {tenant!r} may not write {type(obj).__name__} of tenant "
                f"{obj.tenant_id!r}")
