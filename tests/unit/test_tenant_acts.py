"""Tenant-level dialogue acts: a tenant's YAML defines acts by example sentences, and every
rubric of that tenant may name them; they are fitted once per tenant (at load of its
analyzers) on top of the act model, and the rubric's own acts on top of those.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.errors import ConfigError, RubricValidationError
from qa_pipeline.pipeline import CallAnalyzers, analyzers_for, rubric_for, score_conversation
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.tenants import load_tenant, load_tenant_file, tenant_act_examples
from tests.helpers import make_conversation
from tests.unit.test_act_track import ACTS, PrototypeActs

TENANT_YAML = """
id: acme
languages: [en]
rubrics:
  en: {rubric}
acts:
  plan_upsell:
    examples: [would you like to upgrade to the 5g plan, the 5g plan would save you money]
    counter_examples: [your current plan is 4g essentials]
    role: agent
    description: agent offers the 5G plan upgrade
"""

RUBRIC_YAML = """
id: acme_en
version: 1
{own_acts}
sections:
  - id: s
    weight: 1
    criteria:
      - id: no_upsell
        points: 1
        rule: {{type: act, role: agent, acts: [plan_upsell], mode: forbid}}
      - id: no_claim_promise
        points: 1
        rule: {{type: act, role: agent, acts: [{second_act}], mode: forbid}}
"""

OWN_ACTS = """acts:
  claim_promise:
    examples: [your claim will definitely be approved, we will surely pay the claim]
    role: agent
"""


def _tenant(tmp_path: Path, own_acts: str = OWN_ACTS, second_act: str = "claim_promise"):
    rubric = tmp_path / "acme_en.yaml"
    rubric.write_text(RUBRIC_YAML.format(own_acts=own_acts, second_act=second_act),
                      encoding="utf-8")
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(TENANT_YAML.format(rubric=rubric), encoding="utf-8")
    return load_tenant("acme", tenants), rubric


def test_a_tenant_act_is_usable_by_the_tenants_rubrics(tmp_path):
    pytest.importorskip("qa_pipeline.acts.model")
    tenant, _ = _tenant(tmp_path)
    defs = tenant_act_examples(tenant)
    assert list(defs) == ["plan_upsell"]
    assert defs["plan_upsell"].role == "agent"
    assert defs["plan_upsell"].negatives == ("your current plan is 4g essentials",)
    base = PrototypeActs(ACTS)
    an = analyzers_for(tenant, "none", act_model=base)
    assert base.fits == [("plan_upsell",)], "fitted once, when the tenant's analyzers load"
    rubric = rubric_for(tenant, "en")
    conv = make_conversation([["agent", 0, 3, "would you like to upgrade to the 5g plan"],
                              ["agent", 3, 6, "your claim will definitely be approved"]],
                             language="en", tenant_id="acme")
    card = score_conversation(conv, rubric, analyzers=an)
    statuses = {i.result.criterion_id: i.result.status.value for i in card.items}
    assert statuses == {"no_upsell": "fail", "no_claim_promise": "fail"}
    upsell = card.items[0].result.evidence[0]
    assert upsell.utterance_index == 0 and upsell.match is not None
    assert upsell.match.method == "act" and upsell.match.pattern == "plan_upsell"
    # The tenant's acts first, then the rubric's own on top of them.
    assert base.fits == [("plan_upsell",)]
    assert card.provenance["models"]["acts"] == "proto@1+tenant+tenant"


def test_a_rubric_naming_a_tenant_act_needs_that_tenant(tmp_path):
    pytest.importorskip("qa_pipeline.acts.model")
    tenant, rubric = _tenant(tmp_path)
    with pytest.raises(RubricValidationError, match="unknown act 'plan_upsell'.*tenant"):
        load_rubric(rubric)
    assert rubric_for(tenant, "en").acts.keys() == {"claim_promise"}
    # An override rubric is validated with the tenant's acts too.
    assert rubric_for(tenant, "en", str(rubric)).id == "acme_en"


def test_a_rubric_may_not_redefine_a_tenant_act(tmp_path):
    pytest.importorskip("qa_pipeline.acts.model")
    tenant, _ = _tenant(tmp_path, own_acts=OWN_ACTS.replace("claim_promise", "plan_upsell"),
                        second_act="plan_upsell")
    with pytest.raises(RubricValidationError, match="tenant's"):
        rubric_for(tenant, "en")


def test_tenant_act_ids_are_checked(tmp_path):
    pytest.importorskip("qa_pipeline.acts.model")
    path = tmp_path / "t.yaml"
    for act_id, problem in (("insult", "built in"), ("Plan-Upsell", "lowercase")):
        path.write_text(f"id: t\nacts:\n  {act_id}:\n    examples: [a b c, d e f]\n",
                        encoding="utf-8")
        with pytest.raises(ConfigError, match=problem):
            load_tenant_file(path)
    path.write_text("id: t\nacts:\n  x:\n    examples: [only one]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="examples"):
        load_tenant_file(path)


def test_a_tenant_without_acts_keeps_the_given_act_model():
    tenant = load_tenant("default")
    assert tenant.acts == {} and tenant_act_examples(tenant) == {}
    base = PrototypeActs(ACTS)
    assert analyzers_for(tenant, "none", act_model=base).acts is base
    assert analyzers_for(tenant, "none").acts is None


def test_score_command_checks_an_override_rubric_with_the_tenants_acts(tmp_path, monkeypatch):
    pytest.importorskip("qa_pipeline.acts.model")
    from typer.testing import CliRunner

    from qa_pipeline.cli import app
    from qa_pipeline.settings import reset_configuration

    _, rubric = _tenant(tmp_path)
    monkeypatch.setenv("QA_PIPELINE_CONFIG_DIR", str(tmp_path))
    reset_configuration()
    try:
        args = ["score", str(tmp_path / "no_such_call.json"), "--out", str(tmp_path / "out"),
                "--rubric", str(rubric), "--cache-dir", str(tmp_path / "cache")]
        without = CliRunner().invoke(app, args)
        assert without.exit_code != 0
        assert "unknown act 'plan_upsell'" in str(without.exception or "") + without.output
        with_tenant = CliRunner().invoke(app, [*args, "--tenant", "acme"])
        assert "unknown act" not in str(with_tenant.exception or "") + with_tenant.output
    finally:
        reset_configuration()


def test_the_review_desks_catalog_knows_rubrics_that_name_tenant_acts(tmp_path):
    # Before: the catalog validated rubrics without any tenant's acts, so a rubric naming a
    # tenant act was skipped and reviewing or rescoring its calls failed ("not published").
    from qa_pipeline.review.rescore import RubricCatalog
    from qa_pipeline.tenants import configured_tenant_acts

    _, rubric = _tenant(tmp_path, own_acts="", second_act="plan_upsell")
    acts = configured_tenant_acts(tmp_path / "tenants")
    assert acts == ["plan_upsell"]
    assert RubricCatalog([rubric], acts).get("acme_en@1").ref == "acme_en@1"
    with pytest.raises(Exception, match="not published"):
        RubricCatalog([rubric]).get("acme_en@1")


class SlowFitActs(PrototypeActs):
    """Fitting the rubric's own acts takes a while (a busy worker, a large act set)."""

    def with_tenant_acts(self, defs):  # type: ignore[no-untyped-def]
        import time

        time.sleep(1.5)
        return super().with_tenant_acts(defs)


def test_fitting_and_tagging_acts_do_not_count_against_the_rubric_time_budget(tmp_path):
    """The rubric's own acts are fitted on its first call and the call is tagged before the
    rules run: model work of a bounded size, which must not send the call to review.
    """
    pytest.importorskip("qa_pipeline.acts.model")
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(RUBRIC_YAML.format(own_acts=OWN_ACTS, second_act="claim_promise")
                           .replace("version: 1", "version: 1\ntime_budget_s: 1.0")
                           .replace("acts: [plan_upsell]", "acts: [claim_promise]"),
                           encoding="utf-8")
    rubric = load_rubric(rubric_path)
    assert rubric.time_budget_s == 1.0 and rubric.names_acts
    # No sentiment and no call reasons: nothing but the rules asks for the acts.
    an = CallAnalyzers(acts=SlowFitActs(ACTS))
    conv = make_conversation([["agent", 0, 3, "your claim will definitely be approved"],
                              ["customer", 3, 6, "okay thanks"]], language="en")
    card = score_conversation(conv, rubric, analyzers=an)
    statuses = {i.result.criterion_id: i.result.status.value for i in card.items}
    assert statuses == {"no_upsell": "fail", "no_claim_promise": "fail"}
