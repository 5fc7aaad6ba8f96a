"""Scoring, grade bands and KPI formulas against DOMAIN.md."""

from __future__ import annotations

import pytest

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.scorecard.kpi import kpi_rollup
from qa_pipeline.types import Status
from tests.helpers import make_conversation

RUBRIC = """\
id: t
version: 3
knockout_scope: {scope}
sections:
  - id: a
    weight: 60
    criteria:
      - id: greet
        points: 10
        rule: {{type: required_phrase, phrases: [hello]}}
      - id: close
        points: 30
        rule: {{type: required_phrase, phrases: [goodbye]}}
      - id: curt
        deduction: 12
        rule: {{type: forbidden_phrase, phrases: [whatever]}}
  - id: b
    weight: 40
    criteria:
      - id: promise
        severity: fatal
        points: 10
        rule: {{type: forbidden_phrase, phrases: [i guarantee]}}
      - id: complaint
        kind: flag
        rule: {{type: forbidden_phrase, role: customer, phrases: [complaint]}}
"""


def score(rows, scope="call", prob=0.95, role_confidence=1.0):
    rubric = load_rubric_text(RUBRIC.format(scope=scope))
    rows = [[*r, prob] for r in rows]
    conv = make_conversation(rows, role_confidence=role_confidence)
    result = evaluate(rubric, EvaluationContext(conv))
    return build_scorecard(rubric, result, call_id="c1", tenant_id="t1", provenance={})


@pytest.mark.parametrize("score_pct,grade", [
    (100, "A"), (95, "A"), (94.5, "A"), (94.4, "B"), (90, "B"), (89.6, "B"), (89.4, "C"),
    (80, "C"), (79, "D"), (71, "D"), (70.5, "D"), (70.4, "E"), (70, "E"), (0, "E"),
])
def test_grade_bands_match_domain(score_pct, grade):
    rubric = load_rubric_text(RUBRIC.format(scope="call"))
    assert rubric.grade_for(score_pct).grade == grade


def test_perfect_call():
    card = score([["agent", 0, 2, "hello"], ["agent", 3, 4, "goodbye"]])
    assert card.total_score == 100.0
    assert card.grade == "A" and card.grade_label == "卓越"
    assert not card.has_fatal and not card.has_non_fatal_error
    assert card.rubric_ref == "t@3"


def test_points_are_shared_by_weight():
    # greet passes (10 of 40 points in section a -> 15 of 60), close fails; section b full.
    card = score([["agent", 0, 2, "hello"]])
    assert card.item("close").result.status is Status.FAIL
    assert card.total_score == pytest.approx(100 * (15 + 40) / 100)
    assert card.has_non_fatal_error


def test_deduction():
    card = score([["agent", 0, 2, "hello goodbye whatever"]])
    assert card.item("curt").deduction == 12
    assert card.total_score == pytest.approx(100 * (60 - 12 + 40) / 100)


def test_fatal_zeroes_call():
    card = score([["agent", 0, 2, "hello goodbye"], ["agent", 3, 4, "I guarantee it"]])
    assert card.has_fatal
    assert card.total_score == 0.0 and card.grade == "E"


def test_fatal_zeroes_only_its_section():
    card = score([["agent", 0, 2, "hello goodbye"], ["agent", 3, 4, "I guarantee it"]],
                 scope="section")
    assert card.has_fatal
    assert card.total_score == pytest.approx(60.0)
    assert [s.knocked_out for s in card.sections] == [False, True]


def test_not_applicable_is_excluded():
    card = score([["customer", 0, 2, "hello?"]])
    assert all(i.result.status is Status.NOT_APPLICABLE for i in card.items
               if i.result.kind == "error")
    assert card.total_score == 100.0


def test_flag_is_not_scored_and_not_an_error():
    card = score([["agent", 0, 2, "hello goodbye"], ["customer", 3, 4, "I have a complaint"]])
    flag = card.item("complaint")
    assert flag.result.status is Status.FAIL and flag.points_possible == 0
    assert card.total_score == 100.0 and not card.has_non_fatal_error


def test_low_asr_confidence_goes_to_review_and_does_not_knock_out():
    card = score([["agent", 0, 2, "hello goodbye"], ["agent", 3, 4, "I guarantee it"]], prob=0.2)
    item = card.item("promise")
    assert item.result.status is Status.NEEDS_REVIEW
    assert item.result.provisional_status is Status.FAIL
    assert "low ASR confidence" in item.result.review_reason
    assert not card.has_fatal and card.pending_fatal and card.needs_review
    assert card.total_score > 0


def test_uncertain_role_goes_to_review():
    card = score([["agent", 0, 2, "hello goodbye"]], role_confidence=0.5)
    assert card.item("greet").result.status is Status.NEEDS_REVIEW
    assert "uncertain speaker role" in card.item("greet").result.review_reason


def test_scorecard_json_carries_evidence_and_provenance():
    card = score([["agent", 0, 2, "hello goodbye"], ["agent", 3, 4, "I guarantee it"]])
    d = card.to_dict()
    assert d["rubric"] == "t@3" and d["provenance"]["rubric"] == "t@3"
    assert "pipeline_version" in d["provenance"]
    ev = next(i for i in d["items"] if i["criterion_id"] == "promise")["evidence"][0]
    assert ev["role"] == "agent" and ev["start_s"] == 3.0 and ev["end_s"] == 4.0
    assert ev["quote"] == "I guarantee it" and ev["match"]["method"] == "exact"


def _card(tenant, agent, team, day, fatal=False, non_fatal=False, review=False, total=90.0):
    return {"tenant_id": tenant, "has_fatal": fatal, "has_non_fatal_error": non_fatal,
            "needs_review": review, "total_score": total,
            "call": {"agent_id": agent, "team_id": team, "started_at": f"{day}T10:00:00+08:00"}}


def test_kpi_formulas():
    cards = [
        _card("acme", "a1", "t1", "2026-11-01", fatal=True, total=0),
        _card("acme", "a1", "t1", "2026-11-01", non_fatal=True, total=80),
        _card("acme", "a2", "t1", "2026-11-01"),
        _card("acme", "a2", "t1", "2026-11-02", review=True),
        _card("beta", "a1", "t9", "2026-11-01", non_fatal=True),
    ]
    rows = {r.key: r for r in kpi_rollup(cards, by=("tenant",))}
    acme = rows[("acme",)]
    assert acme.calls == 4
    assert acme.fatal_error_accuracy == pytest.approx(1 - 1 / 4)
    assert acme.non_fatal_error_accuracy == pytest.approx(1 - 1 / 4)
    assert acme.pending_review_calls == 1
    assert rows[("beta",)].non_fatal_error_accuracy == 0.0
    by_agent = {r.key: r for r in kpi_rollup(cards, by=("agent",))}
    # agent a1 serves two tenants: the tenant always leads the key, figures never mix.
    assert by_agent[("acme", "a1")].calls == 2 and by_agent[("beta", "a1")].calls == 1
    by_day = {r.key: r for r in kpi_rollup(cards, by=("tenant", "team", "day"))}
    assert by_day[("acme", "t1", "2026-11-01")].calls == 3
    assert by_day[("acme", "t1", "2026-11-01")].to_dict()["fatal_error_accuracy"] == \
        pytest.approx(2 / 3, abs=1e-4)


def test_call_reason_counts_per_tenant_and_day_never_mix_tenants():
    from qa_pipeline.scorecard import call_reason_counts

    cards = [
        {"tenant_id": "a", "call": {"started_at": "2026-11-02T09:00"},
         "call_reason": {"label": "complaint"}},
        {"tenant_id": "a", "call": {"started_at": "2026-11-02T10:00"},
         "call_reason": {"label": "complaint"}},
        {"tenant_id": "a", "call": {"started_at": "2026-11-03T10:00"},
         "call_reason": {"label": "lookup"}},
        {"tenant_id": "b", "call": {"started_at": "2026-11-02T11:00"}, "call_reason": None},
    ]
    assert call_reason_counts(cards) == {
        ("a", "2026-11-02"): {"complaint": 2},
        ("a", "2026-11-03"): {"lookup": 1},
        ("b", "2026-11-02"): {"unclassified": 1},
    }
    assert call_reason_counts(cards, by=("day",)) == call_reason_counts(cards)
