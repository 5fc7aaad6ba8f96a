"""Word-to-speaker assignment and utterance building."""

from qa_pipeline.alignment.speakers import AlignmentOptions, assign_words, build_utterances

__all__ = ["AlignmentOptions", "assign_words", "build_utterances"]
