"""Databases for store and runner tests: SQLite always; PostgreSQL when
``QA_PIPELINE_TEST_PG_URL`` names a server (``.ci/run`` starts one from Debian packages).
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("QA_PIPELINE_TEST_PG_URL", "")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="QA_PIPELINE_TEST_PG_URL not set (start one with .ci/postgres.sh)"))]


def fresh_pg_database(upgrade: bool = True) -> tuple[str, object]:
    """A new database on the test server, at the current schema unless ``upgrade`` is
    false (then empty, as before ``qa-pipeline db upgrade``); returns (url, dropper).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "callqa_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    if upgrade:
        # A server database is only upgraded explicitly (Store refuses an old schema).
        from qa_pipeline.store import Store

        Store(url, migrate="upgrade").close()
    return url, drop


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qa.db'}"
        return
    url, drop = fresh_pg_database()
    yield url
    drop()
