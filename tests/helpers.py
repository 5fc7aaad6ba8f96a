"""Test helpers: hand-built conversations and the time-aligned-data contract."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scorecard.card import Scorecard
from qa_pipeline.types import Conversation, Provenance, Role, Utterance, Word

REPO = Path(__file__).resolve().parents[1]


def make_conversation(rows, duration_s: float | None = None, call_id: str = "c1",
                      tenant_id: str = "default", language: str = "zh",
                      role_confidence: float = 1.0) -> Conversation:
    """rows: [role, start_s, end_s, text] or [role, start_s, end_s, text, probability]."""
    utts = []
    for i, row in enumerate(rows):
        role, start, end, text = row[:4]
        prob = float(row[4]) if len(row) > 4 else 0.95
        tokens = list(text) if any("\u4e00" <= ch <= "\u9fff" for ch in text) else text.split()
        tokens = [t for t in tokens if t.strip()] or [text]
        step = (end - start) / len(tokens)
        words = tuple(Word(start + k * step, start + (k + 1) * step, t, prob)
                      for k, t in enumerate(tokens))
        utts.append(Utterance(i, f"spk_{role}", Role(role), role_confidence, float(start),
                              float(end), text, language, words))
    dur = duration_s if duration_s is not None else max((u.end_s for u in utts), default=0) + 1
    prov = Provenance("test", "hand", "hand", "hand", "hand", "hand")
    return Conversation(call_id, tenant_id, float(dur), language, tuple(utts), prov)


def assert_valid_conversation(conv: Conversation, *, both_roles: bool = True) -> None:
    """Contract for every front-end backend (STYLE principle 14)."""
    assert conv.duration_s > 0
    last_start = -1.0
    for i, u in enumerate(conv.utterances):
        assert u.index == i
        assert 0.0 <= u.start_s <= u.end_s <= conv.duration_s + 0.05, u
        assert u.start_s >= last_start - 1e-6, "utterances must be in start order"
        last_start = u.start_s
        assert isinstance(u.role, Role)
        assert 0.0 <= u.role_confidence <= 1.0
        assert u.text.strip()
        assert u.words, "every utterance carries its words"
        prev = -1.0
        for w in u.words:
            assert 0.0 <= w.start_s <= w.end_s <= conv.duration_s + 0.05, w
            assert u.start_s - 1e-6 <= w.start_s and w.end_s <= u.end_s + 1e-6, (w, u)
            assert w.start_s >= prev - 1e-6, "words monotonic within an utterance"
            prev = w.start_s
            assert 0.0 <= w.probability <= 1.0
    if both_roles:
        roles = {u.role for u in conv.utterances}
        assert {Role.AGENT, Role.CUSTOMER} <= roles, roles


def load_script(relative_path: str, name: str) -> ModuleType:
    """A script of the repository that is not in a package (``benchmarks/...``), loaded by
    path; registered in ``sys.modules`` while it runs, as dataclasses look their module up.
    """
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    return module


@cache
def default_rubric(lang: str) -> Rubric:
    """The shipped ``customer_service_<lang>`` rubric with its time budget lifted: loading the
    act model and fitting the rubric's own acts happen in the first call's budget, and on a
    busy machine that would send the verdict to review (the verdict, not the speed, is tested).
    """
    rubric = load_rubric(REPO / "rubrics" / f"customer_service_{lang}.yaml")
    return rubric.model_copy(update={"time_budget_s": 3600.0})


def score_turns(lang: str, turns: list[tuple[str, str]]) -> Scorecard:
    """Score ``(role, text)`` turns, 3 s apart, with the default rubric and the default
    tenant's analyzers (embedded sentiment), as ``qa-pipeline score`` does."""
    from qa_pipeline.pipeline import analyzers_for, score_conversation
    from qa_pipeline.tenants import load_tenant

    rows = [[role, 3.0 * i, 3.0 * i + 2.5, text] for i, (role, text) in enumerate(turns)]
    conv = make_conversation(rows, language=lang)
    return score_conversation(conv, default_rubric(lang),
                              analyzers=analyzers_for(load_tenant("default")))


def criterion_status(card: Scorecard, criterion: str) -> str:
    """The provisional status of one criterion of a scorecard."""
    (item,) = [i for i in card.items if i.result.criterion_id == criterion]
    return str(item.result.provisional_status.value)
