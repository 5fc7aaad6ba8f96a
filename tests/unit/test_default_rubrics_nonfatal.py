"""The default rubrics' closing on wording of its own (issue 24): it takes the ordinary
farewells and a tag-question "anything else", and still needs both parts."""

from __future__ import annotations

import pytest

from tests.helpers import criterion_status as _status
from tests.helpers import score_turns as _score

# Written for this test: none is in the rubrics' examples or in an evaluation set.
QUESTION = {"en": ("customer", "Hi, I'd like to move my delivery to Friday."),
            "zh": ("customer", "你好，我想把送货改到周五。")}
ANSWER = {"en": ("agent", "Done, it's moved to Friday morning."),
          "zh": ("agent", "好的，已经改到周五上午了。")}





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
