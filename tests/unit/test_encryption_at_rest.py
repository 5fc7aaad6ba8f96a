"""privacy.mode ``encrypt_and_redact_on_display``: transcripts and scorecard documents are
sealed with the tenant's key in the store and the front-end cache (no plaintext on disk),
rules read the full text in memory, and everything shown to people — output files, the
review app's call page and audio, case packs — is redacted.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from qa_pipeline.errors import ConfigError, StoreError
from qa_pipeline.privacy.vault import Vault, is_sealed, tenant_key
from qa_pipeline.review import UserDirectory
from qa_pipeline.runner import FrontEndCache
from qa_pipeline.store import Store
from qa_pipeline.web import WebSettings, create_app
from tests.conftest import REPO
from tests.unit.test_privacy_policy import policy_tenant, run

NUMBER = b"13800138000"
KEY = Fernet.generate_key().decode()


def test_vault_round_trip_and_refusals(tmp_path, monkeypatch):
    v = Vault("acme", KEY.encode())
    sealed = v.seal({"text": "call 13800138000", "n": [1, 2]})
    assert is_sealed(sealed) and "13800138000" not in json.dumps(sealed)
    assert v.open(sealed) == {"text": "call 13800138000", "n": [1, 2]}
    assert v.open({"plain": True}) == {"plain": True}  # stored before encryption began
    with pytest.raises(StoreError, match="cannot be decrypted"):
        Vault("acme", Fernet.generate_key()).open(sealed)
    with pytest.raises(StoreError, match="tenant 'acme' was read as tenant 'globex'"):
        Vault("globex", KEY.encode()).open(sealed)
    with pytest.raises(ConfigError, match="not a Fernet key"):
        Vault("acme", b"short")
    monkeypatch.delenv("QA_PIPELINE_TENANT_KEY_VAULT_CO", raising=False)
    monkeypatch.delenv("QA_PIPELINE_KEYS_DIR", raising=False)
    with pytest.raises(ConfigError, match="QA_PIPELINE_TENANT_KEY_VAULT_CO"):
        tenant_key("vault-co")
    (tmp_path / "vault-co.key").write_text(KEY + "\n", encoding="utf-8")
    monkeypatch.setenv("QA_PIPELINE_KEYS_DIR", str(tmp_path))
    assert tenant_key("vault-co") == KEY.encode()


@pytest.fixture
def vault_tenant(tmp_path, monkeypatch):
    inbox = policy_tenant(tmp_path, monkeypatch, "vault_co",
                          "{mode: encrypt_and_redact_on_display}")
    monkeypatch.setenv("QA_PIPELINE_TENANT_KEY_VAULT_CO", KEY)
    store, report = run(tmp_path, inbox, "vault_co")
    assert len(report.processed) == 2
    return store, report, inbox


def test_nothing_on_disk_holds_the_number_but_rules_and_reviewers_get_what_they_need(
        tmp_path, vault_tenant, monkeypatch):
    store, report, inbox = vault_tenant
    call_id = report.processed[0].call_id
    store.close()  # checkpoint the WAL so the database file is what is on disk
    for path in [*(tmp_path / "cache").rglob("*.json"), *tmp_path.glob("qa.db*")]:
        assert NUMBER not in path.read_bytes(), path
    out_files = list((tmp_path / "out").rglob("*.*"))
    assert out_files
    for path in out_files:  # output files are for people: redacted
        assert NUMBER not in path.read_bytes(), path
    conv_out = next(p for p in out_files if p.name == "conversation.json")
    assert "[PHONE]" in conv_out.read_text(encoding="utf-8")

    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    ts = store.tenant("vault_co")
    conv, _ = ts.conversation(call_id)
    assert conv.utterances[1].text == "my number 13800138000"  # in memory, in full
    assert ts.scorecards(call_id=call_id)[0]["call_id"] == call_id
    from sqlalchemy import select

    from qa_pipeline.store.tables import ConversationRow, ScorecardDocument

    with ts.session() as s:
        assert all(is_sealed(d) for d in s.scalars(select(ScorecardDocument.data)))
        assert all(is_sealed(d) for d in s.scalars(select(ConversationRow.data)))
    entry = next((tmp_path / "cache").rglob("*.json"))
    with pytest.raises(StoreError, match="encrypted"):
        FrontEndCache.read(entry)
    assert FrontEndCache.read(entry, ts.vault).conversation.utterances[1].text.endswith(
        "13800138000")

    UserDirectory(store).create("rev", "a long password", role="supervisor",
                                tenants=("vault_co",))
    app = create_app(store, WebSettings(secret_key=b"k" * 32, rubric_paths=(REPO / "rubrics",),
                                        audio_roots=(inbox,)))
    c = TestClient(app)
    c.post("/login", data={"username": "rev", "password": "a long password"})
    sid = c.get("/api/t/vault_co/queue").json()["rows"][0]["scorecard_id"]
    bundle = c.get(f"/api/t/vault_co/scorecards/{sid}")
    assert bundle.status_code == 200 and b"13800138000" not in bundle.content
    shown = bundle.json()["conversation"]
    assert any("[PHONE]" in u["text"] for u in shown["utterances"])
    page = c.get(f"/t/vault_co/scorecards/{sid}")
    assert page.status_code == 200 and "13800138000" not in page.text
    # The audio is beeped where the number was said.
    card_call = bundle.json()["card"]["call_id"]
    beeped, rate = sf.read(io.BytesIO(c.get(f"/api/t/vault_co/calls/{card_call}/audio").content),
                           always_2d=True)
    original, _ = sf.read(next(p for p in inbox.iterdir()
                               if p.read_bytes() and _sha(p) == ts.call(card_call).sha256),
                          always_2d=True)
    conv_full, _ = ts.conversation(card_call)
    w = conv_full.utterances[1].words[2]  # the word that said the number
    a, b = int((w.start_s + 0.02) * rate), int((w.end_s - 0.02) * rate)
    assert not np.allclose(beeped[a:b, 0], original[a:b, 0], atol=1e-3)
    assert np.allclose(beeped[: int(0.2 * rate), 0], original[: int(0.2 * rate), 0], atol=1e-3)
    # Case packs are redacted; phrase search cannot look into sealed transcripts.
    pack = c.get(f"/api/t/vault_co/cases/pack?call_id={card_call}")
    z = zipfile.ZipFile(io.BytesIO(pack.content))
    for name in z.namelist():
        assert NUMBER not in z.read(name), name
    assert c.get("/api/t/vault_co/cases?phrase=number").status_code == 422
    # Without the key the tenant's data cannot be opened, and the error says what is missing.
    monkeypatch.delenv("QA_PIPELINE_TENANT_KEY_VAULT_CO")
    with pytest.raises(ConfigError, match="has no key"):
        Store(f"sqlite:///{tmp_path / 'qa.db'}").tenant("vault_co")


def _sha(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
