"""`qa-pipeline users add / list` and `qa-pipeline serve` wiring (the server itself is
replaced by a capture of the app it would run, then driven with a test client)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa_pipeline.cli import app


def test_users_add_then_serve_signs_in(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    monkeypatch.setenv("QA_PIPELINE_NEW_PASSWORD", "a long enough password")
    r = CliRunner().invoke(app, ["users", "add", "lin", "--role", "qa_monitor", "--tenant",
                                 "default", "--db", db])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["users", "list", "--db", db])
    assert "lin\tqa_monitor\tdefault" in r.output
    r = CliRunner().invoke(app, ["users", "add", "lin", "--role", "qa_monitor", "--tenant",
                                 "default", "--db", db])
    assert r.exit_code != 0 and "already exists" in str(r.exception)

    captured = {}

    def fake_run(asgi, host, port, log_level):
        captured.update(app=asgi, host=host, port=port)

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("QA_PIPELINE_SECRET_KEY", "s" * 40)
    r = CliRunner().invoke(app, ["serve", "--db", db, "--port", "8123", "--audio-root",
                                 str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (captured["host"], captured["port"]) == ("127.0.0.1", 8123)
    c = TestClient(captured["app"])
    resp = c.post("/login", data={"username": "lin", "password": "a long enough password"},
                  follow_redirects=False)
    assert resp.status_code == 303
    assert c.get("/api/me").json() == {"user_id": "lin", "role": "qa_monitor",
                                       "tenants": ["default"], "agent_id": ""}
    assert c.get("/api/t/default/queue").json()["total"] == 0


def test_short_secret_is_refused(monkeypatch):
    import pytest

    from qa_pipeline.errors import ConfigError
    from qa_pipeline.web.settings import secret_from_env

    monkeypatch.setenv("QA_PIPELINE_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="32 characters"):
        secret_from_env()
