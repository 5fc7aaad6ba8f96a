"""Fatal act evidence that only a fragment of a line carries, and business references.

A mono call's utterance may hold a sentence cut mid-way or the other speaker's words; its
sentences are tagged alone too, and a sentence read out of context can carry an act the line
does not ("don't even worry about it." of a refund offer read as an insult). ``act`` rules
with ``min_context_probability`` and ``before`` rules with
``target_min_context_probability`` read such a fragment again with the words next to it, and
send the verdict to review when the act is gone.
``target_references`` keeps an order or ticket number from counting as an account detail.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qa_pipeline.acts.track import tag_conversation
from qa_pipeline.errors import RubricError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import parse_rule
from qa_pipeline.rubric.rules.act import context_windows
from qa_pipeline.rubric.rules.before import TargetReferences, without_references
from tests.helpers import make_conversation

ACTS = ("insult", "account_disclosure", "verification_request")


class ShortTextModel:
    """A stand-in act model that, like a sentence embedding, reads a cue differently in a
    short text and in a long one: ``cues`` maps a word to (act, the most units a text may
    have and still carry the act); ``always`` words carry their act at any length.
    """

    model_id = "short-text"
    embedder_id = "none"
    acts = ACTS

    def __init__(self, cues: dict[str, tuple[str, int]],
                 always: dict[str, str] | None = None) -> None:
        self.cues = cues
        self.always = always or {}
        self.asked: list[str] = []

    def threshold(self, act: str) -> float:
        return 0.5

    def predict_texts(self, texts: Sequence[str], roles: Sequence[str] | None = None
                      ) -> np.ndarray:
        self.asked += texts
        out = np.full((len(texts), len(ACTS)), 0.05)
        for row, text in zip(out, texts, strict=True):
            low, n = text.lower(), len(text.split()) if text.isascii() else len(text)
            for cue, (act, most) in self.cues.items():
                if cue in low and n <= most:
                    row[ACTS.index(act)] = 0.9
            for cue, act in self.always.items():
                if cue in low:
                    row[ACTS.index(act)] = 0.9
        return out


def _ctx(rows, model: ShortTextModel, language: str = "en") -> EvaluationContext:
    conv = make_conversation(rows, language=language)
    return EvaluationContext(conv, act_track=tag_conversation(conv, model))


INSULT_RULE = {"type": "act", "role": "agent", "mode": "forbid", "acts": ["insult"],
               "min_probability": 0.5}
# "worry about it" reads as an insult in a text of up to seven words only.
FRAGMENT = ShortTextModel({"worry about it": ("insult", 7)}, always={"deaf": "insult"})
OFFER = "Oh, then don't even worry about it. I'm gonna credit you the forty-two dollars today."


@pytest.mark.parametrize("text,part,windows", [
    ("Not with him. No. But she has Thursday at ten. Or Monday at nine with him.",
     "But she has Thursday at ten.",
     # a neighbour shorter than three units ("No.") takes the clause before it too
     ["Not with him. No. But she has Thursday at ten.",
      "But she has Thursday at ten. Or Monday at nine with him."]),
    ("This is a joke. Okay.", "This is a joke.", ["This is a joke. Okay."]),
    # a title's or a time's period ends no clause
    ("But Dr. Menta has Thursday at 10.40, where I can pop you on Dr. Khan's list for Monday.",
     "But Dr. Menta has Thursday at 10.40,",
     ["But Dr. Menta has Thursday at 10.40, where I can pop you on Dr. Khan's list for Monday."]),
    ("我这边不能确定数字，不过可以先给您出一份试算，保单还在",
     "不过可以先给您出一份试算",
     ["我这边不能确定数字，不过可以先给您出一份试算", "不过可以先给您出一份试算，保单还在"]),
    ("one whole line", "one whole line", []),
    ("one whole line", "elsewhere", []),
])
def test_context_windows_read_a_part_with_its_neighbours(text, part, windows):
    assert context_windows(text, part) == windows


def test_an_insult_only_a_fragment_carries_goes_to_review():
    rows = [["agent", 0.0, 4.0, OFFER]]
    plain = parse_rule(INSULT_RULE).evaluate(_ctx(rows, FRAGMENT))
    assert plain.status.value == "fail"  # the sentence alone reads as an insult
    out = parse_rule({**INSULT_RULE, "min_context_probability": 0.5}).evaluate(_ctx(rows, FRAGMENT))
    assert out.status.value == "pass"
    assert "out of context" in out.review_reason
    assert [e.utterance_index for e in out.evidence] == [0]


def test_an_insult_that_holds_with_its_neighbours_still_fails():
    rows = [["agent", 0.0, 4.0, "I told you twice already. Are you deaf? Listen this time."]]
    rule = parse_rule({**INSULT_RULE, "min_context_probability": 0.5})
    out = rule.evaluate(_ctx(rows, FRAGMENT))
    assert out.status.value == "fail" and out.review_reason == ""


def test_an_insult_the_whole_line_carries_is_not_read_again():
    model = ShortTextModel({"worry about it": ("insult", 6)})
    rows = [["agent", 0.0, 2.0, "Don't worry about it."]]
    out = parse_rule({**INSULT_RULE, "min_context_probability": 0.5}).evaluate(_ctx(rows, model))
    assert out.status.value == "fail"
    assert model.asked == ["Don't worry about it."]  # one sentence: no part, no window


def test_one_sure_insult_fails_the_call_beside_a_fragment():
    rows = [["agent", 0.0, 4.0, OFFER], ["customer", 5.0, 6.0, "what?"],
            ["agent", 7.0, 8.0, "are you deaf"]]
    out = parse_rule({**INSULT_RULE, "min_context_probability": 0.5}).evaluate(_ctx(rows, FRAGMENT))
    assert out.status.value == "fail"
    assert [e.utterance_index for e in out.evidence] == [2]


def test_min_context_probability_needs_forbid():
    with pytest.raises((RubricError, ValueError)):
        parse_rule({"type": "act", "role": "agent", "acts": ["insult"],
                    "min_context_probability": 0.5})


BEFORE_RULE = {"type": "before",
               "anchor": {"role": "agent", "acts": ["verification_request"]},
               "target": {"role": "agent", "acts": ["account_disclosure"]}}
# "thursday" reads as a disclosure in a text of up to six words only.
IN_CONTEXT = {**BEFORE_RULE, "target_min_context_probability": 0.5}
SLOT = ShortTextModel({"thursday": ("account_disclosure", 6)})
SLOTS = "Not with him, no. But she has Thursday at ten. Or I can book Monday at nine with him."


def test_a_disclosure_only_a_fragment_carries_decides_nothing():
    rows = [["customer", 0.0, 2.0, "anything this week?"], ["agent", 3.0, 6.0, SLOTS]]
    assert parse_rule(BEFORE_RULE).evaluate(_ctx(rows, SLOT)).status.value == "fail"
    out = parse_rule(IN_CONTEXT).evaluate(_ctx(rows, SLOT))
    assert out.status.value == "pass"
    assert "target #1 account_disclosure only out of context" in out.review_reason


def test_a_later_sure_disclosure_still_decides():
    rows = [["agent", 0.0, 3.0, SLOTS], ["agent", 4.0, 5.0, "Thursday at ten, booked"]]
    out = parse_rule(IN_CONTEXT).evaluate(_ctx(rows, SLOT))
    assert out.status.value == "fail" and out.review_reason == ""
    assert out.evidence[0].utterance_index == 1


REFS = {"cues": ["订单号", "订单", "order number"]}
# A number reads as a disclosure; so do balances.
NUMBERS = ShortTextModel({}, always={"1": "account_disclosure", "一": "account_disclosure",
                                     "balance": "account_disclosure"})


@pytest.mark.parametrize("text", ["订单号是12612701153。", "订单好，12612701153",
                                  "订单号二零二六一二零七", "Your order number is 4 4 1 2 9."])
def test_an_order_number_is_no_account_detail(text):
    language = "en" if text.isascii() else "zh"
    rows = [["agent", 0.0, 3.0, text]]
    rule = {**BEFORE_RULE, "target_references": REFS}
    assert parse_rule(BEFORE_RULE).evaluate(_ctx(rows, NUMBERS, language)).status.value == "fail"
    assert parse_rule(rule).evaluate(_ctx(rows, NUMBERS, language)).status.value \
        == "not_applicable"


def test_an_account_detail_beside_an_order_number_still_counts():
    rows = [["agent", 0.0, 3.0, "Your order number is 44129 and your balance is three hundred."]]
    rule = {**BEFORE_RULE, "target_references": REFS}
    assert parse_rule(rule).evaluate(_ctx(rows, NUMBERS)).status.value == "fail"


def test_a_number_without_a_reference_cue_is_kept():
    refs = TargetReferences(cues=("订单号",))
    assert without_references("您尾号6627的卡", refs) is None
    assert without_references("订单号是12612701153，余额3200元", refs) == "，余额3200元"


class TableModel(ShortTextModel):
    """A stand-in act model that gives listed texts their insult probability (else 0.05)."""

    def __init__(self, insults: dict[str, float]) -> None:
        super().__init__({})
        self.insults = insults

    def predict_texts(self, texts: Sequence[str], roles: Sequence[str] | None = None
                      ) -> np.ndarray:
        out = super().predict_texts(texts, roles)
        for row, text in zip(out, texts, strict=True):
            row[ACTS.index("insult")] = self.insults.get(text, 0.05)
        return out


def test_an_insult_the_whole_line_still_carries_fails_whatever_its_windows():
    text = "Are you a pig? The bottom row. On the page, the last one."
    rule = parse_rule({**INSULT_RULE, "min_context_probability": 0.5})
    # the sentence more surely than the whole line, the line still more likely than not; the
    # sentence read with the next one ("Are you a pig? The bottom row.") less
    model = TableModel({"Are you a pig?": 0.99, text: 0.8})
    out = rule.evaluate(_ctx([["agent", 0.0, 3.0, text]], model))
    assert out.status.value == "fail" and out.review_reason == ""
    weak = TableModel({"Are you a pig?": 0.99, text: 0.3})
    assert rule.evaluate(_ctx([["agent", 0.0, 3.0, text]], weak)).status.value == "pass"


def test_a_phrase_hit_on_the_same_line_is_not_taken_back_by_context():
    rows = [["agent", 0.0, 4.0, "Bloody hell. " + OFFER]]
    rule = {**INSULT_RULE, "min_context_probability": 0.5, "phrases": ["bloody hell"]}
    out = parse_rule(rule).evaluate(_ctx(rows, FRAGMENT))
    assert out.status.value == "fail" and out.review_reason == ""
    unphrased = {**INSULT_RULE, "min_context_probability": 0.5}
    assert parse_rule(unphrased).evaluate(_ctx(rows, FRAGMENT)).status.value == "pass"
    negated = {**rule, "phrases": ["worry about it"], "negations": ["do not", "don't"]}
    assert parse_rule(negated).evaluate(_ctx([["agent", 0.0, 4.0, OFFER]], FRAGMENT)
                                        ).status.value == "pass"


def test_the_context_bar_may_sit_below_the_cut():
    # Sarcasm loses some of its weight in context and still counts above a lower bar.
    text = "It's in the policy you signed. Reading is hard, I get it."
    model = TableModel({"Reading is hard, I get it.": 0.6, text: 0.3})
    rows = [["agent", 0.0, 3.0, text]]
    strict = parse_rule({**INSULT_RULE, "min_context_probability": 0.5})
    assert strict.evaluate(_ctx(rows, model)).status.value == "pass"
    lenient = parse_rule({**INSULT_RULE, "min_context_probability": 0.25})
    assert lenient.evaluate(_ctx(rows, model)).status.value == "fail"
