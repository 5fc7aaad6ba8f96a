"""The default rubrics' abuse criterion fails an agent who swears, whatever the act model
says, and does not fire on words that merely look like swear words."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_pipeline.pipeline import score_conversation
from qa_pipeline.rubric.loader import load_rubric
from tests.helpers import make_conversation

RUBRICS = Path(__file__).resolve().parents[2] / "rubrics"

SWEARING = {"en": ["what the fuck is wrong with you", "piss off, I'm busy",
                   "screw you, I'm not doing that", "that's a load of crap"],
            "zh": ["你他妈的能不能听清楚", "滚蛋，别烦我", "放屁，我们从来没扣过", "关我屁事"]}
LOOK_ALIKES = {"en": ["I'll pass that to the class team", "the shipment is in Essex",
                      "the crab delivery is late", "the shift manager will call"],
               "zh": ["去死皮的服务在二楼", "废物回收在周三", "这个傻瓜相机型号停产了",
                      "您妈妈的手机号是多少"]}


def _abuse_status(lang: str, agent_line: str) -> str:
    conv = make_conversation([["customer", 0, 2, "hello" if lang == "en" else "喂"],
                              ["agent", 2, 5, agent_line]], language=lang)
    rubric = load_rubric(RUBRICS / f"customer_service_{lang}.yaml")
    card = score_conversation(conv, rubric)
    (item,) = [i for i in card.items if i.result.criterion_id == "abusive_language"]
    return item.result.provisional_status.value


@pytest.mark.parametrize("lang,line", [(k, x) for k, v in SWEARING.items() for x in v])
def test_swearing_at_the_caller_fails(lang, line):
    assert _abuse_status(lang, line) == "fail"


@pytest.mark.parametrize("lang,line", [(k, x) for k, v in LOOK_ALIKES.items() for x in v])
def test_look_alike_words_pass(lang, line):
    assert _abuse_status(lang, line) == "pass"
