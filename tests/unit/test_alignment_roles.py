from __future__ import annotations

from qa_pipeline.alignment.speakers import (
    SpeakerWord,
    assign_words,
    build_utterances,
    clamp_to_regions,
    join_words,
)
from qa_pipeline.diarization.roles import apply_roles, assign_roles_channels, assign_roles_mono
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.types import Role, SpeakerTurn, Word


def W(s, e, t, p=0.9):
    return Word(s, e, t, p)


def test_assign_by_overlap_and_whisper_early_start():
    turns = (SpeakerTurn(0.5, 1.7, "A"), SpeakerTurn(2.1, 3.4, "B"))
    # Whisper stretched the start of B's first word back over the pause (1.46 -> 2.16).
    words = [W(0.5, 0.8, "喂"), W(1.46, 2.16, "喂"), W(2.6, 2.9, "说")]
    got = [sw.speaker for sw in assign_words(words, turns)]
    assert got == ["A", "B", "B"]


def test_far_word_is_unknown():
    turns = (SpeakerTurn(0.0, 1.0, "A"),)
    got = assign_words([W(9.0, 9.5, "x")], turns)
    assert got[0].speaker == "unknown"


def test_utterances_do_not_interleave_on_overlap():
    words = [
        SpeakerWord(W(3.0, 3.3, "Yeah,"), "ch0", 0), SpeakerWord(W(3.3, 3.6, "what"), "ch0", 0),
        SpeakerWord(W(3.5, 3.8, "My"), "ch1", 1), SpeakerWord(W(3.7, 4.0, "do"), "ch0", 0),
        SpeakerWord(W(3.9, 4.3, "refund"), "ch1", 1), SpeakerWord(W(4.1, 4.4, "you"), "ch0", 0),
    ]
    utts = build_utterances(words, "en")
    assert [u.text for u in utts] == ["Yeah, what do you", "My refund"]
    assert [u.index for u in utts] == [0, 1]


def test_gap_splits_utterance():
    words = [SpeakerWord(W(0, 1, "a"), "A"), SpeakerWord(W(3, 4, "b"), "A")]
    assert len(build_utterances(words, "en")) == 2


def test_join_words_by_script():
    assert join_words([W(0, 1, "您好"), W(1, 2, "，"), W(2, 3, "请问")], "zh") == "您好，请问"
    assert join_words([W(0, 1, "Hello"), W(1, 2, ","), W(2, 3, "world")], "en") == "Hello, world"
    assert join_words([W(0, 1, "账单"), W(1, 2, "86"), W(2, 3, "元")], "zh") == "账单86元"
    # Issue 26: the recogniser splits "320" into "3" + "20"; quotes showed "3 20 元".
    assert join_words([W(0, 1, "3"), W(1, 2, "20"), W(2, 3, "元")], "zh") == "320元"
    assert join_words([W(0, 1, "下载"), W(1, 2, "APP"), W(2, 3, "v2")], "zh") == "下载 APP v2"
    assert join_words([W(0, 1, "room"), W(1, 2, "3"), W(2, 3, "20")], "en") == "room 3 20"


def test_clamp_to_regions():
    words = [W(6.8, 11.3, "后"), W(27.0, 28.1, "没有"), W(50.0, 51.0, "far")]
    out = clamp_to_regions(words, [(7.0, 10.5), (25.7, 27.2), (30.7, 32.4)])
    assert (out[0].start_s, out[0].end_s) == (7.0, 10.5)
    assert (out[1].start_s, out[1].end_s) == (27.0, 27.2)
    assert (out[2].start_s, out[2].end_s) == (50.0, 51.0)


def test_clamp_leaves_words_the_vad_missed():
    out = clamp_to_regions([W(19.0, 19.5, "Stupid")], [(19.45, 22.0)])
    assert (out[0].start_s, out[0].end_s) == (19.0, 19.5)


def _utts(rows):
    words = [SpeakerWord(W(s, e, t), spk) for spk, s, e, t in rows]
    return build_utterances(words, "zh")


def test_mono_roles_from_greeting_and_first_speaker():
    tenant = TenantConfig(id="t", greeting_phrases=("很高兴为您服务",))
    utts = _utts([
        ("S0", 0.0, 3.0, "您好很高兴为您服务请问有什么可以帮您"),
        ("S1", 3.5, 6.0, "我想查一下我的账单"),
        ("S0", 6.5, 8.0, "好的请稍等"),
    ])
    roles = assign_roles_mono(utts, tenant)
    assert roles["S0"].role is Role.AGENT and roles["S1"].role is Role.CUSTOMER
    assert roles["S0"].confidence > 0.9


def test_mono_roles_when_customer_speaks_first():
    tenant = TenantConfig(id="t")
    utts = _utts([
        ("S0", 0.0, 1.0, "喂你好"),
        ("S1", 1.5, 4.0, "您好很高兴为您服务请问有什么可以帮您"),
        ("S0", 4.5, 7.0, "我的快递还没到我要投诉"),
    ])
    roles = assign_roles_mono(utts, tenant)
    assert roles["S1"].role is Role.AGENT and roles["S0"].role is Role.CUSTOMER


def test_ambiguous_roles_have_low_confidence():
    utts = _utts([("S0", 0.0, 1.0, "嗯"), ("S1", 1.5, 2.0, "嗯")])
    roles = assign_roles_mono(utts, TenantConfig(id="t"))
    assert roles["S0"].confidence < 0.9


def test_channel_roles_follow_tenant_map():
    roles = assign_roles_channels(["ch0", "ch1"], agent_channel=1)
    assert roles["ch1"].role is Role.AGENT and roles["ch0"].role is Role.CUSTOMER
    utts = apply_roles(_utts([("ch0", 0, 1, "a"), ("unknown", 2, 3, "b")]), roles)
    assert utts[0].role is Role.CUSTOMER and utts[1].role is Role.UNKNOWN
