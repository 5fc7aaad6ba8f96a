"""The default rubrics (v6) do not knock a call out for abuse on a line the ASR barely heard or
whose speaker may be the caller: such a line goes to review, provisionally pass; the same line
heard clearly from the agent still fails. forbidden_phrases fails a clear curt deflection and
sends a refusal of middling probability (often a terse but helpful answer) to review."""

from __future__ import annotations

import pytest

from qa_pipeline.pipeline import score_conversation
from tests.helpers import default_rubric as _rubric
from tests.helpers import make_conversation

INSULTS = {"en": "you idiot, what's the problem now", "zh": "笨蛋，什么问题"}



def _verdict(lang: str, turns: list[tuple[str, str, float]], criterion: str,
             role_confidence: float = 1.0) -> tuple[str, str]:
    rows = [[role, 3.0 * i, 3.0 * i + 2.5, text, p] for i, (role, text, p) in enumerate(turns)]
    conv = make_conversation(rows, language=lang, role_confidence=role_confidence)
    card = score_conversation(conv, _rubric(lang))
    (item,) = [i for i in card.items if i.result.criterion_id == criterion]
    return item.result.provisional_status.value, item.result.status.value


def _opener(lang: str) -> tuple[str, str, float]:
    return ("customer", "hello, I have a question" if lang == "en" else "喂，我想问个问题", 0.95)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_insult_heard_clearly_fails(lang: str) -> None:
    turns = [_opener(lang), ("agent", INSULTS[lang], 0.95)]
    assert _verdict(lang, turns, "abusive_language") == ("fail", "fail")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_insult_the_asr_barely_heard_goes_to_review(lang: str) -> None:
    turns = [_opener(lang), ("agent", INSULTS[lang], 0.45)]
    assert _verdict(lang, turns, "abusive_language") == ("pass", "needs_review")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_insult_on_a_line_of_uncertain_role_goes_to_review(lang: str) -> None:
    turns = [_opener(lang), ("agent", INSULTS[lang], 0.95)]
    assert _verdict(lang, turns, "abusive_language", role_confidence=0.6) == (
        "pass", "needs_review")


CURT = {"en": "Not my problem, ring the council.", "zh": "这不关我的事，你找物业去。"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_curt_deflection_fails(lang: str) -> None:
    turns = [_opener(lang), ("agent", CURT[lang], 0.95)]
    assert _verdict(lang, turns, "forbidden_phrases") == ("fail", "fail")


def test_a_terse_but_helpful_answer_goes_to_review_not_to_fail() -> None:
    # "No, returns cost nothing": a refusal to the act model (between its threshold and the
    # rubric's cut), a helpful answer to the caller; a human confirms.
    turns = [("customer", "退货要收钱吗？", 0.95), ("agent", "不用，退货不收钱。", 0.95)]
    assert _verdict("zh", turns, "forbidden_phrases") == ("pass", "needs_review")
