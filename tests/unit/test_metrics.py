from __future__ import annotations

import pytest

from qa_pipeline.conversation.metrics import compute_metrics
from tests.helpers import make_conversation


def test_talk_time_ratio_and_silence():
    conv = make_conversation([
        ["agent", 0.0, 4.0, "hello how can I help"],
        ["customer", 5.0, 7.0, "my order"],
        ["agent", 9.0, 13.0, "let me look at that"],
    ], duration_s=15.0)
    m = compute_metrics(conv).values
    assert m["talk_time_agent_s"] == pytest.approx(8.0)
    assert m["talk_time_customer_s"] == pytest.approx(2.0)
    assert m["talk_ratio_agent"] == pytest.approx(0.8)
    assert m["silence_total_s"] == pytest.approx(3.0)
    assert m["longest_silence_s"] == pytest.approx(2.0)
    assert m["dead_air_count"] == 0
    assert m["response_latency_mean_s"] == pytest.approx(2.0)
    assert m["duration_s"] == 15.0


def test_announced_hold_vs_dead_air():
    conv = make_conversation([
        ["agent", 0.0, 2.0, "请稍等，我帮您查一下"],
        ["agent", 32.0, 34.0, "让您久等了"],
        ["customer", 34.5, 36.0, "好的"],
        ["agent", 46.0, 48.0, "嗯，找到了"],
    ])
    result = compute_metrics(conv)
    m = result.values
    assert m["hold_count"] == 1 and m["longest_hold_s"] == pytest.approx(30.0)
    assert m["dead_air_count"] == 1 and m["longest_dead_air_s"] == pytest.approx(10.0)
    assert [(s.start_s, s.end_s) for s in result.spans["dead_air_count"]] == [(36.0, 46.0)]


def test_overtalk_and_interruptions():
    conv = make_conversation([
        ["customer", 0.0, 6.0, "my parcel never arrived and nobody called me back"],
        ["agent", 4.0, 8.0, "your account shows delivery yesterday"],   # agent interrupts
        ["customer", 7.5, 7.9, "what"],                                  # backchannel overlap
        ["agent", 10.0, 12.0, "let me check"],
        ["customer", 11.0, 14.0, "no wait I want a refund now"],         # customer interrupts
    ])
    m = compute_metrics(conv).values
    assert m["overtalk_count"] == 3
    assert m["overtalk_total_s"] == pytest.approx(2.0 + 0.4 + 1.0)
    assert m["overtalk_started_by_agent"] == 1
    assert m["overtalk_started_by_customer"] == 2
    assert m["interruptions_agent"] == 1
    assert m["interruptions_customer"] == 1


def test_overlap_is_undefined_for_exclusive_diarization():
    from dataclasses import replace

    conv = make_conversation([
        ["customer", 0.0, 6.0, "my parcel never arrived and nobody called me back"],
        ["agent", 4.0, 8.0, "your account shows delivery yesterday"],
    ])
    mono = replace(conv, provenance=replace(conv.provenance, diarization_backend="offline"))
    m = compute_metrics(mono).values
    assert m["interruptions_agent"] is None and m["overtalk_total_s"] is None
    assert compute_metrics(conv).values["interruptions_agent"] == 1


def test_speech_rate_units():
    conv = make_conversation([
        ["agent", 0.0, 6.0, "您好很高兴为您服务"],      # 9 characters in 6 s -> 90/min
        ["customer", 6.0, 9.0, "I want a refund now"],  # 5 words in 3 s -> 100/min
    ])
    m = compute_metrics(conv).values
    assert m["speech_rate_agent"] == pytest.approx(90.0)
    assert m["speech_rate_customer"] == pytest.approx(100.0)


def test_undefined_metrics_are_none():
    conv = make_conversation([["customer", 0.0, 2.0, "hello"]])
    m = compute_metrics(conv).values
    assert m["speech_rate_agent"] is None
    assert m["talk_ratio_agent"] == 0.0
    assert m["response_latency_mean_s"] is None


@pytest.mark.parametrize("text,units", [
    ("您好 I'm fine, thanks 2", 6),  # 2 Chinese characters, 4 words ("I'm" is one)
    ("", 0),
    ("，。！", 0),  # punctuation counts for nothing
    ("订单123已发货", 6),  # digits form one word between characters
    ("\u3400\u9fff\u33ff\ua000", 2),  # the CJK range's first and last character only
    ("don't stop", 2),
])
def test_speech_units_count_chinese_characters_and_words(text, units):
    from qa_pipeline.conversation.metrics import speech_units

    assert speech_units(text) == units
