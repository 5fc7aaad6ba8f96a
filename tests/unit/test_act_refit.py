"""Refits of a built-in act's head for one tenant or rubric (``refit: true``): examples and
counter-examples (e.g. from QA reviews) move the head near them and nowhere else, and
``qa-pipeline rubric tune`` writes them for criteria that rest on a built-in act.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from qa_pipeline.acts import ActHeads, ActModel, TenantActExamples, clear_tenant_cache
from qa_pipeline.errors import ConfigError, RubricValidationError
from qa_pipeline.review.tuning import reviewed_calls
from qa_pipeline.rubric.embeddings import CharNgramEmbedder
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text
from qa_pipeline.rubric.tune import TuneOptions, tune_rubric
from qa_pipeline.store import Store
from qa_pipeline.tenants import load_tenant_file, tenant_act_examples
from tests.unit.test_rubric_tune import BACKGROUND, VAGUE, _store_reviews

PROMISES = ["i promise the refund tomorrow", "you will get your refund for sure",
            "i guarantee the refund", "the full refund is promised to you"]
GREETINGS = ["hello this is acme support", "good morning thanks for calling acme"]
FAR = ["the courier comes on monday", "your plan renews next month", "thank you for calling"]


def builtin_model() -> ActModel:
    """A model with two "built-in" heads on a character n-gram embedder: ``promise``, which
    over-reaches (trained to fire on refund talk that promises nothing), and ``greeting``.
    """
    embedder = CharNgramEmbedder(dim=384)
    empty = ActHeads((), np.zeros((0, 386), np.float32), np.zeros(0, np.float32),
                     np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32),
                     ())
    seed = ActModel(empty, model_id="seed", embedder_id=embedder.model_id,
                    background=embedder.embed(BACKGROUND), embedder_factory=lambda: embedder)
    fitted = seed.with_tenant_acts({
        "promise_seed": TenantActExamples(positives=tuple(PROMISES + VAGUE)),
        "greeting_seed": TenantActExamples(positives=tuple(GREETINGS))}).heads
    heads = ActHeads(("promise", "greeting"), fitted.weight, fitted.bias,
                     fitted.calibration_scale, fitted.calibration_offset, fitted.thresholds,
                     (None, None))
    return ActModel(heads, model_id="builtin-test", embedder_id=embedder.model_id,
                    background=embedder.embed(BACKGROUND), embedder_factory=lambda: embedder)


@pytest.fixture()
def model() -> ActModel:
    clear_tenant_cache()
    return builtin_model()


def _p(model: ActModel, act: str, texts: list[str]) -> np.ndarray:
    column: np.ndarray = model.predict_texts(texts, ["agent"] * len(texts))[
        :, model.acts.index(act)]
    return column


def test_counter_examples_lower_the_head_near_them_only(model):
    threshold = model.threshold("promise")
    assert (_p(model, "promise", VAGUE) >= threshold).all()  # the over-reach to correct
    refit = model.with_tenant_acts({"promise": TenantActExamples(
        positives=(), negatives=tuple(VAGUE), refit=True)})
    assert refit.acts == model.acts  # a refit replaces a head; it adds none
    assert refit.threshold("promise") == pytest.approx(threshold)
    assert refit.model_id != model.model_id
    assert (_p(refit, "promise", VAGUE) < threshold).all()
    # Real promises, sentences far from the examples and the other head barely move.
    assert (_p(refit, "promise", PROMISES) >= threshold).all()
    far = np.abs(_p(refit, "promise", FAR) - _p(model, "promise", FAR))
    assert far.max() < 0.1
    texts = GREETINGS + FAR + VAGUE
    assert np.allclose(_p(refit, "greeting", texts), _p(model, "greeting", texts))


def test_examples_raise_the_head_on_what_it_missed(model):
    missed = ["that refund is locked in no matter what", "count on the refund this week"]
    before = _p(model, "promise", missed)
    refit = model.with_tenant_acts({"promise": TenantActExamples(
        positives=tuple(missed), refit=True)})
    assert (_p(refit, "promise", missed) > before + 0.05).all()


def test_a_refit_must_name_a_built_in_act_and_carry_a_sentence(model):
    with pytest.raises(ConfigError, match="not a built-in act"):
        model.with_tenant_acts({"upsell": TenantActExamples(positives=("a", "b"), refit=True)})
    with pytest.raises(ConfigError, match="at least one"):
        model.with_tenant_acts({"promise": TenantActExamples(positives=(), refit=True)})
    # Without refit, a built-in id is still refused.
    with pytest.raises(ConfigError, match="built-in"):
        model.with_tenant_acts({"promise": TenantActExamples(positives=("a b", "c d"))})


RUBRIC = """\
id: refit_demo
version: 1
languages: [en]
{acts}
sections:
  - id: main
    weight: 100
    criteria:
      - id: no_promise
        severity: fatal
        points: 10
        rule: {{type: act, role: agent, acts: [promise], mode: forbid}}
"""


def test_rubric_and_tenant_refits_are_validated(tmp_path):
    refit = "acts:\n  promise:\n    refit: true\n    counter_examples: [a refund may be possible]"
    ok = load_rubric_text(RUBRIC.format(acts=refit), "r.yaml")
    assert ok.acts["promise"].few_shot().refit
    for acts, problem in (
            ("acts:\n  upsell:\n    refit: true\n    examples: [a b]", "not a built-in act"),
            ("acts:\n  promise:\n    refit: true", "at least one example"),
            ("acts:\n  promise:\n    examples: [a b, c d]", "built in")):
        with pytest.raises(RubricValidationError, match=problem):
            load_rubric_text(RUBRIC.format(acts=acts), "r.yaml")
    path = tmp_path / "t.yaml"
    path.write_text("id: t\nacts:\n  insult:\n    refit: true\n"
                    "    counter_examples: [that deal is insane]\n", encoding="utf-8")
    defs = tenant_act_examples(load_tenant_file(path))
    assert defs["insult"].refit and defs["insult"].negatives == ("that deal is insane",)


def test_tune_refits_a_built_in_act_from_overturned_reviews(tmp_path, model):
    """Refund talk that promises nothing fails ``no_promise`` (the built-in head over-reaches);
    monitors overturn those fails and confirm the real promises. Tuning writes the overturned
    utterances as counter-examples of a refit of the built-in act.
    """
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(RUBRIC.format(acts=""), encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    calls = {}
    for i in range(30):
        promised = i % 2 == 0
        line = PROMISES[i % 4] if promised else VAGUE[i % 4]
        calls[f"call-{i:03d}"] = ([line], {"no_promise": "fail" if promised else "pass"})
    _store_reviews(store, "acme", rubric_path, model, calls)
    reviewed, _ = reviewed_calls(store.tenant("acme"), "refit_demo")
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    result = tune_rubric(data, load_rubric(rubric_path), reviewed, model,
                         TuneOptions(min_examples=8))
    change = next(c for c in result.changes if c.what == "refit")
    assert change.criterion_id == "no_promise" and change.where == "act promise"
    assert change.tune_after > change.tune_before
    added = result.data["acts"]["promise"]
    tune_lines = {calls[c][0][0] for c in result.tune_calls}
    assert added["refit"] is True
    assert added["counter_examples"] and set(added["counter_examples"]) <= set(VAGUE) & tune_lines
    assert set(added["examples"]) <= set(PROMISES) & tune_lines
    # The candidate loads and its act model carries the refit.
    candidate = result.rubric
    refitted = candidate.act_model(model)
    assert refitted.acts == model.acts and refitted.model_id != model.model_id
    store.close()


def test_a_refit_that_does_not_raise_tune_agreement_is_not_kept(tmp_path, model):
    """Reviewers confirm every promise the head already finds: examples from those reviews
    would refit the shipped head for nothing, so the candidate keeps it as shipped.
    """
    rubric_path = tmp_path / "r.yaml"
    rubric_path.write_text(RUBRIC.format(acts=""), encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'qa.db'}")
    calls = {f"call-{i:03d}": ([PROMISES[i % 4] if i % 2 == 0 else FAR[i % 3]],
                               {"no_promise": "fail" if i % 2 == 0 else "pass"})
             for i in range(30)}
    _store_reviews(store, "acme", rubric_path, model, calls)
    reviewed, _ = reviewed_calls(store.tenant("acme"), "refit_demo")
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    result = tune_rubric(data, load_rubric(rubric_path), reviewed, model,
                         TuneOptions(min_examples=8))
    assert not [c for c in result.changes if c.what == "refit"]
    assert "acts" not in result.data
    reasons = {u.criterion_id: u.reason for u in result.unchanged}
    assert "did not raise agreement" in reasons["no_promise"]
    store.close()


def test_fitted_heads_are_kept_for_the_next_process(tmp_path, model, monkeypatch):
    """Rubric and tenant acts (and refits) are fitted once per site, not once per worker
    process: the heads go to the models folder's cache and are read back by content hash.
    """
    from qa_pipeline.settings import overridden

    defs = {"promise": TenantActExamples(positives=(), negatives=tuple(VAGUE), refit=True),
            "upsell": TenantActExamples(positives=("try our gold plan", "upgrade to gold"))}
    with overridden(models_dir=tmp_path):
        first = model.with_tenant_acts(defs)
        assert len(list((tmp_path / "cache" / "act-heads").glob("tenant-acts-*.npz"))) == 1
        clear_tenant_cache()  # a new process

        def refuse(self, defs):  # type: ignore[no-untyped-def]
            raise AssertionError("refitted despite the cache")

        monkeypatch.setattr(ActModel, "_fit_tenant_heads", refuse)
        again = model.with_tenant_acts(defs)
        texts = VAGUE + PROMISES + ["try our gold plan"]
        np.testing.assert_array_equal(again.predict_texts(texts), first.predict_texts(texts))
        assert again.acts == first.acts and again.model_id == first.model_id
        clear_tenant_cache()
        with pytest.raises(AssertionError, match="refitted"):
            model.with_tenant_acts(defs, cache_dir=False)  # no files: fitted again
    monkeypatch.undo()
    clear_tenant_cache()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x", encoding="utf-8")
    # A folder that cannot be written costs the refit, nothing else.
    assert model.with_tenant_acts(defs, cache_dir=blocked / "heads").acts == first.acts


def test_fitted_heads_are_not_reused_across_built_in_weights(tmp_path, model):
    """Two models under the same id with different built-in weights (a retrained head file, a
    test's model) share no fitted tenant heads or refits, in process or on disk.
    """
    from dataclasses import replace

    defs = {"promise": TenantActExamples(positives=(), negatives=tuple(VAGUE), refit=True),
            "upsell": TenantActExamples(positives=("try our gold plan", "upgrade to gold"))}
    heads = model.heads
    other = ActModel(replace(heads, bias=heads.bias + np.float32(2.0)), model_id=model.model_id,
                     embedder_id=model.embedder_id, background=model.background,
                     embedder_factory=model.embedder)
    assert other.weights_sha256 != model.weights_sha256
    first = model.with_tenant_acts(defs, cache_dir=tmp_path)
    reused = other.with_tenant_acts(defs, cache_dir=tmp_path)  # same id, LRU and folder warm
    assert len(list(tmp_path.glob("tenant-acts-*.npz"))) == 2
    clear_tenant_cache()
    fresh = other.with_tenant_acts(defs, cache_dir=False)
    texts = VAGUE + PROMISES + ["try our gold plan"]
    np.testing.assert_array_equal(reused.predict_texts(texts), fresh.predict_texts(texts))
    assert not np.array_equal(first.heads.bias, reused.heads.bias)
    # The same weights under a copy of the model still hit the cache.
    twin = ActModel(heads, model_id=model.model_id, embedder_id=model.embedder_id,
                    background=model.background, embedder_factory=model.embedder)
    assert twin.weights_sha256 == model.weights_sha256
    assert twin.with_tenant_acts(defs, cache_dir=tmp_path).model_id == first.model_id
    assert len(list(tmp_path.glob("tenant-acts-*.npz"))) == 2
