"""A reviewer points at the transcript utterances that are the evidence of their verdict
(issue 24: the insult the act model missed): stored as indices with the review, on the card
and in the audit trail, validated against the call's conversation, and migration 0005 adds
the column to an existing store. SQLite always; PostgreSQL when a server is configured.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from qa_pipeline.errors import NotFoundError, ReviewError
from qa_pipeline.review import ReviewDesk
from qa_pipeline.review.rescore import HumanVerdict
from qa_pipeline.rubric.tune import ReviewedCall
from qa_pipeline.store import Store
from qa_pipeline.store.tables import Review
from tests.review_fixtures import build_world
from tests.store_fixtures import db_url  # noqa: F401 - fixture


@pytest.fixture
def world(tmp_path, db_url):  # noqa: F811
    w = build_world(tmp_path, db_url)
    yield w
    w.store.close()


def desk(world, tenant="acme"):
    return ReviewDesk(world.store.tenant(tenant), world.catalog)


def test_pointed_utterances_round_trip_through_the_store(world):
    sid = world.card_ids["call-good"]  # 4 utterances; the greeting is utterance 0
    d = desk(world)
    new = d.review_item(sid, "closing", "fail", reviewer="monitor",
                        comment="said it too early", utterances=[2, 0, 2])
    item = next(i for i in new["items"] if i["criterion_id"] == "closing")
    assert item["review"]["utterances"] == [0, 2]  # sorted, once each
    stored = next(i for i in d.card(sid)["items"] if i["criterion_id"] == "closing")
    assert stored["review"]["utterances"] == [0, 2]
    assert "text" not in stored["review"] and "quote" not in stored["review"]
    with world.store.tenant("acme").session() as s:
        rows = list(s.scalars(select(Review)))
    assert [r.utterances for r in rows] == [[0, 2]]
    assert d.audit_trail(sid)[-1]["after"]["utterances"] == [0, 2]
    # The tuner reads them back from the card, apart from the rules' own quotes.
    call = ReviewedCall.from_card(d.card(sid), world.store.tenant("acme").conversation(
        "call-good")[0])
    assert call.pointed == {"closing": (0, 2)}
    # A review that points at nothing stores nothing, and replaces the earlier pointing.
    again = d.review_item(sid, "closing", "pass", reviewer="monitor")
    assert "utterances" not in next(i for i in again["items"]
                                    if i["criterion_id"] == "closing")["review"]
    assert "utterances" not in d.audit_trail(sid)[-1]["after"]


@pytest.mark.parametrize("bad", [[4], [-1], ["1"], [1.5], [True]])
def test_pointed_indices_must_exist_in_the_calls_conversation(world, bad):
    sid = world.card_ids["call-good"]
    with pytest.raises(ReviewError):
        desk(world).review_item(sid, "closing", "fail", reviewer="monitor", utterances=bad)
    assert not next(i for i in desk(world).card(sid)["items"]
                    if i["criterion_id"] == "closing").get("review")
    with world.store.tenant("acme").session() as s:
        assert not list(s.scalars(select(Review)))  # nothing half-written


def test_another_tenants_card_cannot_be_pointed_at(world):
    with pytest.raises(NotFoundError):
        desk(world).review_item(world.card_ids["call-globex"], "greeting", "fail",
                                reviewer="monitor", utterances=[0])


def test_human_verdict_orders_indices_and_old_reviews_read_without_them():
    v = HumanVerdict("fail", "m", "", "2026-12-07T00:00:00Z", (3, 1, 3))
    assert v.utterances == (1, 3)
    old = {"status": "pass", "reviewer": "m", "comment": "", "at": "2026-12-07T00:00:00Z"}
    assert HumanVerdict(**old).utterances == ()


def test_migration_0005_adds_the_column_to_an_existing_store(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'db.db'}"
    store = Store(url)
    cfg = store._alembic_config()
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        conn.commit()
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(reviews)"))}
    assert "utterances" not in cols
    store.migrate()
    assert store.schema_revision() == store.head_revision() == "0005"
    with store.engine.connect() as conn:
        cols = {r[1] for r in conn.execute(text("PRAGMA table_info(reviews)"))}
    assert "utterances" in cols
    store.close()
