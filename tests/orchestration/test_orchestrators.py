"""``qa-pipeline run --orchestrator local`` and ``--orchestrator prefect`` (the score_calls flow
under the real Prefect engine) make the same store rows, files and summary from the same
input, with a scripted front end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa_pipeline.store import Store
from tests.orchestration.test_flow_identity import unique_call
from tests.unit.test_one_runner import (  # noqa: F401 - fixtures
    manifest,
    pii_frontend,
    tenants,
)

pytestmark = pytest.mark.integration


def _rows(db: str) -> dict[str, Any]:
    store = Store(db)
    rows: dict[str, Any] = {}
    for tenant_id in store.tenant_ids():
        t = store.tenant(tenant_id)
        calls = t.calls()
        rows[tenant_id] = {
            "calls": [(c.call_id, c.agent_id, c.sha256, c.source_uri, c.status)
                      for c in calls],
            "scorecards": [(card["call_id"], card["rubric_id"], card["rubric_version"],
                            card["total_score"], card["grade"], card["has_fatal"],
                            sorted((i["criterion_id"], i["status"]) for i in card["items"]))
                           for c in calls for card in t.scorecards(call_id=c.call_id)],
            "quarantine": [(q.source_uri, q.error_type, q.reason, q.message)
                           for q in t.quarantined()],
            "cost_stages": sorted({s.stage for c in calls for s in t.costs(c.call_id)}),
        }
    store.close()
    return rows


def _files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.mark.usefixtures("tenants", "pii_frontend")
def test_local_and_prefect_runs_store_the_same(prefect_api, tmp_path):
    from flows.cli import cli_app

    inbox = tmp_path / "in"
    inbox.mkdir()
    a = unique_call(inbox / "a.wav")
    b = unique_call(inbox / "b.wav")
    (inbox / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    calls = manifest(tmp_path / "calls.csv", [(a, "call-a", "agent-1"), (b, "call-b", "agent-2"),
                                              (inbox / "corrupt.wav", "call-c", "agent-1")])
    results: dict[str, Any] = {}
    for how in ("local", "prefect"):
        db = f"sqlite:///{tmp_path / f'{how}.db'}"
        args = ["run", str(calls), "--orchestrator", how, "--db", db,
                "--out", str(tmp_path / f"out_{how}"),
                "--cache-dir", str(tmp_path / f"cache_{how}")]
        first = CliRunner().invoke(cli_app(), [*args, "--json", str(tmp_path / f"{how}.json")])
        assert first.exit_code == 1, first.output  # the corrupt input
        again = CliRunner().invoke(cli_app(), args)
        assert again.exit_code == 1, again.output
        assert "processed: 0, skipped as already done: 2, quarantined: 1" in again.output
        results[how] = {
            "first": first.output.splitlines(),
            "summary": json.loads((tmp_path / f"{how}.json").read_text(encoding="utf-8")),
            "rows": _rows(db), "files": _files(tmp_path / f"out_{how}")}
    local, flow = results["local"], results["prefect"]
    assert local["rows"] == flow["rows"]
    assert local["rows"]["default"]["calls"][0][:2] == ("call-a", "agent-1")
    assert local["files"] == flow["files"]
    assert set(local["summary"]) == set(flow["summary"])
    assert local["summary"]["failed"] == flow["summary"]["failed"]
    assert local["summary"]["skipped"] == flow["summary"]["skipped"] == []

    def scored(summary: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in p.items() if k != "cached_frontend"}
                       for p in summary["processed"]), key=lambda p: p["call_id"])

    assert scored(local["summary"]) == scored(flow["summary"])
    assert [p["call_id"] for p in scored(local["summary"])] == ["call-a", "call-b"]
    summary_line = "processed: 2, skipped as already done: 0, quarantined: 1"
    assert summary_line in "\n".join(local["first"])
    assert summary_line in "\n".join(flow["first"])
