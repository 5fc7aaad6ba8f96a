from __future__ import annotations

import csv
from pathlib import Path

import pytest

from qa_pipeline.frontend import FrontEnd
from qa_pipeline.tenants import load_tenant

DATA = Path(__file__).resolve().parents[2] / "data_samples"


@pytest.fixture(scope="session")
def sample_rows():
    with open(DATA / "manifest.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def frontends():
    cache = {}

    def get(tenant_id: str) -> FrontEnd:
        if tenant_id not in cache:
            cache[tenant_id] = FrontEnd.for_tenant(load_tenant(tenant_id))
        return cache[tenant_id]
    return get


@pytest.fixture(scope="session")
def sample_conversations(sample_rows, frontends):
    """Every data_samples call through the real embedded models, once per session."""
    out = {}
    for row in sample_rows:
        name = Path(row["path"]).stem
        fe = frontends(row["tenant_id"])
        out[name] = fe.transcribe(fe.load(DATA / row["path"])).conversation
    return out
