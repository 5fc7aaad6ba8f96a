"""A small review world for the review library, web API and browser tests: two tenants
with scored calls (one clean, one with a confirmed fatal error, one awaiting review),
recordings on disk, a published rubric and users of every role.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_pipeline.review import RubricCatalog, UserDirectory
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.store import Store
from tests.helpers import make_conversation

RUBRIC = """\
id: review_demo
version: 3
tenant: any
languages: [en]
sections:
  - id: opening
    weight: 20
    criteria:
      - id: greeting
        points: 10
        rule: {type: required_phrase, phrases: [hello]}
  - id: compliance
    weight: 80
    criteria:
      - id: unauthorized_promise
        severity: fatal
        points: 10
        rule: {type: forbidden_phrase, role: agent, phrases: [i guarantee]}
      - id: closing
        points: 10
        rule: {type: required_phrase, role: agent, phrases: [anything else]}
  - id: observations
    weight: 0
    criteria:
      - id: customer_thanked
        kind: flag
        rule: {type: forbidden_phrase, role: customer, phrases: [thanks]}
"""

PASSWORD = "correct horse battery"

# (call id, agent, team, start, agent's lines with word probability)
CALLS = {
    "acme": [
        ("call-good", "ag-1", "team-a", "2026-11-02T09:00:00+08:00",
         [("hello this is acme", 0.95), ("is there anything else", 0.95)]),
        ("call-fatal", "ag-1", "team-a", "2026-11-02T10:00:00+08:00",
         [("hello there", 0.95), ("i guarantee a refund tomorrow", 0.95),
          ("anything else", 0.95)]),
        ("call-unsure", "ag-2", "team-b", "2026-11-03T11:00:00+08:00",
         [("hello", 0.95), ("i guarantee it", 0.30), ("bye", 0.95)]),
    ],
    "globex": [
        ("call-globex", "ag-9", "team-g", "2026-11-02T09:30:00+08:00",
         [("hello globex secret", 0.95), ("anything else", 0.95)]),
    ],
}


@dataclass
class ReviewWorld:
    """What the fixtures built."""

    store: Store
    catalog: RubricCatalog
    audio_dir: Path
    rubric_dir: Path
    card_ids: dict[str, int]


def write_tone(path: Path, seconds: float = 12.0, rate_hz: int = 8000) -> None:
    """A two-channel tone recording (agent left, customer right)."""
    import soundfile as sf

    t = np.arange(int(seconds * rate_hz)) / rate_hz
    data = np.stack([0.2 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], 1)
    sf.write(str(path), data, rate_hz, subtype="PCM_16")


def build_world(tmp: Path, db_url: str | None = None) -> ReviewWorld:
    """Store, rubric, recordings, scored calls and users (password :data:`PASSWORD`)."""
    rubric_dir = tmp / "rubrics"
    audio_dir = tmp / "audio"
    rubric_dir.mkdir()
    audio_dir.mkdir()
    (rubric_dir / "review_demo.yaml").write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(rubric_dir / "review_demo.yaml")
    store = Store(db_url or f"sqlite:///{tmp / 'review.db'}")
    card_ids: dict[str, int] = {}
    for tenant, calls in CALLS.items():
        store.register_tenant(tenant)
        ts = store.tenant(tenant)
        for call_id, agent, team, start, lines in calls:
            rows = []
            t = 0.0
            for text, prob in lines:
                rows.append(["agent", t, t + 2.0, text, prob])
                rows.append(["customer", t + 2.0, t + 3.5, "okay thanks", 0.95])
                t += 3.5
            conv = make_conversation(rows, call_id=call_id, tenant_id=tenant, language="en")
            wav = audio_dir / f"{tenant}-{call_id}.wav"
            write_tone(wav, seconds=t + 1.0)
            conv = dataclasses.replace(conv, sha256=hashlib.sha256(wav.read_bytes()).hexdigest())
            meta = {"agent_id": agent, "team_id": team, "started_at": start}
            ts.save_conversation(conv, frontend_key="k", meta=meta, source_uri=str(wav))
            result = evaluate(rubric, EvaluationContext(conv))
            card = build_scorecard(rubric, result, call_id=call_id, tenant_id=tenant,
                                   provenance={"models": {"asr": "hand"}},
                                   call={"call_id": call_id, "tenant_id": tenant,
                                         "agent_id": agent, "team_id": team,
                                         "started_at": start})
            card_ids[call_id] = ts.save_scorecard(card)
    users = UserDirectory(store)
    for user, role, tenants, agent in (
            ("admin", "admin", ("acme", "globex"), ""),
            ("monitor", "qa_monitor", ("acme",), ""),
            ("trainer", "trainer", ("acme",), ""),
            ("super", "supervisor", ("acme",), ""),
            ("agent1", "agent", ("acme",), "ag-1"),
            ("gmonitor", "qa_monitor", ("globex",), "")):
        users.create(user, PASSWORD, role=role, tenants=tenants, agent_id=agent)
    return ReviewWorld(store, RubricCatalog([rubric_dir]), audio_dir, rubric_dir, card_ids)
