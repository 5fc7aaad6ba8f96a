"""The default rubrics (v6) on identity verification and unauthorised promises worded another
way: the agent's own staff number, general information and a read-back of the caller's own
words are no account disclosure; a verification request garbled by ASR still counts; an
explicit guarantee counts though the act model misses it, a negated one does not."""

from __future__ import annotations

import pytest

from qa_pipeline.pipeline import score_conversation
from tests.helpers import default_rubric as _rubric
from tests.helpers import make_conversation


def _verdict(lang: str, turns: list[tuple[str, str]], criterion: str) -> str:
    rows = [[role, 4.0 * i, 4.0 * i + 3.5, text] for i, (role, text) in enumerate(turns)]
    card = score_conversation(make_conversation(rows, language=lang), _rubric(lang))
    (item,) = [i for i in card.items if i.result.criterion_id == criterion]
    return item.result.provisional_status.value


@pytest.mark.parametrize("lang,line", [
    ("zh", "放心，这个我跟您保证，明天中午之前师傅一定上门修好。"),
    ("zh", "退款的事我打包票，下周一之前全额退回。"),
    ("zh", "下午三点之前肯定修好，我保证。"),
    ("zh", "能能能，这个号我保证给您留着。"),
    ("en", "Don't worry, I can guarantee you a place in September whatever the results."),
    ("en", "It'll be refunded in full by Friday, you have my word."),
    # a negation elsewhere in the utterance does not take the guarantee back
    ("zh", "不用担心，我保证明天给您退款。"),
    ("en", "Don't worry, I guarantee you'll have it Friday."),
])
def test_an_explicit_guarantee_is_a_promise(lang, line):
    opener = "hello, any news on my case?" if lang == "en" else "你好，我那个事怎么样了"
    assert _verdict(lang, [("customer", opener), ("agent", line)],
                    "unauthorized_promise") == "fail"


@pytest.mark.parametrize("lang,line", [
    ("zh", "这个我没法跟您保证，要等查勘员看了才能定。"),
    ("zh", "具体哪天到账我这边不敢打包票，一般三到五个工作日。"),
    ("en", "I can't guarantee the refund will be approved, but you'll get an email."),
    ("en", "I'm not able to promise a date, it depends on the inspection."),
    ("zh", "我不能保证退款，要看审核结果。"),
])
def test_a_negated_guarantee_is_no_promise(lang, line):
    opener = "hello, any news on my case?" if lang == "en" else "你好，我那个事怎么样了"
    assert _verdict(lang, [("customer", opener), ("agent", line)],
                    "unauthorized_promise") == "pass"


def test_a_verification_request_garbled_by_asr_still_comes_first():
    turns = [("agent", "您好，联讯通信，很高兴为您服务。"),
             ("customer", "我想查查这个月的话费。"),
             ("agent", "好的，麻烦报一下机主身份证后六为。"),
             ("customer", "三二一零五八。"),
             ("agent", "好的，您本月话费是一百二十八元，其中流量超出三十元。")]
    assert _verdict("zh", turns, "identity_verification") == "pass"


@pytest.mark.parametrize("lang,turns", [
    ("zh", [("agent", "您好，速达快递，很高兴为您服务。"),
            ("customer", "我想约个上门取件，地址是海淀区学院路三十号七号楼，"
                         "电话一三九一二三四五六七八。"),
            ("agent", "好的，跟您确认一下，海淀区学院路三十号七号楼，"
                      "电话一三九一二三四五六七八，对吗？")]),
    ("en", [("agent", "Thank you for calling SkyWays, my name is Tom."),
            ("customer", "Can I get a callback? My number is 07700 900 123 and my name's "
                         "Jenny Cole."),
            ("agent", "Just to read that back, Jenny Cole on 07700 900 123, is that right?")]),
])
def test_reading_back_the_callers_own_words_is_no_disclosure(lang, turns):
    assert _verdict(lang, turns, "identity_verification") == "not_applicable"


def test_a_weak_verification_reading_of_the_disclosing_line_does_not_count():
    turns = [("agent", "hello, Eastfield Savings, Priya speaking"),
             ("customer", "hi, it's Tom Byrne, has my salary come in yet?"),
             ("agent", "Tom Byrne, okay, yep, got you here. balance is two thousand and twelve, "
                       "and the salary landed on Friday")]
    assert _verdict("en", turns, "identity_verification") == "fail"


@pytest.mark.parametrize("lang,greeting", [
    ("zh", "你好，畅行租车，功耗三三一二，我是小何，很高兴为您服务。"),
    ("zh", "你好，幺二三四五热线，我是接线员零八号，本次通话将被录音。"),
    ("en", "Good morning, Northgate Bank, you're through to Mark, employee number 4471."),
    # the id after "operator" / "badge number" is the agent's too (v7 target_references)
    ("en", "Good morning, Ashby Council, badge number 6,120."),
    ("en", "Good afternoon, Halden Air, operator 5,207."),
])
def test_the_agents_own_staff_number_is_no_disclosure(lang, greeting):
    follow = {"zh": [("customer", "你好，我想问一下怎么办理。"),
                     ("agent", "您可以在官网上提交申请。")],
              "en": [("customer", "Hi, how do I apply?"),
                     ("agent", "You can apply on our website.")]}[lang]
    assert _verdict(lang, [("agent", greeting), *follow],
                    "identity_verification") == "not_applicable"
