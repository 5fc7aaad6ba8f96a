"""The default rubrics (v5) find abuse worded without a listed insult: mild profanity, and
mockery the caller protests about at once; they leave look-alike words, a caller's protest
about a refusal and a caller swearing at the situation alone."""

from __future__ import annotations

import pytest

from qa_pipeline.pipeline import score_conversation
from tests.helpers import default_rubric as _rubric
from tests.helpers import make_conversation, score_turns

MILD_PROFANITY = {"en": ["for Christ's sake, just listen to me", "bloody hell, not this again",
                         "it's a damn simple form", "what the hell did you click on"],
                  "zh": ["你有病啊，听不懂？", "猪脑子吗你", "你瞎啊，上面写着呢", "卧槽，又是你"]}
LOOK_ALIKES = {"en": ["the dam on the river road is closed", "hello, how can I help",
                      "your parcel may get lost in the post, so we insure it",
                      "the skin prick test is on Monday"],
               "zh": ["您之前有病史吗", "设备有毛病我们免费修", "一共二百五十元",
                      "我靠近一点听得清楚", "这事就靠你了"]}



def _abuse(lang: str, turns: list[tuple[str, str]]) -> tuple[str, str]:
    rows = [[role, 3.0 * i, 3.0 * i + 2.5, text] for i, (role, text) in enumerate(turns)]
    conv = make_conversation(rows, language=lang)
    card = score_conversation(conv, _rubric(lang))
    (item,) = [i for i in card.items if i.result.criterion_id == "abusive_language"]
    return item.result.provisional_status.value, item.result.status.value


@pytest.mark.parametrize("lang,line", [(k, x) for k, v in MILD_PROFANITY.items() for x in v])
def test_mild_profanity_by_the_agent_fails(lang, line):
    opener = "hello" if lang == "en" else "喂"
    assert _abuse(lang, [("customer", opener), ("agent", line)])[0] == "fail"


@pytest.mark.parametrize("lang,line", [(k, x) for k, v in LOOK_ALIKES.items() for x in v])
def test_look_alike_words_pass(lang, line):
    opener = "hello" if lang == "en" else "喂"
    assert _abuse(lang, [("customer", opener), ("agent", line)])[0] == "pass"


MOCKERY = {
    "en": [("customer", "Which button do I press to print?"),
           ("agent", "The one that says print. Shocking, I know."),
           ("customer", "Don't talk down to me like that.")],
    "zh": [("customer", "这个按钮是干什么的？"),
           ("agent", "上面不是写着吗，还用问我。"),
           ("customer", "你这人说话怎么这么冲？")],
}
REFUSAL_PROTEST = {
    "en": [("customer", "I'd like my deposit back."),
           ("agent", "That's not something we do, the deposit is non-refundable."),
           ("customer", "What a rip-off, this is a terrible company.")],
    "zh": [("customer", "押金能退吗？"),
           ("agent", "押金不退，合同里写了。"),
           ("customer", "你们这什么破公司，太黑了。")],
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_mockery_the_caller_protests_fails(lang):
    assert _abuse(lang, MOCKERY[lang])[0] == "fail"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_protest_about_a_refusal_passes(lang):
    assert _abuse(lang, REFUSAL_PROTEST[lang])[0] == "pass"


@pytest.mark.parametrize("lang,line", [("en", "this damn app crashed again, I'm so fed up"),
                                       ("zh", "这破手机又死机了，他妈的烦死了")])
def test_caller_swearing_at_the_situation_passes(lang, line):
    reply = ("I'm sorry about that, let's fix it." if lang == "en"
             else "非常抱歉，我帮您处理。")
    assert _abuse(lang, [("customer", line), ("agent", reply)])[0] == "pass"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_tuned_threshold_of_the_abuse_rule_is_a_valid_rule(lang):
    # `rubric tune` tries each act operand's min_probability at None and on a grid; every
    # variant must stay a valid rule, or the criterion cannot be tuned at all.
    from qa_pipeline.rubric.registry import parse_rule
    from qa_pipeline.rubric.tune import act_sites, with_min_probability

    (criterion,) = [c for _, c in _rubric(lang).criteria() if c.id == "abusive_language"]
    sites = act_sites(criterion.rule)
    assert len(sites) >= 4  # insult, the reaction, its support and its excuse
    for site in sites:
        for value in (None, 0.05, 0.2, 0.45, 0.7, 0.95):
            parse_rule(with_min_probability(criterion.rule, site.path, value))


@pytest.mark.parametrize("line", ["No clue.", "Couldn't tell you."])
def test_a_curt_line_more_refusal_than_insult_is_no_knockout(line):
    # A curt "no idea" is a forbidden phrase (non-fatal), not abuse: the act model reads it
    # as an insult too, but more surely as a refusal, so a human confirms (v7 outranked_by).
    turns = [("agent", "Thanks for calling Harbor Gas, Lee speaking."),
             ("customer", "Is there parking near your office?"),
             ("agent", line), ("customer", "Oh. Okay.")]
    card = score_turns("en", turns)
    (item,) = [i for i in card.items if i.result.criterion_id == "abusive_language"]
    assert item.result.status.value == "needs_review"
    assert item.result.provisional_status.value == "pass"
