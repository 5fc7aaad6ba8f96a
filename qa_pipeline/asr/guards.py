"""Guards against Whisper hallucinations (text on silence, noise or music)."""

from __future__ import annotations

import re

import numpy as np

from qa_pipeline.types import Segment

# Phrases Whisper is known to produce on silence or noise (from its subtitle-heavy training
# data). They never belong in a contact-center call, so a segment made only of one is dropped.
KNOWN_HALLUCINATIONS = (
    "thank you for watching",
    "thanks for watching",
    "please subscribe",
    "subtitles by the amara.org community",
    "字幕由amara.org社区提供",
    "字幕由amara.org社區提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "請不吝點贊訂閱轉發打賞支持明鏡與點點欄目",
    "谢谢观看",
    "謝謝觀看",
    "优优独播剧场",
    "中文字幕",
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _squash(text: str) -> str:
    return _PUNCT.sub("", text.lower())


_SQUASHED = tuple(_squash(p) for p in KNOWN_HALLUCINATIONS)


def is_known_hallucination(text: str) -> bool:
    """True when the segment text is (only) a stock hallucinated phrase."""
    squashed = _squash(text)
    return bool(squashed) and any(squashed == p or (p in squashed and len(squashed) <= len(p) + 4)
                                  for p in _SQUASHED)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for all zeros)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def drop_reason(
    segment: Segment,
    samples_16k: np.ndarray,
    *,
    no_speech_threshold: float,
    log_prob_threshold: float,
    compression_ratio_threshold: float,
    min_rms_dbfs: float,
) -> str | None:
    """Why a segment should be dropped, or None to keep it."""
    if not segment.text.strip() or not segment.words:
        return "empty"
    if is_known_hallucination(segment.text):
        return "known_hallucination"
    if segment.no_speech_prob > no_speech_threshold and segment.avg_logprob < log_prob_threshold:
        return "no_speech"
    if segment.compression_ratio > compression_ratio_threshold:
        return "repetitive"
    start = max(0, int(segment.start_s * 16000))
    end = min(samples_16k.shape[0], int(segment.end_s * 16000))
    if end > start and rms_dbfs(samples_16k[start:end]) < min_rms_dbfs:
        return "silent_audio"
    return None
