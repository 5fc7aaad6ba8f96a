"""The default rubrics' closing on wording of its own (issue 24): it takes the ordinary
farewells and a tag-question "anything else", and still needs both parts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from qa_pipeline.pipeline import analyzers_for, score_conversation
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scorecard.card import Scorecard
from qa_pipeline.tenants import load_tenant
from tests.helpers import make_conversation

RUBRICS = Path(__file__).resolve().parents[2] / "rubrics"

# Written for this test: none is in the rubrics' examples or in an evaluation set.
QUESTION = {"en": ("customer", "Hi, I'd like to move my delivery to Friday."),
            "zh": ("customer", "你好，我想把送货改到周五。")}
ANSWER = {"en": ("agent", "Done, it's moved to Friday morning."),
          "zh": ("agent", "好的，已经改到周五上午了。")}


@cache
def _rubric(lang: str) -> Rubric:
    rubric = load_rubric(RUBRICS / f"customer_service_{lang}.yaml")
    return rubric.model_copy(update={"time_budget_s": 3600.0})


def _score(lang: str, turns: list[tuple[str, str]]) -> Scorecard:
    rows = [[role, 3.0 * i, 3.0 * i + 2.5, text] for i, (role, text) in enumerate(turns)]
    conv = make_conversation(rows, language=lang)
    return score_conversation(conv, _rubric(lang), analyzers=analyzers_for(load_tenant("default")))


def _status(card: Scorecard, criterion: str) -> str:
    (item,) = [i for i in card.items if i.result.criterion_id == criterion]
    return str(item.result.provisional_status.value)


@pytest.mark.parametrize("lang,ask,farewell", [
    # farewells that the thanks_farewell act scores below its threshold (0.18, 0.02)
    ("en", "Is there anything else I can do for you?",
     "Okay, you're all set for Friday then, take care."),
    ("en", "Is there anything else I can do for you?",
     "Sorted, the refund's on its way, have a good day."),
    ("zh", "那没别的了吧？", "感谢您的来电，再见。"),
])
def test_closing_takes_a_tag_question_and_an_ordinary_farewell(lang, ask, farewell):
    card = _score(lang, [("agent", "Good morning, Harbor Gas, this is Lee." if lang == "en"
                          else "您好，安达燃气，我是小李。"),
                         QUESTION[lang], ANSWER[lang], ("agent", ask),
                         ("customer", "No, that's all." if lang == "en" else "没有了。"),
                         ("agent", farewell)])
    assert _status(card, "closing") == "pass"


@pytest.mark.parametrize("lang,farewell", [("en", "Thanks for calling, bye."),
                                           ("zh", "感谢来电，再见。")])
def test_closing_still_needs_the_anything_else_question(lang, farewell):
    # the rubric's closing is both parts (DOMAIN.md): a bare farewell is not enough
    card = _score(lang, [("agent", "Good morning, Harbor Gas, this is Lee." if lang == "en"
                          else "您好，安达燃气，我是小李。"),
                         QUESTION[lang], ANSWER[lang], ("agent", farewell)])
    assert _status(card, "closing") == "fail"
