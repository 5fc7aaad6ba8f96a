"""Dialogue-act taxonomy, corpus, shipped heads, retraining and tenant acts (issue 24)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from qa_pipeline.acts import (
    ACTS,
    ActModel,
    TenantActExamples,
    clear_tenant_cache,
    load_act_model,
    load_embedded_act_model,
    read_act_corpus,
    weights_card,
)
from qa_pipeline.acts import model as act_model
from qa_pipeline.acts import train as act_train
from qa_pipeline.acts.taxonomy import CORPUS_HEADER
from qa_pipeline.errors import ConfigError, ModelUnavailableError

CORPUS = act_train.CORPUS
INTERFACE_ORDER = (
    "greeting", "verification_request", "verification_confirmed", "account_disclosure",
    "hold_announcement", "hold_return", "apology_empathy", "complaint", "escalation_threat",
    "insult", "refusal_deflection", "promise", "next_step", "anything_else", "thanks_farewell",
    "recording_disclosure",
)


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def test_act_ids_follow_the_shared_interface():
    assert ACTS == INTERFACE_ORDER


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_training_corpus_has_forty_distinct_phrasings_per_act(lang):
    examples = read_act_corpus(CORPUS / f"train_{lang}.tsv")
    assert {ex.lang for ex in examples} == {lang}
    per_act = Counter(act for ex in examples for act in ex.acts)
    assert min(per_act[act] for act in ACTS) >= 40, per_act
    texts = [_squash(ex.text) for ex in examples]
    assert len(set(texts)) == len(texts), "duplicate phrasings"
    assert sum(1 for ex in examples if not ex.acts) >= 100, "hard negatives"
    assert sum(1 for ex in examples if len(ex.acts) > 1) >= 10, "multi-label lines"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_validation_split_shares_no_phrasing_with_training(lang):
    files = [p for p in act_train.training_files(CORPUS) if f"_{lang}" in p.stem]
    assert len(files) >= 4, "the first author, two more authors and the hard negatives"
    train = {_squash(ex.text) for path in files for ex in read_act_corpus(path)}
    valid = read_act_corpus(CORPUS / f"valid_{lang}.tsv")
    assert not train & {_squash(ex.text) for ex in valid}
    per_act = Counter(act for ex in valid for act in ex.acts)
    assert min(per_act[act] for act in ACTS) >= 15, per_act


def test_training_files_and_their_authors(tmp_path):
    for name in ("train_zh.tsv", "train_en.tsv", "train_en_asr.tsv", "train_extra_b_zh.tsv",
                 "train_hardneg_en.tsv", "valid_zh.tsv"):
        (tmp_path / name).write_text("lang\trole\tacts\ttext\n", encoding="utf-8")
    files = act_train.training_files(tmp_path)
    assert [p.name for p in files] == ["train_zh.tsv", "train_en.tsv", "train_en_asr.tsv",
                                       "train_extra_b_zh.tsv", "train_hardneg_en.tsv"]
    assert [act_train.author_of(p) for p in files] == [
        "project", "project", "project", "extra_b", "hardneg"]
    for path in act_train.training_files(CORPUS):
        lang = "zh" if "_zh" in path.stem else "en"
        assert {ex.lang for ex in read_act_corpus(path)} == {lang}, path.name


def test_folds_leave_one_author_out():
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    groups = np.array(["p", "p", "p", "a", "a", "b", "b", "b"])
    folds = act_train.folds(y, groups)
    # "b" has no positive, but leaving it out still leaves positives to train on.
    assert [sorted(set(groups[test])) for _, test in folds] == [["a"], ["b"], ["p"]]
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    # An author whose removal leaves no positive is never held out: its rows stay unscored.
    only = np.array(["p", "p", "p", "a", "a", "a", "a", "a"])
    y_only = np.array([1, 0, 1, 0, 0, 0, 0, 0])
    assert [sorted(set(only[test])) for _, test in act_train.folds(y_only, only)] == [["a"]]
    # A single author: stratified folds.
    assert len(act_train.folds(y, np.array(["p"] * 8))) == 3


def test_corpus_reader_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("\t".join(CORPUS_HEADER) + "\nen\tagent\tgreeting\tHello, Acme, Bo here.\n"
                    "en\tagent\tgreting\tHi\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.tsv:3: .*greting"):
        read_act_corpus(path)
    path.write_text("\t".join(CORPUS_HEADER) + "\nen\tboss\t\tHi\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.tsv:2: .*role"):
        read_act_corpus(path)
    path.write_text("lang,role,acts,text\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="first line"):
        read_act_corpus(path)


@pytest.mark.parametrize("path", [act_model.WEIGHTS_PATH, act_model.HEAD_WEIGHTS_PATH],
                         ids=["default", "embedding-only"])
def test_shipped_weights_match_the_corpus_they_were_trained_on(path):
    card = weights_card(path)
    train_files = act_train.training_files(CORPUS)
    digest = act_train.corpus_sha256(train_files)
    assert card["corpus_sha256"] == digest, "retrain: python -m qa_pipeline.acts.train"
    with np.load(path) as data:
        assert str(data["corpus_sha256"]) == digest
        assert tuple(str(a) for a in data["acts"]) == ACTS
    for f in train_files + [CORPUS / name for name in act_train.VALID_FILES]:
        assert card["files_sha256"][f.name] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert card["acts"] == list(ACTS)
    assert set(card["thresholds"]) == set(ACTS)
    assert card["model_id"] == load_act_model(path).model_id


def test_the_default_model_is_the_ensemble_and_the_embedding_heads_stay_selectable():
    assert act_model.WEIGHTS_PATH == act_model.LEXICAL_WEIGHTS_PATH
    assert load_act_model().lexical is not None
    assert load_act_model().model_id.startswith("acts-e5small-lex@")
    head = load_act_model(act_model.HEAD_WEIGHTS_PATH)
    assert head.lexical is None and head.model_id.startswith("acts-e5small-head@")


def test_shipped_model_shapes_thresholds_and_unknown_act():
    model = load_embedded_act_model()
    assert model is load_embedded_act_model()
    assert model.acts == ACTS and model.model_id.startswith("acts-e5small-lex@")
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    texts = ["Thanks for calling.", "我要投诉", "ok"]
    probs = model.predict_embeddings(emb, ["agent", "customer", "unknown"], texts)
    assert probs.shape == (3, len(ACTS)) and np.all((probs >= 0) & (probs <= 1))
    assert np.array_equal(model.predict_embeddings(emb, texts=texts),
                          model.predict_embeddings(emb, None, texts))
    with pytest.raises(ValueError, match="lexical head"):
        model.predict_embeddings(emb)
    assert all(0.0 < model.threshold(act) < 1.0 for act in ACTS)
    with pytest.raises(ConfigError, match="valid: greeting"):
        model.threshold("greting")
    with pytest.raises(ValueError, match="roles"):
        model.predict_embeddings(emb, ["agent"], texts)
    with pytest.raises(ValueError, match="384"):
        model.predict_embeddings(emb[:, :10], texts=texts)


def test_missing_or_malformed_weights_name_the_training_command(tmp_path):
    with pytest.raises(ModelUnavailableError, match="qa_pipeline.acts.train"):
        load_act_model(tmp_path / "absent.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, acts=np.array(["greeting"]))
    with pytest.raises(ModelUnavailableError, match="qa_pipeline.acts.train"):
        load_act_model(bad)


def test_calibration_and_thresholds_are_fitted_not_fixed():
    # Platt on well-separated scores gives a steep slope; on noise, a flat one.
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(50), np.zeros(50)]
    steep, _ = act_model.fit_platt(np.r_[rng.normal(3, 1, 50), rng.normal(-3, 1, 50)], y)
    flat, _ = act_model.fit_platt(rng.normal(0, 1, 100), y)
    assert steep > 1.0 and abs(flat) < 0.5
    assert act_train.f1_at(np.array([0.9, 0.6, 0.2]), np.array([1, 0, 1]), 0.5) == 0.5
    p = np.array([[0.95, 0.05], [0.9, 0.1], [0.1, 0.9], [0.05, 0.2]])
    y2 = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    report = act_train.evaluate(p, y2, np.array([0.5, 0.5]), acts=("a", "b"))
    assert report["per_act"]["a"]["f1"] == 1.0 and report["exact_set_accuracy"] == 1.0
    assert 0 < report["ece_10bin"] < 0.2


def _small_corpus(tmp_path: Path, per_act: int) -> Path:
    """The first ``per_act`` single-act lines of each act and some negatives, per language."""
    out = tmp_path / "corpus"
    out.mkdir()
    for split, take in (("train", per_act), ("valid", 2)):
        for lang in ("zh", "en"):
            lines = (CORPUS / f"{split}_{lang}.tsv").read_text(encoding="utf-8").splitlines()
            kept, counts = [lines[0]], Counter[str]()
            for line in lines[1:]:
                acts = line.split("\t")[2]
                key = acts if "," not in acts else ""
                if "," not in acts and counts[key] < (take if acts else 2 * take):
                    counts[key] += 1
                    kept.append(line)
            (out / f"{split}_{lang}.tsv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out


@pytest.mark.integration
def test_training_command_retrains_a_working_model_on_a_subset(tmp_path):
    corpus = _small_corpus(tmp_path, per_act=5)
    out = tmp_path / "weights" / "heads.npz"
    act_train.main(["--corpus", str(corpus), "--out", str(out)])
    card = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["corpus_sha256"] == act_train.corpus_sha256(act_train.training_files(corpus))
    assert card["validation"]["all"]["utterances"] > 0
    model = load_act_model(out)
    train = [ex for name in act_train.TRAIN_FILES for ex in read_act_corpus(corpus / name)]
    single = [ex for ex in train if len(ex.acts) == 1]
    probs = model.predict_texts([ex.text for ex in single], [ex.role for ex in single])
    top = [model.acts[j] for j in probs.argmax(axis=1)]
    hits = sum(t == ex.acts[0] for t, ex in zip(top, single, strict=True))
    assert hits / len(single) >= 0.9
    # Deterministic: fitting the same features again gives the same heads.
    x, y = act_train.features(model.embedder(), train), act_train.label_matrix(train)
    again = act_train.fit_heads(x, y).heads
    np.testing.assert_allclose(again.weight, model.heads.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(again.thresholds, model.heads.thresholds)


def test_asr_noised_copies_keep_noisy_transcripts_only():
    from qa_pipeline.acts.asr_noise import keep_transcript

    source = "Could you give me the last four digits of the card?"
    assert keep_transcript(source, "could you give me the last for digits on the cart")
    assert not keep_transcript(source, "Could you give me the last four digits of the card")
    assert not keep_transcript(source, "after you bring the university to the field")
    assert not keep_transcript(source, "")
    # Mandarin: compared on CJK characters (Whisper's homophones), punctuation ignored.
    zh = "您好，欢迎致电新东方在线学习顾问，我是王老师。"
    assert keep_transcript(zh, "你好,欢迎至电新东方再现学习顾问,我是王老师。")
    assert not keep_transcript(zh, "您好欢迎致电新东方在线学习顾问我是王老师")
    assert not keep_transcript(zh, "今天天气很好")


def test_tenant_act_definitions_are_validated():
    model = load_embedded_act_model()
    with pytest.raises(ConfigError, match="built-in"):
        model.with_tenant_acts({"greeting": TenantActExamples(("a", "b"))})
    with pytest.raises(ConfigError, match="two distinct positive"):
        model.with_tenant_acts({"x": TenantActExamples(("same", "same"))})
    with pytest.raises(ConfigError, match="role"):
        model.with_tenant_acts({"x": TenantActExamples(("a", "b"), role="boss")})
    assert model.with_tenant_acts({}) is model


PLAN_UPSELL = TenantActExamples(
    positives=(
        "Would you like to upgrade to our 5G Unlimited plan for just ten more a month?",
        "Since you use so much data, the 5G Max plan would save you money.",
        "I can move you onto 5G Unlimited today with a free month.",
        "Have you thought about switching to the 5G plan? It's much faster.",
        "您要不要升级一下我们的5G畅享套餐？每月只多十块钱。",
        "您流量用得多，换成5G套餐更划算。",
        "现在办5G套餐送一个月免费，要给您升级吗？",
    ),
    negatives=(
        "Your current plan is 4G Essentials at 20 a month.",
        "您现在的套餐是4G基础套餐，每月二十元。",
    ),
    role="agent",
    description="agent offers the 5G plan upgrade",
)


@pytest.mark.integration
def test_tenant_act_is_fitted_from_examples_and_cached(tmp_path, monkeypatch):
    clear_tenant_cache()
    base = load_embedded_act_model()
    extended = base.with_tenant_acts({"plan_upsell": PLAN_UPSELL}, cache_dir=tmp_path)
    assert extended.acts == ACTS + ("plan_upsell",)
    assert extended.model_id.startswith(base.model_id + "+tenant:")
    texts = ["How about upgrading to 5G Unlimited? It's only a little more each month.",
             "给您推荐一下我们的5G新套餐，网速快很多，要不要换？",
             "Thanks for calling, have a nice day.",
             "我的快递还没到，帮我查一下。",
             "How about upgrading to 5G Unlimited? It's only a little more each month."]
    roles = ["agent", "agent", "agent", "customer", "customer"]
    probs = extended.predict_texts(texts, roles)
    j = extended.acts.index("plan_upsell")
    cut = extended.threshold("plan_upsell")
    assert probs[0, j] >= cut and probs[1, j] >= cut
    assert probs[2, j] < cut and probs[3, j] < cut
    assert probs[4, j] == 0.0, "role-restricted: a customer cannot perform an agent act"
    # Built-in columns are unchanged by the extension.
    np.testing.assert_array_equal(probs[:, :len(ACTS)], base.predict_texts(texts, roles))
    assert len(list(tmp_path.glob("tenant-acts-*.npz"))) == 1

    def refuse(self, defs):
        raise AssertionError("refitted despite the cache")

    monkeypatch.setattr(ActModel, "_fit_tenant_heads", refuse)
    same = base.with_tenant_acts({"plan_upsell": PLAN_UPSELL})  # in-process LRU
    assert same.model_id == extended.model_id
    clear_tenant_cache()
    from_disk = base.with_tenant_acts({"plan_upsell": PLAN_UPSELL}, cache_dir=tmp_path)
    np.testing.assert_array_equal(from_disk.predict_texts(texts, roles), probs)
    changed = TenantActExamples(PLAN_UPSELL.positives[:-1], PLAN_UPSELL.negatives, "agent")
    with pytest.raises(AssertionError, match="refitted"):
        base.with_tenant_acts({"plan_upsell": changed}, cache_dir=tmp_path)


@pytest.mark.integration
def test_embedded_model_tags_unseen_sentences():
    model = load_embedded_act_model()
    cases = [
        ("agent", "Hi, you're talking to Mel at Orchard Bank, how can I help?", "greeting"),
        ("agent", "请您提供一下身份证号码的最后四位。", "verification_request"),
        ("customer", "你们这个服务真的是太烂了，我等了一个月！", "complaint"),
        ("customer", "Get me your supervisor right now.", "escalation_threat"),
        ("agent", "稍等一下，我帮您查一查。", "hold_announcement"),
        ("agent", "Is there anything else I can help with?", "anything_else"),
    ]
    probs = model.predict_texts([c[1] for c in cases], [c[0] for c in cases])
    for row, (_, text, act) in zip(probs, cases, strict=True):
        assert row[ACTS.index(act)] >= model.threshold(act), (text, act)
    neutral = model.predict_texts(["My parcel has not arrived yet, can you check?"], ["customer"])
    assert neutral[0, ACTS.index("complaint")] < model.threshold("complaint")
