"""The static scorecard.html (issue 26, item 9): the page's language is the call's, it says it
is a snapshot of the automated scoring, and it links the recording.
"""

from __future__ import annotations

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.scorecard.render import write_scorecard
from tests.helpers import make_conversation
from tests.review_fixtures import RUBRIC


def _card(tmp_path, language):
    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path)
    conv = make_conversation([["agent", 0.0, 2.0, "hello there", 0.9],
                              ["customer", 2.0, 3.0, "okay thanks", 0.9]],
                             call_id="c1", tenant_id="acme", language=language)
    card = build_scorecard(rubric, evaluate(rubric, EvaluationContext(conv)), call_id="c1",
                           tenant_id="acme", provenance={})
    return card, conv


def test_english_call_page_is_english_and_links_the_recording(tmp_path):
    card, conv = _card(tmp_path, "en")
    audio = tmp_path / "in" / "c1.wav"
    audio.parent.mkdir()
    audio.write_bytes(b"RIFF")
    paths = write_scorecard(card, tmp_path / "out", conv, recording=audio)
    page = paths["html"].read_text(encoding="utf-8")
    assert "<html lang='en'>" in page and "zh-CN" not in page
    assert "href='../../in/c1.wav'" in page  # relative to out/c1/scorecard.html
    assert "Snapshot of the automated scoring" in page


def test_chinese_call_page_and_urls(tmp_path):
    card, conv = _card(tmp_path, "zh")
    paths = write_scorecard(card, tmp_path / "out", conv,
                            recording="s3://bucket/calls/c1.wav")
    page = paths["html"].read_text(encoding="utf-8")
    assert "<html lang='zh-CN'>" in page and "href='s3://bucket/calls/c1.wav'" in page
    plain = write_scorecard(card, tmp_path / "out2", conv)["html"].read_text(encoding="utf-8")
    assert "id='recording'" not in plain


def test_queue_sentiment_follows_the_cards_end_sentiment_verdict():
    """Issue 26, item 4: the queue used the trajectory's valence while the card's
    customer_sentiment_end said otherwise, so ?sentiment=negative missed such calls.
    """
    from qa_pipeline.store.summary import customer_end_sentiment

    card = {"items": [{"criterion_id": "customer_sentiment_end", "rule_type": "sentiment",
                       "value": -0.5, "message": "customer sentiment at end: negative (-0.50)"}],
            "emotion": {"customer": {"end": {"valence": 0.4}}}}
    assert customer_end_sentiment(card) == "negative"
    assert customer_end_sentiment({"items": [], **{k: v for k, v in card.items()
                                                   if k == "emotion"}}) == "positive"
    assert customer_end_sentiment({}) == ""
