"""Conversation serialisation and export formats."""

from qa_pipeline.conversation.export import (
    read_conversation,
    to_rttm,
    to_srt,
    to_vtt,
    write_conversation,
)

__all__ = ["read_conversation", "to_rttm", "to_srt", "to_vtt", "write_conversation"]
