"""Rubrics that learn from QA reviews (issue 24, item 5): ``rubric tune`` refits act
thresholds and the rubric's own acts' examples on a tune part of the reviewed calls,
``rubric test --tenant`` compares current and candidate on the held-out calls, and a
candidate is published only when no criterion regresses there.

The act model is the real :class:`~qa_pipeline.acts.ActModel` code (few-shot heads fitted
with scikit-learn) on a deterministic character n-gram embedder, so the test needs no
encoder download and gives the same probabilities on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from qa_pipeline.acts import ActHeads, ActModel, clear_tenant_cache
from qa_pipeline.acts.track import tag_conversation
from qa_pipeline.cli import app
from qa_pipeline.review.rescore import HumanVerdict, apply_verdicts
from qa_pipeline.review.tuning import latest_report, reviewed_calls, tune_tenant
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.tune import (
    TuneOptions,
    act_sites,
    split_calls,
    tune_rubric,
    with_min_probability,
)
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.settings import overridden
from qa_pipeline.store import Store
from qa_pipeline.tenants import load_tenant
from tests.helpers import make_conversation

# The verification threshold is set far too high: every verification request is missed, and
# the QA monitors overturn those fails.
RUBRIC = """\
id: tune_demo
version: 1
languages: [en]
acts:
  verify_request:
    role: agent
    examples:
      - can you confirm your date of birth
      - please verify your date of birth for me
      - i need to verify your identity first
      - could you confirm the date of birth on the account
  refund_promise:
    role: agent
    examples:
      - i promise you will get a full refund
      - you will definitely get your refund tomorrow
      - the refund is guaranteed
sections:
  - id: main
    weight: 100
    criteria:
      - id: verification
        points: 10
        rule: {type: act, role: agent, acts: [verify_request], min_probability: 0.99}
      - id: no_promise
        severity: fatal
        points: 10
        rule: {type: act, role: agent, acts: [refund_promise], mode: forbid,
               min_probability: 0.9}
      - id: greeting
        points: 10
        rule: {type: required_phrase, role: agent, phrases: [hello]}
"""

VERIFY = ["for security please confirm your birth date", "could you verify the date of birth",
          "confirm your birthday please", "can you verify your date of birth for me",
          "please confirm the birth date on file", "i need your date of birth to verify"]
NEUTRAL = ["let me look at your order", "your parcel left the depot", "thanks for waiting",
           "i can see the charge on your card", "the courier comes on monday",
           "your plan renews next month"]
# Mentions of a refund that are no promise (probability between 0.6 and 0.9 under the act
# model): the reviewers of the regression case change their minds about them.
VAGUE = ["a refund may be possible", "the refund will take five days",
         "we will look into a refund", "a refund could be an option"]
BACKGROUND = ["let me check your order status", "your parcel arrives on monday",
              "thank you for calling", "the weather is nice today",
              "i will transfer you to billing", "what is your order number",
              "the store opens at nine", "okay sure", "is there anything else",
              "have a nice day", "we have a new phone plan", "the delivery was late",
              "i want to change my address"]


def fake_act_model() -> ActModel:
    """The packaged model's code with no built-in heads, on a character n-gram embedder."""
    embedder = CharNgramEmbedder(dim=384)
    empty = ActHeads((), np.zeros((0, 386), np.float32), np.zeros(0, np.float32),
                     np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32),
                     ())
    return ActModel(empty, model_id="test-acts", embedder_id=embedder.model_id,
                    background=embedder.embed(BACKGROUND), embedder_factory=lambda: embedder)


@pytest.fixture(scope="module")
def model() -> ActModel:
    clear_tenant_cache()
    return fake_act_model()


def _conversation(call_id: str, tenant: str, agent_lines: list[str]):
    rows, t = [], 0.0
    for text in ["hello this is acme support", *agent_lines]:
        rows.append(["agent", t, t + 2.0, text])
        rows.append(["customer", t + 2.0, t + 3.0, "okay"])
        t += 3.0
    return make_conversation(rows, call_id=call_id, tenant_id=tenant, language="en")


def _site(config: Path, tenant: str) -> None:
    (config / "rubrics").mkdir(parents=True)
    (config / "tenants").mkdir()
    (config / "rubrics" / "tune_demo.yaml").write_text(
        "# the QA lead's note on this rubric\n" + RUBRIC, encoding="utf-8")
    (config / "tenants" / f"{tenant}.yaml").write_text(
        f"id: {tenant}\nlanguages: [en]\nrubrics:\n  en: rubrics/tune_demo.yaml\n",
        encoding="utf-8")


def _store_reviews(store: Store, tenant: str, rubric_path: Path, model: ActModel,
                   calls: dict[str, tuple[list[str], dict[str, str] | None]]) -> None:
    """Score each call with the rubric and record a completed review with the labels (None:
    no review).
    """
    rubric = load_rubric(rubric_path)
    acts = rubric.act_model(model)
    store.register_tenant(tenant)
    ts = store.tenant(tenant)
    for call_id, (lines, labels) in calls.items():
        conv = _conversation(call_id, tenant, lines)
        ts.save_conversation(conv, frontend_key="k", meta={
            "agent_id": "ag-1", "started_at": "2026-11-02T09:00:00+08:00"})
        ctx = EvaluationContext(conv, act_track=tag_conversation(conv, acts))
        card_obj = build_scorecard(rubric, evaluate(rubric, ctx), call_id=call_id,
                                   tenant_id=tenant, provenance={"models": {}})
        ts.save_scorecard(card_obj)
        if labels is None:  # scored, never reviewed
            continue
        card = card_obj.to_dict()
        verdicts = {cid: HumanVerdict(status, "monitor", "reviewed", "2026-11-03T09:00:00Z")
                    for cid, status in labels.items()}
        reviewed = apply_verdicts(card, rubric, verdicts)
        assert reviewed["human_reviewed"]
        _replace_document(store, tenant, call_id, reviewed)


def _replace_document(store: Store, tenant: str, call_id: str, data: dict) -> None:
    """Put the reviewed document in place of the stored card (as the review desk does)."""
    from sqlalchemy import select

    from qa_pipeline.store.tables import ScorecardDocument, ScorecardRow

    ts = store.tenant(tenant)
    with ts.session() as s:
        row = s.scalar(select(ScorecardRow).where(ScorecardRow.call_id == call_id))
        doc = s.get(ScorecardDocument, row.id)
        doc.data = ts.seal(data)
        row.human_reviewed = True


def _improvement_calls(n: int = 36) -> dict[str, tuple[list[str], dict[str, str]]]:
    calls = {}
    for i in range(n):
        verified = i % 2 == 0
        lines = [VERIFY[i % len(VERIFY)] if verified else NEUTRAL[i % len(NEUTRAL)],
                 NEUTRAL[(i + 3) % len(NEUTRAL)]]
        calls[f"call-{i:03d}"] = (lines, {"verification": "pass" if verified else "fail",
                                          "no_promise": "pass", "greeting": "pass"})
    return calls


def test_split_is_by_call_deterministic_and_disjoint():
    ids = [f"c{i}" for i in range(200)]
    tune, test = split_calls(ids, 0.3, seed=7)
    assert tune.isdisjoint(test) and tune | test == set(ids)
    assert (tune, test) == split_calls(reversed(ids), 0.3, seed=7)
    assert 40 <= len(test) <= 80
    # A call's side does not depend on the other calls.
    assert split_calls(ids[:10], 0.3, seed=7)[1] == test & set(ids[:10])
    assert split_calls(ids, 0.3, seed=8)[1] != test


def test_act_operands_are_found_and_set_anywhere_in_a_rule():
    rule = {"type": "all_of", "rules": [
        {"type": "act", "acts": ["insult"], "min_probability": 0.7},
        {"type": "before", "first": {"acts": ["verification_request"]},
         "then": {"phrases": ["x"]}}]}
    sites = act_sites(rule)
    assert [(s.label, s.acts, s.min_probability) for s in sites] == [
        ("rule.rules.0", ("insult",), 0.7), ("rule.rules.1.first", ("verification_request",),
                                             None)]
    changed = with_min_probability(rule, sites[1].path, 0.35)
    assert changed["rules"][1]["first"]["min_probability"] == 0.35
    assert "min_probability" not in rule["rules"][1]["first"]  # the input is not changed
    assert "min_probability" not in with_min_probability(rule, sites[0].path, None)["rules"][0]


def test_tune_finds_a_better_threshold_and_publishes(tmp_path, model, monkeypatch):
    config = tmp_path / "config"
    _site(config, "acme")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    calls = _improvement_calls()
    _store_reviews(store, "acme", config / "rubrics" / "tune_demo.yaml", model, calls)
    with overridden(config_dir=config):
        outcome = tune_tenant(store.tenant("acme"), None, TuneOptions(min_examples=8),
                              base_model=model)
        report = outcome.report
        tuned = {c["criterion_id"]: c for c in report["changes"]}
        # The overturned fails taught a threshold that finds the verification requests.
        assert tuned["verification"]["what"] == "min_probability"
        assert tuned["verification"]["before"] == 0.99
        assert tuned["verification"]["after"] is None or tuned["verification"]["after"] <= 0.6
        assert tuned["verification"]["tune_after"] > tuned["verification"]["tune_before"]
        # On the held-out calls (never seen by the tuning) the candidate agrees better.
        split = report["split"]
        assert split["test_calls"] >= 5 and split["tune_calls"] + split["test_calls"] == 36
        rows = {r["criterion_id"]: r for r in report["comparison"]["rows"]}
        assert rows["verification"]["n"] == split["test_calls"]
        assert rows["verification"]["candidate"]["agreement"] == 1.0
        assert rows["verification"]["current"]["agreement"] < 0.7
        assert rows["verification"]["change"] == "improved"
        assert rows["greeting"]["change"] == "same"
        assert report["decision"]["published"] is True
        # Published: the tenant now scores with version 2, kept in the site's config dir.
        published = config / "rubrics" / "tuned" / "acme" / "tune_demo@2.yaml"
        assert outcome.published_path == published
        assert load_tenant("acme").rubrics["en"] == "rubrics/tuned/acme/tune_demo@2.yaml"
        text = published.read_text(encoding="utf-8")
        assert text.startswith("# tuned_from: tune_demo@1\n")
        assert "# the QA lead's note on this rubric" in text  # comments outlive tuning
        assert load_rubric(published).ref == "tune_demo@2"
        assert outcome.candidate_path == config / "tuning" / "acme" / "tune_demo@2.yaml"
        assert latest_report("acme") == json.loads(json.dumps(report))
        actions = [a["action"] for a in store.tenant("acme").audit_log()]
        assert "rubric.publish" in actions

        # rubric test compares the original and the candidate on the same held-out calls.
        monkeypatch.setattr("qa_pipeline.rubric.tune.base_act_model", lambda: model)
        out = tmp_path / "cmp.json"
        result = CliRunner().invoke(app, [
            "rubric", "test", str(outcome.candidate_path), "--tenant", "acme",
            "--against", str(config / "rubrics" / "tune_demo.yaml"),
            "--db", f"sqlite:///{tmp_path / 'qa.db'}", "--json", str(out)],
            catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "verification" in result.output and "improved" in result.output
    cmp = json.loads(out.read_text(encoding="utf-8"))
    assert cmp["rows"] == report["comparison"]["rows"]
    # The published copy finds its report in the tuning folder: the same split, whatever
    # --holdout-share says.
    with overridden():
        again = CliRunner().invoke(app, [
            "--config-dir", str(config), "rubric", "test", str(published), "--tenant", "acme",
            "--against", str(config / "rubrics" / "tune_demo.yaml"), "--holdout-share", "0.9",
            "--db", f"sqlite:///{tmp_path / 'qa.db'}", "--json", "-"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert f'"test_calls": {split["test_calls"]}' in again.output
    store.close()


def test_criteria_with_too_few_reviews_are_left_alone(tmp_path, model):
    config = tmp_path / "config"
    _site(config, "acme")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    some: dict = dict(list(_improvement_calls().items())[:12])
    some["not-reviewed"] = ([VERIFY[0]], None)
    _store_reviews(store, "acme", config / "rubrics" / "tune_demo.yaml", model, some)
    calls, missing = reviewed_calls(store.tenant("acme"), "tune_demo")
    # Only completed reviews are examples.
    assert len(calls) == 12 and missing == 0 and "not-reviewed" not in {c.call_id for c in calls}
    rubric_path = config / "rubrics" / "tune_demo.yaml"
    result = tune_rubric(yaml.safe_load(rubric_path.read_text(encoding="utf-8")),
                         load_rubric(rubric_path), calls, model, TuneOptions(min_examples=50))
    assert result.changes == ()
    reasons = {u.criterion_id: u.reason for u in result.unchanged}
    assert set(reasons) == {"verification", "no_promise"}
    assert "at least 50 needed" in reasons["verification"]
    # A dry run reports the same and writes nothing.
    with overridden(config_dir=config):
        outcome = tune_tenant(store.tenant("acme"), None, TuneOptions(min_examples=50),
                              dry_run=True, base_model=model)
    assert outcome.candidate_path is None and not (config / "tuning").exists()
    assert outcome.report["decision"] == {"published": False, "would_publish": False,
                                          "dry_run": True, "reason": "tuning changed nothing"}
    store.close()


def test_examples_from_reviews_sharpen_the_rubrics_own_act(tmp_path, model):
    """Refund timelines were flagged as promises and overturned; true promises confirmed.
    Their evidence utterances become counter-examples and examples of the act.
    """
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(RUBRIC.replace("min_probability: 0.9", "min_probability: 0.6"),
                           encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    promises = ["i promise the refund tomorrow", "you will get your refund for sure",
                "i guarantee the refund", "the full refund is promised to you"]
    calls = {}
    for i in range(30):
        promised = i % 2 == 0
        line = promises[i % 4] if promised else VAGUE[i % 4]
        calls[f"call-{i:03d}"] = ([line], {"no_promise": "fail" if promised else "pass",
                                           "verification": "fail", "greeting": "pass"})
    _store_reviews(store, "acme", rubric_path, model, calls)
    reviewed, _ = reviewed_calls(store.tenant("acme"), "tune_demo")
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    result = tune_rubric(data, load_rubric(rubric_path), reviewed, model,
                         TuneOptions(min_examples=8))
    change = next(c for c in result.changes if c.what == "examples")
    assert change.criterion_id == "no_promise" and change.where == "act refund_promise"
    added = result.data["acts"]["refund_promise"]
    tune_lines = {calls[c][0][0] for c in result.tune_calls}
    assert set(added["counter_examples"]) <= set(VAGUE) & tune_lines
    assert added["counter_examples"]
    assert set(added["examples"]) - set(data["acts"]["refund_promise"]["examples"]) <= (
        set(promises) & tune_lines)
    assert change.tune_after > change.tune_before
    store.close()


def test_examples_that_hurt_another_criterion_of_the_act_are_not_added(tmp_path, model):
    """A second criterion counts refund timelines as refund talk: making them
    counter-examples of the act would break it, so the examples are not added.
    """
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(RUBRIC.replace("min_probability: 0.9", "min_probability: 0.6") + """\
      - id: refund_talk
        kind: flag
        rule: {type: act, role: agent, acts: [refund_promise], min_probability: 0.6}
""", encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    promises = ["i promise the refund tomorrow", "you will get your refund for sure"]
    calls = {}
    for i in range(24):
        promised = i % 2 == 0
        line = promises[i % 2] if promised else VAGUE[i % 4]
        calls[f"call-{i:03d}"] = ([line], {"no_promise": "fail" if promised else "pass",
                                           "refund_talk": "pass", "verification": "fail",
                                           "greeting": "pass"})
    _store_reviews(store, "acme", rubric_path, model, calls)
    reviewed, _ = reviewed_calls(store.tenant("acme"), "tune_demo")
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    result = tune_rubric(data, load_rubric(rubric_path), reviewed, model,
                         TuneOptions(min_examples=8))
    assert not [c for c in result.changes if c.what == "examples"]
    assert result.data["acts"]["refund_promise"] == data["acts"]["refund_promise"]
    reasons = {u.criterion_id: u.reason for u in result.unchanged}
    if "no_promise" in reasons:  # unless a threshold changed it afterwards
        assert "lowered agreement on the tune part (refund_talk)" in reasons["no_promise"]
    store.close()


def test_publishing_is_refused_when_a_criterion_regresses(tmp_path, model, monkeypatch):
    """Reviewers of the tune calls counted vague refund talk as a promise, those of the
    held-out calls did not: the threshold learnt on the tune part makes no_promise worse on
    the held-out calls, so the candidate is kept as a file and the command fails.
    """
    config = tmp_path / "config"
    _site(config, "globex")
    ids = [f"call-{i:03d}" for i in range(36)]
    tune, _test = split_calls(ids, 0.3, seed=0)
    calls = {}
    for i, cid in enumerate(ids):
        vague = i % 2 == 0
        lines = [VAGUE[i % len(VAGUE)] if vague else NEUTRAL[i % len(NEUTRAL)]]
        promise = "fail" if vague and cid in tune else "pass"
        calls[cid] = (lines, {"no_promise": promise, "verification": "fail",
                              "greeting": "pass"})
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    store = Store(db)
    _store_reviews(store, "globex", config / "rubrics" / "tune_demo.yaml", model, calls)
    store.close()
    monkeypatch.setattr("qa_pipeline.rubric.tune.base_act_model", lambda: model)
    try:
        result = CliRunner().invoke(app, [
            "--config-dir", str(config), "rubric", "tune", "--tenant", "globex", "--db", db,
            "--min-examples", "8", "--json", str(tmp_path / "report.json")])
    finally:
        from qa_pipeline.settings import reset_configuration

        reset_configuration()  # --config-dir set it for this process
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "no_promise" in report["comparison"]["regressed"]
    assert report["decision"]["published"] is False
    assert "regressed on held-out reviews: no_promise" in report["decision"]["reason"]
    # The candidate stays a file; the tenant keeps its rubric.
    assert (config / "tuning" / "globex" / "tune_demo@2.yaml").is_file()
    assert not (config / "rubrics" / "tuned").exists()
    with overridden(config_dir=config):
        assert load_tenant("globex").rubrics["en"] == "rubrics/tune_demo.yaml"


QUESTION_RUBRIC = """\
id: judged
version: 4
languages: [en]
sections:
  - id: main
    weight: 100
    criteria:
      - id: resolved
        points: 10
        rule: {type: question, question: "Was the issue resolved?", pass_on: "yes",
               uncertain_band: [0.0, 0.95]}
"""


def _reviewed(call_id: str, p: float, auto: str, human: str):
    from qa_pipeline.rubric.tune import ReviewedCall

    return ReviewedCall(call_id, _conversation(call_id, "acme", []), {"resolved": human},
                        {"resolved": auto}, {"resolved": p}, {"resolved": (0,)}, "judged@4")


def test_question_band_narrows_to_where_the_judge_agrees_with_reviewers(tmp_path):
    """The judge is right whenever it is at least 0.7 sure and wrong below: the band that
    sends answers to review shrinks from [0, 0.95] to about [0, 0.7]; the verdicts do not
    change.
    """
    path = tmp_path / "q.yaml"
    path.write_text(QUESTION_RUBRIC, encoding="utf-8")
    calls = []
    for i in range(40):
        p = 0.5 + 0.5 * i / 40  # 0.5 .. 0.99
        human = "pass" if i % 2 else "fail"
        auto = human if p >= 0.7 else ("fail" if human == "pass" else "pass")
        calls.append(_reviewed(f"q-{i:02d}", p, auto, human))
    result = tune_rubric(yaml.safe_load(QUESTION_RUBRIC), load_rubric(path), calls,
                         fake_act_model(), TuneOptions(min_examples=10))
    (change,) = result.changes
    assert (change.criterion_id, change.what) == ("resolved", "uncertain_band")
    assert change.before == [0.0, 0.95]
    low, high = change.after
    # The narrowest band whose automatic answers still agree 95 % of the time.
    assert low == 0.0 and 0.6 <= high <= 0.7
    assert change.tune_after >= 0.95
    assert result.data["sections"][0]["criteria"][0]["rule"]["uncertain_band"] == [0.0, high]
    # Too few judge answers: the band stays.
    few = tune_rubric(yaml.safe_load(QUESTION_RUBRIC), load_rubric(path), calls[:5],
                      fake_act_model(), TuneOptions(min_examples=10))
    assert few.changes == () and "reviewed judge answers" in few.unchanged[0].reason


def test_rubric_test_on_labelled_cases_still_works(tmp_path):
    conv = _conversation("c1", "default", ["nothing to verify here"])
    (tmp_path / "a.conversation.json").write_text(json.dumps(conv.to_dict()), encoding="utf-8")
    (tmp_path / "a.labels.json").write_text(json.dumps({"expected": {"greeting": "pass"}}),
                                            encoding="utf-8")
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC.split("sections:")[0].split("acts:")[0] + "sections:\n"
                      "  - {id: main, weight: 100, criteria: [{id: greeting, points: 10, rule: "
                      "{type: required_phrase, role: agent, phrases: [hello]}}]}\n",
                      encoding="utf-8")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["rubric", "test", str(rubric), "--cases", str(tmp_path),
                                      "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["cases"] == 1
    both = CliRunner().invoke(app, ["rubric", "test", str(rubric)])
    assert both.exit_code != 0 and "either --cases or --tenant" in both.output


def test_only_criteria_the_tuner_can_recompute_are_evaluated_again():
    from qa_pipeline.rubric.tune import reevaluable

    assert reevaluable({"type": "act", "acts": ["insult"], "mode": "forbid"})
    assert not reevaluable({"type": "required_phrase", "phrases": ["hello"]})
    # An act operand beside an emotion check: the stored verdict stands.
    assert not reevaluable({"type": "any", "rules": [
        {"type": "act", "acts": ["complaint"]}, {"type": "emotion", "check": "escalation"}]})


def test_a_candidate_never_holds_yaml_aliases():
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.rubric.tune import dump_rubric

    data = yaml.safe_load(RUBRIC)
    shared = ["hello", "hi"]
    data["sections"][0]["criteria"][2]["rule"]["phrases"] = shared
    data["acts"]["verify_request"]["counter_examples"] = shared  # the same list twice
    text = dump_rubric(data)
    assert "&" not in text and "*id" not in text
    assert load_rubric_text(text).ref == "tune_demo@1"


def test_a_tuned_rubric_keeps_the_comments_and_layout_of_the_one_it_was_tuned_from():
    # Before, the candidate was dumped from plain data: every comment a QA lead wrote on why
    # a criterion reads as it does was lost at the first tuning.
    from qa_pipeline.rubric.loader import load_rubric_text
    from qa_pipeline.rubric.tune import dump_rubric

    like = ("# Demo rubric: keep this note\n"
            + RUBRIC.replace("      - id: no_promise\n",
                             "      # promises of money are fatal (policy 7.2)\n"
                             "      - id: no_promise\n"))
    data = yaml.safe_load(like)
    data["version"] = 2
    data["sections"][0]["criteria"][1]["rule"]["min_probability"] = 0.75
    data["acts"]["verify_request"]["examples"].append("what is your date of birth")
    shared = ["hello", "hi"]
    data["sections"][0]["criteria"][2]["rule"]["phrases"] = shared
    data["acts"]["refund_promise"]["counter_examples"] = shared  # the same list twice
    del data["acts"]["refund_promise"]["examples"][0]

    text = dump_rubric(data, like)

    assert "# Demo rubric: keep this note" in text
    assert "# promises of money are fatal (policy 7.2)" in text
    assert "languages: [en]" in text  # flow style kept
    assert "&" not in text and "*id" not in text
    assert yaml.safe_load(text) == data
    assert load_rubric_text(text).ref == "tune_demo@2"


def test_rubric_test_on_labelled_cases_knows_the_rubrics_own_acts(tmp_path, model, monkeypatch):
    # Before the fix the cases were tagged with the packaged model alone, so an act rule on
    # the rubric's own act stopped with "unknown act".
    import qa_pipeline.acts

    monkeypatch.setattr(qa_pipeline.acts, "load_embedded_act_model", lambda: model)
    conv = _conversation("c1", "default", [VERIFY[0]])
    (tmp_path / "a.conversation.json").write_text(json.dumps(conv.to_dict()), encoding="utf-8")
    (tmp_path / "a.labels.json").write_text(
        json.dumps({"expected": {"verification": "pass", "greeting": "pass"}}), encoding="utf-8")
    rubric = tmp_path / "r.yaml"
    rubric.write_text(RUBRIC.replace("min_probability: 0.99", "min_probability: 0.5"),
                      encoding="utf-8")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["rubric", "test", str(rubric), "--cases", str(tmp_path),
                                      "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["cases"] == 1 and report["needs_review_items"] == 0, report


# Promises worded so that the act model (at the rubric's 0.9) misses them: the cards pass
# with no evidence quoted, and only a reviewer pointing at the line says where the act is.
MISSED = ["your money is back in your account by friday you have my word",
          "you will have every cent back by friday i give you my word",
          "by friday the money is back with you that is my word",
          "the money comes back to you by friday my word on it"]


def _rubric_and_tenant(tmp_path, name, text, model):
    """The rubric written to ``tmp_path/name`` and loaded, its act model, and a store with
    the tenant ``acme``: ``(path, rubric, acts, store, tenant store)``.
    """
    rubric_path = tmp_path / name
    rubric_path.write_text(text, encoding="utf-8")
    rubric = load_rubric(rubric_path)
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    store.register_tenant("acme")
    return rubric_path, rubric, rubric.act_model(model), store, store.tenant("acme")


def _scored_one_liner(ts, rubric, acts, call_id, line):
    """A conversation with one agent line, saved in the tenant's store, and its scorecard
    (not saved: the caller checks it first).
    """
    conv = _conversation(call_id, "acme", [line])
    ts.save_conversation(conv, frontend_key="k", meta={
        "agent_id": "ag-1", "started_at": "2026-11-02T09:00:00+08:00"})
    ctx = EvaluationContext(conv, act_track=tag_conversation(conv, acts))
    card = build_scorecard(rubric, evaluate(rubric, ctx), call_id=conv.call_id,
                           tenant_id="acme", provenance={"models": {}})
    return conv, card


def _pointed_calls(tmp_path, model, point: bool):
    """Missed promises overturned to fail (pointing at the line when ``point``), neutral
    calls confirmed; returns the reviewed calls and the rubric's data.
    """
    rubric_path, rubric, acts, store, ts = _rubric_and_tenant(tmp_path, "r.yaml", RUBRIC, model)
    for i in range(30):
        promised = i % 2 == 0
        line = MISSED[i % 4] if promised else NEUTRAL[i % len(NEUTRAL)]
        # the agent's line is utterance 2
        conv, card = _scored_one_liner(ts, rubric, acts, f"call-{i:03d}", line)
        item = next(x for x in card.to_dict()["items"] if x["criterion_id"] == "no_promise")
        assert item["status"] == "pass" and not item["evidence"]  # missed, nothing quoted
        ts.save_scorecard(card)
        at = "2026-11-03T09:00:00Z"
        verdicts = {"verification": HumanVerdict("fail", "m", "", at),
                    "greeting": HumanVerdict("pass", "m", "", at),
                    "no_promise": HumanVerdict("fail" if promised else "pass", "m", "", at,
                                               (2,) if promised and point else ())}
        _replace_document(store, "acme", conv.call_id,
                          apply_verdicts(card.to_dict(), rubric, verdicts))
    reviewed, _ = reviewed_calls(ts, "tune_demo")
    store.close()
    return reviewed, yaml.safe_load(rubric_path.read_text(encoding="utf-8")), rubric


def test_a_pointed_utterance_the_automation_never_quoted_becomes_an_example(tmp_path, model):
    reviewed, data, rubric = _pointed_calls(tmp_path, model, point=True)
    assert all(not c.evidence.get("no_promise") for c in reviewed)
    result = tune_rubric(data, rubric, reviewed, model, TuneOptions(min_examples=8))
    change = next(c for c in result.changes if c.what == "examples")
    assert change.criterion_id == "no_promise" and change.where == "act refund_promise"
    added = set(result.data["acts"]["refund_promise"]["examples"]) - set(
        data["acts"]["refund_promise"]["examples"])
    tune_lines = {c.conversation.utterances[2].text for c in reviewed
                  if c.call_id in result.tune_calls and c.labels["no_promise"] == "fail"}
    assert added and added == tune_lines  # exactly the pointed lines of the tune part
    assert change.tune_after >= change.tune_before


def test_without_pointing_a_missed_act_teaches_nothing(tmp_path, model):
    reviewed, data, rubric = _pointed_calls(tmp_path, model, point=False)
    result = tune_rubric(data, rubric, reviewed, model, TuneOptions(min_examples=8))
    assert not [c for c in result.changes if c.what == "examples"]
    assert result.data["acts"] == data["acts"]


def test_a_pointed_line_outranks_the_rules_quote_of_the_same_line(tmp_path, model):
    """The same line quoted by the rules on a confirmed pass elsewhere would make it a
    counter-example; a reviewer pointing at it as the promise on a fail wins.
    """
    from dataclasses import replace

    reviewed, data, rubric = _pointed_calls(tmp_path, model, point=True)
    line = MISSED[0]
    # Neutral calls now say that line, quoted by the rules and confirmed as a pass: on its
    # own, that makes the line a counter-example.
    calls = []
    for c in reviewed:
        if c.labels["no_promise"] == "pass":
            conv = c.conversation
            utts = list(conv.utterances)
            utts[2] = replace(utts[2], text=line)
            c = replace(c, conversation=replace(conv, utterances=tuple(utts)),
                        evidence={**c.evidence, "no_promise": (2,)})
        calls.append(c)
    result = tune_rubric(data, rubric, calls, model, TuneOptions(min_examples=8))
    acts = result.data["acts"]["refund_promise"]
    on_tune = [c.labels["no_promise"] for c in calls if c.call_id in result.tune_calls
               and c.conversation.utterances[2].text == line]
    assert "fail" in on_tune and "pass" in on_tune  # the line is on both sides
    assert line in acts["examples"]
    assert line not in (acts.get("counter_examples") or [])


BEFORE_RUBRIC = """\
id: tune_before
version: 1
languages: [en]
acts:
  verify_request:
    role: agent
    examples:
      - can you confirm your date of birth
      - please verify your date of birth for me
  disclose_account:
    role: agent
    examples:
      - your balance is fifty dollars
      - the card on file ends in four four one seven
      - your account shows two payments this month
sections:
  - id: main
    weight: 100
    criteria:
      - id: verify_first
        severity: fatal
        points: 10
        rule:
          type: before
          anchor: {role: agent, acts: [verify_request]}
          target: {role: agent, acts: [disclose_account], min_probability: 0.9}
"""
# Disclosures worded so that the target (at 0.9) misses them: the rule is not applicable,
# nothing quoted; only the reviewer's pointing says which line disclosed the account.
UNSEEN_DISCLOSURES = ["you owe us sixty two pounds and the due day is the eighteenth",
                      "sixty two pounds is outstanding and falls due on the eighteenth",
                      "the outstanding amount is sixty two pounds due the eighteenth",
                      "there is sixty two pounds to pay by the eighteenth"]


def test_a_pointed_disclosure_on_a_failed_before_rule_becomes_an_example(tmp_path, model):
    rubric_path, rubric, acts, store, ts = _rubric_and_tenant(tmp_path, "b.yaml", BEFORE_RUBRIC,
                                                              model)
    for i in range(24):
        disclosed = i % 2 == 0
        line = UNSEEN_DISCLOSURES[i % 4] if disclosed else NEUTRAL[i % len(NEUTRAL)]
        conv, card = _scored_one_liner(ts, rubric, acts, f"call-{i:03d}", line)
        item = card.to_dict()["items"][0]
        assert item["status"] == "not_applicable" and not item["evidence"]
        ts.save_scorecard(card)
        # A neutral call's reviewer points at a line on a pass: no example either way.
        v = HumanVerdict("fail" if disclosed else "pass", "m", "disclosed unverified", "x",
                         (2,))
        _replace_document(store, "acme", conv.call_id,
                          apply_verdicts(card.to_dict(), rubric, {"verify_first": v}))
    reviewed, _ = reviewed_calls(ts, "tune_before")
    store.close()
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    result = tune_rubric(data, rubric, reviewed, model, TuneOptions(min_examples=8))
    change = next(c for c in result.changes if c.what == "examples")
    assert change.criterion_id == "verify_first" and change.where == "act disclose_account"
    got = result.data["acts"]["disclose_account"]
    added = set(got["examples"]) - set(data["acts"]["disclose_account"]["examples"])
    assert added == {c.conversation.utterances[2].text for c in reviewed
                     if c.call_id in result.tune_calls and c.labels["verify_first"] == "fail"}
    assert not got.get("counter_examples")  # pointed lines on passes are not read
    assert result.data["acts"]["verify_request"] == data["acts"]["verify_request"]
