"""PII / PCI detection and redaction for zh and en transcripts (written and spoken digits)."""

from qa_pipeline.privacy.detect import KINDS, PiiSpan, cn_id_ok, detect, luhn_ok
from qa_pipeline.privacy.digits import DigitRun, digit_runs
from qa_pipeline.privacy.redact import (
    RedactedSpan,
    placeholder,
    redact_audio,
    redact_conversation,
    redact_scorecard,
    redact_text,
)

__all__ = ["KINDS", "DigitRun", "PiiSpan", "RedactedSpan", "cn_id_ok", "detect", "digit_runs",
           "luhn_ok", "placeholder", "redact_audio", "redact_conversation", "redact_scorecard",
           "redact_text"]
