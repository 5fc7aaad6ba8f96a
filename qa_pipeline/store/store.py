"""The store: calls, conversations, scorecards, quarantine, costs and audit, per tenant.

``Store`` opens a database by URL (SQLite embedded default, PostgreSQL for a cluster). Its
schema is migrated with Alembic: an embedded SQLite file upgrades itself when opened, while
a server database (PostgreSQL) is upgraded only by ``qa-pipeline db upgrade``, so that
workers starting together never race to migrate it; a store opened on an old schema there
refuses with that instruction. All tenant-owned data is reached through ``Store.tenant(id)``,
a :class:`TenantStore` whose sessions the guard (``guard.py``) confines to that tenant.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from qa_pipeline.errors import (
    NotFoundError,
    SchemaOutdatedError,
    StoreError,
    UnknownTenantError,
)
from qa_pipeline.privacy.vault import Vault, is_sealed, vault_for
from qa_pipeline.settings import get_settings
from qa_pipeline.store.guard import ScopedSession
from qa_pipeline.store.summary import (
    best_word_probability,
    call_day,
    call_reason_label,
    customer_end_sentiment,
)
from qa_pipeline.store.tables import (
    Agent,
    AgentAssignment,
    AuditEntry,
    BusinessLine,
    CalibrationSessionCall,
    CalibrationSessionVerdict,
    Call,
    CaseTag,
    ConversationRow,
    Dispute,
    QuarantineEntry,
    Review,
    ScorecardDocument,
    ScorecardItemRow,
    ScorecardRow,
    StageCost,
    Team,
    Tenant,
    utcnow,
)
from qa_pipeline.store.tallies import bump_failures, current_failing_keys, failing_keys
from qa_pipeline.tenants import validate_tenant_id

logger = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def default_db_url() -> str:
    """``$QA_PIPELINE_DB_URL`` (or ``--db`` given to the command line) or a SQLite file in
    the working directory.
    """
    return get_settings().database_url


@dataclass(frozen=True, slots=True)
class StageSeconds:
    """What one stage cost for one call: wall, CPU (process) and GPU-occupied seconds."""

    stage: str
    wall_s: float
    cpu_s: float
    gpu_s: float = 0.0
    device: str = "cpu"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as stored (no audio)."""

    tenant_id: str
    call_id: str
    sha256: str
    source_uri: str
    agent_id: str
    team_id: str
    business_line: str
    started_at: str
    direction: str
    channel_layout: str
    duration_s: float | None
    language: str
    config_key: str
    status: str


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """An input that failed and why."""

    tenant_id: str
    source_key: str
    source_uri: str
    error_type: str
    reason: str
    message: str
    attempts: int


def parse_started_at(value: str) -> dt.datetime | None:
    """ISO 8601 (with offset, or UTC when none) -> naive UTC; empty -> None."""
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise StoreError(f"started_at {value!r} is not ISO 8601") from e
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


#: What opening a store does about its schema: ``auto`` upgrades SQLite and checks any
#: other database, ``upgrade`` always upgrades, ``check`` refuses an old schema, ``skip``
#: does nothing (tools that inspect an old database).
MigratePolicy = Literal["auto", "upgrade", "check", "skip"]

UPGRADE_COMMAND = "qa-pipeline db upgrade"


class Store:
    """A database of QA results."""

    def __init__(self, url: str | None = None, *, migrate: MigratePolicy | bool = "auto",
                 vaults: Callable[[str], Vault | None] | None = None) -> None:
        """Open a store.

        Args:
            url: database URL (default: :func:`default_db_url`).
            migrate: schema policy on open (:data:`MigratePolicy`; ``True`` is ``upgrade``,
                ``False`` is ``skip``).
            vaults: the vault of a tenant whose data is stored encrypted (default: the
                tenant file's privacy policy and the key from the environment).

        Raises:
            StoreError: the database cannot be opened.
            SchemaOutdatedError: (``auto`` on a server database, ``check``) its schema is
                older than this version's; the message says to run ``qa-pipeline db
                upgrade``.
        """
        self.url = url or default_db_url()
        self._vault_of = vaults or vault_for
        self._vaults: dict[str, Vault | None] = {}
        try:
            self.engine: Engine = _engine(self.url)
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open database {_redact(self.url)}: {e}") from e
        self._sessions = sessionmaker(self.engine, class_=ScopedSession, expire_on_commit=False)
        policy: str = ("upgrade" if migrate is True else "skip" if migrate is False
                       else migrate)
        if policy == "auto":
            policy = "upgrade" if self.embedded else "check"
        if policy == "upgrade":
            self.migrate()
        elif policy == "check":
            self.check_schema()
        elif policy != "skip":
            raise StoreError(f"unknown migrate policy {migrate!r}; "
                             "valid: auto, upgrade, check, skip")

    @property
    def embedded(self) -> bool:
        """Whether the database is an embedded SQLite file (it may migrate on open)."""
        return self.engine.dialect.name == "sqlite"

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def head_revision(self) -> str:
        """The schema revision this version of the code needs."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None  # the package always ships its migrations
        return head

    def schema_revision(self) -> str | None:
        """The database's schema revision (``None``: an empty database)."""
        from alembic.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as e:
            raise StoreError(f"cannot read the schema revision of {_redact(self.url)}: "
                             f"{e}") from e

    def check_schema(self) -> None:
        """Refuse a database whose schema is not this version's.

        Raises:
            SchemaOutdatedError: the schema is older (or empty); the message names the
                command that upgrades it.
        """
        current, head = self.schema_revision(), self.head_revision()
        if current != head:
            raise SchemaOutdatedError(
                f"the database {_redact(self.url)} has schema revision {current or '(empty)'}"
                f", this version needs {head}: run `{UPGRADE_COMMAND}` (with --db or "
                "$QA_PIPELINE_DB_URL naming this database) once before starting workers")

    def migrate(self) -> None:
        """Apply pending Alembic migrations (idempotent)."""
        from alembic import command

        cfg = self._alembic_config()
        sqlite = self.embedded
        try:
            with self.engine.connect() as conn:
                if sqlite:
                    # SQLite alters a table by copying it and dropping the old one; with
                    # foreign keys on, that drop would cascade to the rows referencing it.
                    # The pragma only takes effect outside a transaction, so before any.
                    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                try:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    conn.commit()
                finally:
                    if sqlite:
                        conn.rollback()
                        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        except SQLAlchemyError as e:
            raise StoreError(f"migrating {_redact(self.url)} failed: {e}") from e

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @property
    def display_url(self) -> str:
        """The database URL without its password (for messages and logs)."""
        return _redact(self.url)

    @contextmanager
    def admin_session(self) -> Iterator[ScopedSession]:
        """A session that may see every tenant (operators' tools and migrations only)."""
        with self._sessions() as s, _translated():
            s.info["admin"] = True
            yield s
            s.commit()

    def register_tenant(self, tenant_id: str, name: str = "") -> None:
        """Create the tenant row if missing."""
        validate_tenant_id(tenant_id)
        with self.admin_session() as s:
            if s.get(Tenant, tenant_id) is None:
                s.add(Tenant(id=tenant_id, name=name or tenant_id))

    def tenant_ids(self) -> list[str]:
        """Registered tenants."""
        with self.admin_session() as s:
            return list(s.scalars(select(Tenant.id).order_by(Tenant.id)))

    def tenant(self, tenant_id: str) -> TenantStore:
        """The repository of one registered tenant.

        Raises:
            UnknownTenantError: the tenant was never registered in this store.
        """
        validate_tenant_id(tenant_id)
        with self.admin_session() as s:
            if s.get(Tenant, tenant_id) is None:
                raise UnknownTenantError(
                    f"tenant {tenant_id!r} is not registered in this store; known: "
                    f"{', '.join(self.tenant_ids()) or '(none)'}")
        return TenantStore(self, tenant_id)

    def agent_tenants(self, agent_id: str) -> list[str]:
        """The tenants an agent serves (an agent may serve several)."""
        with self.admin_session() as s:
            return list(s.scalars(select(AgentAssignment.tenant_id)
                                  .where(AgentAssignment.agent_id == agent_id)
                                  .order_by(AgentAssignment.tenant_id)))

    def vault(self, tenant_id: str) -> Vault | None:
        """The tenant's vault (None: stored as is); looked up once per store."""
        if tenant_id not in self._vaults:
            self._vaults[tenant_id] = self._vault_of(tenant_id)
        return self._vaults[tenant_id]

    def session_for(self, tenant_id: str) -> ScopedSession:
        """A new session confined to ``tenant_id`` (callers commit)."""
        s = self._sessions()
        s.info["tenant_id"] = tenant_id
        return s


class TenantStore:
    """Everything one tenant owns. Every method runs in a session confined to the tenant."""

    def __init__(self, store: Store, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.vault = store.vault(tenant_id)

    def seal(self, value: Any) -> Any:
        """A transcript or scorecard document as this tenant stores it (encrypted when its
        policy says so).
        """
        return self.vault.seal(value) if self.vault is not None else value

    def unseal(self, stored: Any) -> Any:
        """The inverse of :meth:`seal` (plain values pass through)."""
        if self.vault is not None:
            return self.vault.open(stored)
        if is_sealed(stored):
            raise StoreError(f"tenant {self.tenant_id!r} has encrypted data but no key is "
                             "configured for it")
        return stored

    @contextmanager
    def session(self) -> Iterator[ScopedSession]:
        """A transaction confined to this tenant; committed on success, rolled back on error."""
        with self.store.session_for(self.tenant_id) as s, _translated():
            yield s
            s.commit()

    # --- calls --------------------------------------------------------------------------------
    def upsert_call(self, call_id: str, sha256: str, meta: Mapping[str, Any], *,
                    source_uri: str = "", config_key: str = "") -> None:
        """Record (or update) a call and the team, business line and agent it names."""
        with self.session() as s:
            self._upsert_call(s, call_id, sha256, meta, source_uri, config_key)

    def _upsert_call(self, s: ScopedSession, call_id: str, sha256: str,
                     meta: Mapping[str, Any], source_uri: str, config_key: str) -> Call:
        row = s.get(Call, (self.tenant_id, call_id))
        if row is None:
            row = Call(tenant_id=self.tenant_id, call_id=call_id, sha256=sha256)
            s.add(row)
        elif row.sha256 != sha256:
            raise StoreError(
                f"call {call_id!r} of tenant {self.tenant_id!r} is already stored with other "
                f"audio (sha256 {row.sha256[:12]}…, now {sha256[:12]}…); call ids must be unique")
        for name in ("agent_id", "team_id", "business_line", "started_at", "direction",
                     "channel_layout"):
            value = str(meta.get(name) or "")
            if value:
                setattr(row, name, value)
        row.started_at_utc = parse_started_at(row.started_at or "")
        if source_uri:
            row.source_uri = source_uri
        if config_key:
            row.config_key = config_key
        self._register_people(s, row)
        return row

    def _register_people(self, s: ScopedSession, row: Call) -> None:
        if row.team_id and s.get(Team, (self.tenant_id, row.team_id)) is None:
            s.add(Team(tenant_id=self.tenant_id, id=row.team_id, name=row.team_id))
        if row.business_line and s.get(BusinessLine, (self.tenant_id, row.business_line)) is None:
            s.add(BusinessLine(tenant_id=self.tenant_id, id=row.business_line,
                               name=row.business_line))
        if row.agent_id:
            if s.get(Agent, row.agent_id) is None:
                s.add(Agent(id=row.agent_id, name=row.agent_id))
                s.flush()
            link = s.get(AgentAssignment, (self.tenant_id, row.agent_id))
            if link is None:
                s.add(AgentAssignment(tenant_id=self.tenant_id, agent_id=row.agent_id,
                                      team_id=row.team_id))
            elif row.team_id:
                link.team_id = row.team_id

    def call(self, call_id: str) -> CallRecord:
        """One call of this tenant.

        Raises:
            NotFoundError: this tenant has no such call.
        """
        with self.session() as s:
            row = s.get(Call, (self.tenant_id, call_id))
            if row is None:
                raise NotFoundError(f"tenant {self.tenant_id!r} has no call {call_id!r}")
            return _call_record(row)

    def calls(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
              status: str | None = None) -> list[CallRecord]:
        """Calls started in ``[since, until)`` (naive UTC), optionally with one status."""
        stmt = select(Call).order_by(Call.started_at_utc, Call.call_id)
        if since is not None:
            stmt = stmt.where(Call.started_at_utc >= since)
        if until is not None:
            stmt = stmt.where(Call.started_at_utc < until)
        if status is not None:
            stmt = stmt.where(Call.status == status)
        with self.session() as s:
            return [_call_record(r) for r in s.scalars(stmt)]

    def done_call(self, sha256: str, config_key: str) -> str | None:
        """The id of a call with this audio already scored under this configuration."""
        with self.session() as s:
            return s.scalar(select(Call.call_id).where(
                Call.sha256 == sha256, Call.config_key == config_key,
                Call.status == "scored").limit(1))

    # --- conversations ------------------------------------------------------------------------
    def save_conversation(self, conversation: Any, *, frontend_key: str,
                          acoustics: dict[str, Any] | None = None,
                          meta: Mapping[str, Any] | None = None, source_uri: str = "",
                          costs: Sequence[StageSeconds] = (), run_id: str = "") -> None:
        """Store the front end's output and its stage costs in one transaction."""
        with self.session() as s:
            call = self._upsert_call(s, conversation.call_id, conversation.sha256 or "",
                                     meta or {}, source_uri, "")
            call.duration_s = conversation.duration_s
            call.language = conversation.language
            if call.status != "scored":
                call.status = "transcribed"
            s.flush()
            row = s.get(ConversationRow, (self.tenant_id, conversation.call_id))
            if row is None:
                row = ConversationRow(tenant_id=self.tenant_id, call_id=conversation.call_id)
                s.add(row)
            prov = conversation.provenance
            row.frontend_key = frontend_key
            row.pipeline_version = prov.pipeline_version
            row.asr_model = f"{prov.asr_backend}:{prov.asr_model_id}"
            row.data = self.seal(conversation.to_dict())
            row.acoustics = acoustics
            self._replace_costs(s, conversation.call_id, run_id, costs)

    def conversation(self, call_id: str) -> tuple[Any, dict[str, Any] | None]:
        """``(Conversation, acoustics dict or None)`` of one call.

        Raises:
            NotFoundError: no stored conversation for this tenant's call.
        """
        from qa_pipeline.types import Conversation

        with self.session() as s:
            row = s.get(ConversationRow, (self.tenant_id, call_id))
            if row is None:
                raise NotFoundError(
                    f"tenant {self.tenant_id!r} has no stored conversation for {call_id!r}")
            return Conversation.from_dict(self.unseal(row.data)), row.acoustics

    # --- scorecards ---------------------------------------------------------------------------
    def save_scorecard(self, card: Any, *, config_key: str = "", run_id: str = "",
                       costs: Sequence[StageSeconds] = (), source_keys: Sequence[str] = ()
                       ) -> int:
        """Store a scorecard (replacing this call's card under the same rubric version),
        its items and stage costs, mark the call scored and lift its quarantine (its audio's
        ``sha256:`` key and any other ``source_keys``), atomically.
        """
        if card.tenant_id != self.tenant_id:
            raise StoreError(f"scorecard of tenant {card.tenant_id!r} offered to tenant "
                             f"{self.tenant_id!r}")
        data = card.to_dict()
        with self.session() as s:
            call = s.get(Call, (self.tenant_id, card.call_id))
            if call is None:
                raise NotFoundError(f"tenant {self.tenant_id!r} has no call {card.call_id!r}; "
                                    "store the conversation first")
            call_cards = select(ScorecardRow.id).where(ScorecardRow.call_id == card.call_id)
            # The call's current failing items stop counting; the new card's start.
            bump_failures(s, self.tenant_id, current_failing_keys(s, call_cards), -1)
            old = s.scalar(select(ScorecardRow).where(
                ScorecardRow.call_id == card.call_id, ScorecardRow.rubric_id == card.rubric_id,
                ScorecardRow.rubric_version == card.rubric_version))
            if old is not None:
                s.execute(delete(ScorecardItemRow).where(ScorecardItemRow.scorecard_id == old.id))
                s.execute(delete(ScorecardDocument).where(
                    ScorecardDocument.scorecard_id == old.id))
                s.delete(old)
                s.flush()
            # The newest card of a call is the one queues and KPIs count.
            s.execute(update(ScorecardRow).where(ScorecardRow.call_id == card.call_id)
                      .values(current=False), execution_options={"synchronize_session": False})
            s.execute(update(ScorecardItemRow).where(ScorecardItemRow.scorecard_id.in_(
                call_cards)).values(current=False),
                execution_options={"synchronize_session": False})
            row = ScorecardRow(
                tenant_id=self.tenant_id, call_id=card.call_id, rubric_id=card.rubric_id,
                rubric_version=card.rubric_version, total_score=card.total_score,
                grade=card.grade, has_fatal=card.has_fatal,
                has_non_fatal_error=card.has_non_fatal_error, needs_review=card.needs_review,
                run_id=run_id, current=True, agent_id=call.agent_id or "",
                team_id=call.team_id or "", started_at_utc=call.started_at_utc,
                call_day=call_day(data),
                sentiment_end=customer_end_sentiment(data), call_reason=call_reason_label(data),
                human_reviewed=bool(data.get("human_reviewed")))
            s.add(row)
            s.flush()
            s.add(ScorecardDocument(scorecard_id=row.id, tenant_id=self.tenant_id,
                                    data=self.seal(data)))
            new_items = []
            for item in data["items"]:
                new_items.append(ScorecardItemRow(
                    tenant_id=self.tenant_id, scorecard_id=row.id,
                    criterion_id=item["criterion_id"],
                    # Observation flags are not agent errors: kept apart from severities
                    # so failure tallies and "top failing criteria" never count them.
                    severity="flag" if item.get("kind") == "flag" else item["severity"],
                    status=item["status"], points_earned=item["points_earned"],
                    points_possible=item["points_possible"],
                    provisional_status=item.get("provisional_status") or item["status"],
                    verdict=(item.get("review") or {}).get("status") or item["status"],
                    evidence_confidence=best_word_probability(item), current=True,
                    call_day=row.call_day, agent_id=row.agent_id, team_id=row.team_id))
            s.add_all(new_items)
            bump_failures(s, self.tenant_id, failing_keys(new_items))
            call.status = "scored"
            if config_key:
                call.config_key = config_key
            self._replace_costs(s, card.call_id, run_id, costs)
            keys = [*source_keys, f"sha256:{call.sha256}"]
            s.execute(delete(QuarantineEntry).where(QuarantineEntry.source_key.in_(keys)))
            return int(row.id)

    def scorecards(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   rubric_id: str | None = None, call_id: str | None = None
                   ) -> list[dict[str, Any]]:
        """Scorecard JSON documents, newest rubric version last per call."""
        stmt = (select(ScorecardDocument.data)
                .join(ScorecardRow, ScorecardRow.id == ScorecardDocument.scorecard_id)
                .join(Call, (Call.tenant_id == ScorecardRow.tenant_id)
                      & (Call.call_id == ScorecardRow.call_id))
                .order_by(Call.started_at_utc, ScorecardRow.call_id, ScorecardRow.id))
        if since is not None:
            stmt = stmt.where(Call.started_at_utc >= since)
        if until is not None:
            stmt = stmt.where(Call.started_at_utc < until)
        if rubric_id is not None:
            stmt = stmt.where(ScorecardRow.rubric_id == rubric_id)
        if call_id is not None:
            stmt = stmt.where(ScorecardRow.call_id == call_id)
        with self.session() as s:
            return [dict(self.unseal(d)) for d in s.scalars(stmt)]

    def count_scorecards(self) -> int:
        """How many scorecards this tenant has."""
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(ScorecardRow)) or 0)

    # --- quarantine ---------------------------------------------------------------------------
    def quarantine(self, source_key: str, source_uri: str, *, error_type: str, reason: str,
                   message: str) -> None:
        """Record a failed input (one row per input; retries bump ``attempts``)."""
        with self.session() as s:
            row = s.get(QuarantineEntry, (self.tenant_id, source_key))
            if row is None:
                s.add(QuarantineEntry(tenant_id=self.tenant_id, source_key=source_key,
                                      source_uri=source_uri, error_type=error_type,
                                      reason=reason, message=message, attempts=1))
            else:
                row.source_uri, row.error_type = source_uri, error_type
                row.reason, row.message = reason, message
                row.attempts += 1

    def quarantined(self) -> list[QuarantineRecord]:
        """Inputs currently in quarantine."""
        with self.session() as s:
            return [QuarantineRecord(r.tenant_id, r.source_key, r.source_uri, r.error_type,
                                     r.reason, r.message, r.attempts)
                    for r in s.scalars(select(QuarantineEntry)
                                       .order_by(QuarantineEntry.source_uri))]

    # --- retention ----------------------------------------------------------------------
    def purge_calls(self, *, before: dt.datetime, actor: str = "retention"
                    ) -> list[CallRecord]:
        """Delete every row of calls that started (or, without a start time, were last
        updated) before ``before`` (naive UTC): items, reviews, disputes, case tags,
        calibration-session calls and verdicts, scorecards, costs, conversations, quarantine
        entries and the calls, plus an audit record with the counts, in one transaction.
        Returns the purged calls (for deleting their files).
        """
        old = (Call.started_at_utc < before) | (
            Call.started_at_utc.is_(None) & (Call.updated_at < before))
        with self.session() as s:
            calls = list(s.scalars(select(Call).where(old)))
            ids = [c.call_id for c in calls]
            records = [_call_record(c) for c in calls]
            if not ids:
                return []
            counts: dict[str, int] = {}
            card_ids = select(ScorecardRow.id).where(ScorecardRow.call_id.in_(ids))
            bump_failures(s, self.tenant_id, current_failing_keys(s, card_ids), -1)
            item_ids = select(ScorecardItemRow.id).where(
                ScorecardItemRow.scorecard_id.in_(card_ids))
            for name, stmt in (
                ("reviews", delete(Review).where(Review.scorecard_item_id.in_(item_ids))),
                ("disputes", delete(Dispute).where(Dispute.scorecard_item_id.in_(item_ids))),
                ("case_tags", delete(CaseTag).where(CaseTag.call_id.in_(ids))),
                ("calibration_session_verdicts", delete(CalibrationSessionVerdict).where(
                    CalibrationSessionVerdict.call_id.in_(ids))),
                ("calibration_session_calls", delete(CalibrationSessionCall).where(
                    CalibrationSessionCall.call_id.in_(ids))),
                ("scorecard_items", delete(ScorecardItemRow).where(
                    ScorecardItemRow.scorecard_id.in_(card_ids))),
                ("scorecard_documents", delete(ScorecardDocument).where(
                    ScorecardDocument.scorecard_id.in_(card_ids))),
                ("scorecards", delete(ScorecardRow).where(ScorecardRow.call_id.in_(ids))),
                ("stage_costs", delete(StageCost).where(StageCost.call_id.in_(ids))),
                ("conversations", delete(ConversationRow).where(
                    ConversationRow.call_id.in_(ids))),
                ("quarantine", delete(QuarantineEntry).where(QuarantineEntry.source_key.in_(
                    [f"sha256:{c.sha256}" for c in calls]))),
                ("calls", delete(Call).where(Call.call_id.in_(ids))),
            ):
                result = s.execute(stmt, execution_options={"synchronize_session": False})
                counts[name] = int(getattr(result, "rowcount", 0) or 0)
            s.add(AuditEntry(tenant_id=self.tenant_id, actor=actor, action="retention.purge",
                             entity="calls", entity_id=f"before {before.isoformat()}",
                             before={"call_ids": ids}, after={"deleted": counts}, at=utcnow()))
            return records

    # --- costs and audit ----------------------------------------------------------------------
    def _replace_costs(self, s: ScopedSession, call_id: str, run_id: str,
                       costs: Sequence[StageSeconds]) -> None:
        stages = [c.stage for c in costs]
        if not stages:
            return
        s.execute(delete(StageCost).where(StageCost.call_id == call_id,
                                          StageCost.run_id == run_id,
                                          StageCost.stage.in_(stages)))
        for c in costs:
            s.add(StageCost(tenant_id=self.tenant_id, call_id=call_id, run_id=run_id,
                            stage=c.stage, device=c.device, wall_s=c.wall_s, cpu_s=c.cpu_s,
                            gpu_s=c.gpu_s))

    def costs(self, call_id: str) -> list[StageSeconds]:
        """Every stage cost recorded for one call (all runs)."""
        with self.session() as s:
            return [StageSeconds(r.stage, r.wall_s, r.cpu_s, r.gpu_s, r.device)
                    for r in s.scalars(select(StageCost).where(StageCost.call_id == call_id)
                                       .order_by(StageCost.id))]

    def cost_rollup(self) -> list[dict[str, Any]]:
        """Seconds per business line of this tenant (and per stage), with the cost of one
        call (one customer request) on average.
        """
        line = func.coalesce(Call.business_line, "")
        of_call = (Call.tenant_id == StageCost.tenant_id) & (Call.call_id == StageCost.call_id)
        stmt = (select(line, StageCost.stage, func.sum(StageCost.wall_s),
                       func.sum(StageCost.cpu_s), func.sum(StageCost.gpu_s))
                .join(Call, of_call).group_by(line, StageCost.stage)
                .order_by(line, StageCost.stage))
        out: dict[str, dict[str, Any]] = {}
        with self.session() as s:
            calls_per_line = dict(s.execute(
                select(line, func.count(func.distinct(StageCost.call_id)))
                .join(Call, of_call).group_by(line)).tuples().all())
            for bl, stage, wall, cpu, gpu in s.execute(stmt).tuples():
                entry = out.setdefault(bl, {
                    "tenant_id": self.tenant_id, "business_line": bl,
                    "calls": int(calls_per_line.get(bl, 0)), "wall_s": 0.0, "cpu_s": 0.0,
                    "gpu_s": 0.0, "stages": {}})
                entry["stages"][stage] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                          "gpu_s": round(gpu, 3)}
                entry["wall_s"] += wall
                entry["cpu_s"] += cpu
                entry["gpu_s"] += gpu
        for entry in out.values():
            n = max(entry["calls"], 1)
            for k in ("wall_s", "cpu_s", "gpu_s"):
                entry[k] = round(entry[k], 3)
                entry[f"{k[:-2]}_s_per_call"] = round(entry[k] / n, 3)
        return list(out.values())

    def audit(self, actor: str, action: str, entity: str, entity_id: str, *,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        """Append to the audit log."""
        with self.session() as s:
            s.add(AuditEntry(tenant_id=self.tenant_id, actor=actor, action=action,
                             entity=entity, entity_id=entity_id, before=before, after=after,
                             at=utcnow()))

    def audit_log(self) -> list[dict[str, Any]]:
        """The audit log, oldest first."""
        with self.session() as s:
            return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                     "entity": r.entity, "entity_id": r.entity_id, "before": r.before,
                     "after": r.after}
                    for r in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _call_record(r: Call) -> CallRecord:
    return CallRecord(r.tenant_id, r.call_id, r.sha256, r.source_uri or "", r.agent_id or "",
                      r.team_id or "", r.business_line or "", r.started_at or "",
                      r.direction or "", r.channel_layout or "", r.duration_s, r.language or "",
                      r.config_key or "", r.status)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers (the review app) work while a batch writes; foreign keys are
            # off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for an error message
        return "<database url>"


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as e:
        raise StoreError(f"database error: {e}") from e


def backup_sqlite(url: str, destination: Path) -> int:
    """Copy an embedded SQLite store to ``destination`` with SQLite's online backup API.

    Unlike copying the file, the backup includes what is still in the write-ahead log
    (``-wal``) and is consistent while other processes write.

    Returns:
        The number of calls in the copy.

    Raises:
        StoreError: the URL is not a SQLite file, ``destination`` exists, or the copy failed.
    """
    import sqlite3

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as e:  # noqa: BLE001 - any unparsable URL is the user's error
        raise StoreError(f"not a database URL: {_redact(url)}") from e
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        raise StoreError(f"db backup copies SQLite files; {_redact(url)} is not one "
                         "(back a server database up with its own tools, e.g. pg_dump)")
    if not Path(database).is_file():
        raise StoreError(f"no SQLite database at {database}")
    if destination.exists():
        raise StoreError(f"{destination} exists; choose a new file")
    try:
        with closing(sqlite3.connect(database, timeout=60)) as src, \
                closing(sqlite3.connect(destination)) as dst:
            src.backup(dst)
            (calls,) = dst.execute("SELECT count(*) FROM calls").fetchone()
    except sqlite3.Error as e:
        destination.unlink(missing_ok=True)
        raise StoreError(f"backing up {database} failed: {e}") from e
    return int(calls)
