"""The default rubrics (v6) hold one notion of a complaint: customer_complaint, the trigger of
empathy_on_complaint and the emotion stage's complaint intent agree on every call; and the
agent's empathy counts in the agent's next two turns after a complaint, though the customer
adds a line in between."""

from __future__ import annotations

import pytest

from tests.helpers import criterion_status as _status
from tests.helpers import score_turns as _score

# Written for this test: none is in the rubrics' examples or in an evaluation set.
COMPLAINTS = {"en": "I've chased this four times now and every time I'm fobbed off, "
                    "it's a disgrace.",
              "zh": "我都跑了四趟了，每次都让我回去等，你们这办事效率也太差劲了。"}
NEUTRAL = {"en": "Hi, I'd like to add my daughter as a second driver on the policy.",
           "zh": "你好，我想给保单加一个副驾驶人，是我女儿。"}
FOLLOW_UP = {"en": ("customer", "It's the one ending 2231."),
             "zh": ("customer", "尾号是二二三一的那个。")}
ASK = {"en": ("agent", "Which account is it about?"), "zh": ("agent", "请问是哪个账户？")}
EMPATHY = {"en": ("agent", "I'm so sorry you've had to chase it, that's really frustrating."),
           "zh": ("agent", "真的很抱歉让您跑了这么多趟，换谁都会着急。")}





@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("kind", ["complaint", "neutral"])
def test_flag_trigger_and_emotion_share_one_notion(lang, kind):
    line = (COMPLAINTS if kind == "complaint" else NEUTRAL)[lang]
    card = _score(lang, [("agent", "hello" if lang == "en" else "您好"), ("customer", line),
                         ASK[lang]])
    flagged = _status(card, "customer_complaint") == "fail"
    triggered = _status(card, "empathy_on_complaint") != "not_applicable"
    assert card.emotion is not None
    intent = bool(card.emotion["complaint_intent"]["detected"])
    assert flagged == triggered == intent == (kind == "complaint")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_empathy_on_the_agents_second_turn_answers_the_complaint(lang):
    # complaint, agent asks, customer answers, agent empathises: 3 utterances after the
    # complaint, the agent's second turn (within_utterances: 2 failed this call).
    card = _score(lang, [("agent", "hello" if lang == "en" else "您好"),
                         ("customer", COMPLAINTS[lang]), ASK[lang], FOLLOW_UP[lang],
                         EMPATHY[lang]])
    assert _status(card, "empathy_on_complaint") == "pass"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_empathy_on_the_agents_third_turn_is_too_late(lang):
    card = _score(lang, [("agent", "hello" if lang == "en" else "您好"),
                         ("customer", COMPLAINTS[lang]), ASK[lang], FOLLOW_UP[lang],
                         ASK[lang], FOLLOW_UP[lang], EMPATHY[lang]])
    assert _status(card, "empathy_on_complaint") == "fail"


def test_zh_apology_phrase_does_not_match_insurance():
    # 抱歉 (bao qian) and 保险 (bao xian) are one syllable apart: with homophone matching the
    # agent's "被保险人" answered a complaint.
    card = _score("zh", [("agent", "您好"), ("customer", COMPLAINTS["zh"]),
                         ("agent", "请报一下被保险人身份证后四位。")])
    assert _status(card, "empathy_on_complaint") == "fail"
