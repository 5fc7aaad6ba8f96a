"""The embedding + character n-gram act-head ensemble (issue 24): the lexical head's
features, its scores in the calibrated sum, training with ``--lexical``, loading, tenant
refits (embedding-only) and the act model switch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.acts import ActModel, TenantActExamples, clear_tenant_cache, load_act_model
from qa_pipeline.acts import model as act_model
from qa_pipeline.acts import train as act_train
from qa_pipeline.acts.model import ActHeads, LexicalHeads, tfidf_features
from qa_pipeline.acts.track import tag_conversation
from qa_pipeline.rubric.embeddings import CallEmbeddings, CharNgramEmbedder
from tests.helpers import make_conversation
from tests.unit.test_acts_model import _small_corpus

TEXTS = ["Thank you for calling Acme, this is Dana.", "您好，这里是客服中心。",
         "I am so sorry about that.", "非常抱歉让您久等了", "put your manager on the phone"]


def _embedder() -> CharNgramEmbedder:
    return CharNgramEmbedder(dim=act_model.EMBEDDING_DIM)


def test_tfidf_features_match_scikit_learns_fitted_vectoriser():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=True,
                          sublinear_tf=True, min_df=2).fit(TEXTS * 2 + ["sorry sorry sorry"])
    vocab, idf = act_train.fit_vocabulary(TEXTS * 2 + ["sorry sorry sorry"])
    assert vocab == tuple(vec.get_feature_names_out())
    new = ["SORRY, so sorry!", "您好 您好", "nothing alike"]
    ours = tfidf_features(vocab, idf, (1, 3), new, ["agent", "customer", None]).toarray()
    np.testing.assert_allclose(ours[:, :-2], vec.transform(new).toarray(), atol=1e-12)
    np.testing.assert_array_equal(ours[:, -2:], [[1, 0], [0, 1], [0, 0]])


def _lexical_model(mix: float = 0.6) -> tuple[ActModel, LexicalHeads]:
    rng = np.random.default_rng(0)
    k, dim = 2, act_model.EMBEDDING_DIM
    heads = ActHeads(("greeting", "apology_empathy"),
                     rng.normal(0, 1, (k, dim + 2)).astype(np.float32),
                     np.array([0.1, -0.2], np.float32), np.array([1.5, 0.8], np.float32),
                     np.array([-0.3, 0.2], np.float32), np.array([0.5, 0.4], np.float32),
                     (None, None))
    vocab, idf = act_train.fit_vocabulary(TEXTS * 2)
    lexical = LexicalHeads(vocab, idf, rng.normal(0, 2, (k, len(vocab) + 2)).astype(np.float32),
                           np.array([0.5, -1.0], np.float32), mix)
    embedder = _embedder()
    return ActModel(heads, model_id="lex-test", embedder_id=embedder.model_id,
                    embedder_factory=lambda: embedder, lexical=lexical), lexical


def test_lexical_score_is_added_before_the_calibration():
    model, lexical = _lexical_model()
    roles = ["agent", "customer", "agent", "customer", "customer"]
    emb = _embedder().embed(TEXTS)
    h = model.heads
    z = np.hstack([emb, act_model.role_features(roles, len(TEXTS))]) @ h.weight.T + h.bias
    z = z + 0.6 * (tfidf_features(lexical.vocabulary, lexical.idf, (1, 3), TEXTS, roles)
                   @ lexical.weight.T + lexical.bias)
    expected = 1 / (1 + np.exp(-(h.calibration_scale * z + h.calibration_offset)))
    got = model.predict_embeddings(emb, roles, TEXTS)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_texts(TEXTS, roles), got, rtol=1e-6)
    # The lexical part moves the answer: without it the probabilities differ.
    plain = ActModel(h, model_id="plain", embedder_id=model.embedder_id)
    assert not np.allclose(plain.predict_embeddings(emb, roles), got, atol=1e-3)
    with pytest.raises(ValueError, match="lexical head"):
        model.predict_embeddings(emb, roles)


def test_a_model_without_lexical_arrays_ignores_texts():
    model, _ = _lexical_model()
    plain = ActModel(model.heads, model_id="plain", embedder_id=model.embedder_id)
    emb = _embedder().embed(TEXTS)
    np.testing.assert_array_equal(plain.predict_embeddings(emb, None, TEXTS),
                                  plain.predict_embeddings(emb))
    assert plain.lexical is None and plain.embedding_only is plain.heads


def test_tag_conversation_passes_the_texts_to_a_lexical_model():
    model, _ = _lexical_model()
    call = make_conversation([["agent", 0, 2, TEXTS[0]], ["customer", 2, 4, TEXTS[3]]],
                             language="en")
    shared = CallEmbeddings([u.text for u in call.utterances], embedder_factory=_embedder)
    track = tag_conversation(call, model, shared)
    expected = model.predict_texts([u.text for u in call.utterances], ["agent", "customer"])
    # Utterances may also be tagged by their sentences (the max of the two is kept).
    assert np.all(np.asarray(track.probabilities) >= expected - 1e-6)


def test_refits_and_tenant_acts_of_a_lexical_model_are_embedding_only():
    clear_tenant_cache()
    model, _ = _lexical_model()
    rng = np.random.default_rng(1)
    e_only = ActHeads(model.heads.acts, model.heads.weight, model.heads.bias,
                      np.array([2.0, 1.0], np.float32), np.array([0.1, -0.1], np.float32),
                      np.array([0.45, 0.55], np.float32), (None, None))
    embedder = _embedder()
    background = embedder.embed([f"ordinary sentence number {i}" for i in range(30)])
    lex_model = ActModel(model.heads, model_id="lex-test", embedder_id=embedder.model_id,
                         background=background, embedder_factory=lambda: embedder,
                         lexical=model.lexical, embedding_only=e_only)
    emb_model = ActModel(e_only, model_id="emb-test", embedder_id=embedder.model_id,
                         background=background, embedder_factory=lambda: embedder)
    defs = {"greeting": TenantActExamples(positives=("hello and welcome to acme",),
                                          negatives=("hello is anyone there",), refit=True),
            "card_lost": TenantActExamples(positives=("i lost my card", "my card is gone"))}
    refitted = lex_model.with_tenant_acts(defs, cache_dir=False)
    baseline = emb_model.with_tenant_acts(defs, cache_dir=False)
    texts = TEXTS + ["hello and welcome to acme", "i lost my card yesterday"]
    roles = list(rng.choice(["agent", "customer"], len(texts)))
    got = refitted.predict_texts(texts, roles)
    # The refitted built-in act and the new act score as on the embedding-only model...
    np.testing.assert_allclose(got[:, [0, 2]], baseline.predict_texts(texts, roles)[:, [0, 2]],
                               rtol=1e-5, atol=1e-6)
    # ...and the act that was not refitted keeps its lexical part.
    np.testing.assert_allclose(got[:, 1], lex_model.predict_texts(texts, roles)[:, 1],
                               rtol=1e-6)
    assert refitted.lexical is not None and not refitted.lexical.weight[0].any()
    assert refitted.weights_sha256 != lex_model.weights_sha256


def test_training_with_lexical_writes_a_loadable_deterministic_ensemble(tmp_path, monkeypatch):
    monkeypatch.setattr(act_train, "default_embedder", _embedder)
    corpus = _small_corpus(tmp_path, per_act=4)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name / "acts_lex.npz"
        act_train.main(["--corpus", str(corpus), "--out", str(out), "--lexical"])
        runs.append(out)
    with np.load(runs[0]) as first, np.load(runs[1]) as second:
        assert set(first.files) == set(second.files) and "lex_weight" in first.files
        for key in first.files:
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    card = json.loads(runs[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert card["model_id"].startswith("acts-e5small-lex@")
    assert card["lexical_mix"] == 0.6 and set(card["lexical_inverse_regularisation"]) == set(
        card["acts"])
    embedder = _embedder()
    model = load_act_model(runs[0], embedder_factory=lambda: embedder)
    assert model.lexical is not None and model.model_id.startswith("acts-e5small-lex@")
    train = [ex for n in act_train.TRAIN_FILES for ex in act_train.read_act_corpus(corpus / n)]
    single = [ex for ex in train if len(ex.acts) == 1]
    probs = model.predict_texts([ex.text for ex in single], [ex.role for ex in single])
    top = [model.acts[j] for j in probs.argmax(axis=1)]
    assert np.mean([t == ex.acts[0] for t, ex in zip(top, single, strict=True)]) >= 0.9
    # The same file without the lexical arrays loads as an embedding-only model.
    with np.load(runs[0]) as data:
        plain = {k: data[k] for k in data.files if not k.startswith(("lex_", "emb_"))}
    np.savez(tmp_path / "plain.npz", **plain)
    assert load_act_model(tmp_path / "plain.npz").lexical is None


def test_the_act_model_setting_names_another_weights_file(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_PIPELINE_ACT_MODEL", raising=False)
    assert act_model.embedded_act_model_path() == act_model.WEIGHTS_PATH
    monkeypatch.setenv("QA_PIPELINE_ACT_MODEL", str(tmp_path / "x.npz"))
    assert act_model.embedded_act_model_path() == Path(tmp_path / "x.npz")


def test_use_act_model_makes_every_stage_load_the_given_weights():
    # what benchmarks/heldout_eval.py and labelled_eval.py do with --act-model
    from qa_pipeline.acts import load_embedded_act_model, use_act_model
    from qa_pipeline.settings import reset_configuration

    lexical = act_model.LEXICAL_WEIGHTS_PATH
    try:
        reset_configuration()
        load_embedded_act_model.cache_clear()
        assert use_act_model(None).startswith("acts-e5small-lex@")
        assert use_act_model(act_model.HEAD_WEIGHTS_PATH).startswith("acts-e5small-head@")
        assert load_embedded_act_model().lexical is None
        assert use_act_model(lexical).startswith("acts-e5small-lex@")
        assert load_embedded_act_model().lexical is not None
    finally:
        reset_configuration()
        load_embedded_act_model.cache_clear()
