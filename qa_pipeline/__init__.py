"""callqa: automated quality assurance for contact-center calls (zh + en).

Public API: decode a recording, turn it into a role-labelled :class:`Conversation`, and
score it against a rubric into a :class:`Scorecard`.
"""

from qa_pipeline.asr.base import AsrOptions, Transcriber
from qa_pipeline.audio.io import AudioOptions, load_audio
from qa_pipeline.diarization.base import DiarizationOptions, Diarizer
from qa_pipeline.errors import QAPipelineError
from qa_pipeline.frontend import FrontEnd
from qa_pipeline.pipeline import rubric_for, score_conversation
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.scorecard.card import Scorecard
from qa_pipeline.tenants import TenantConfig, load_tenant
from qa_pipeline.types import Conversation, Role, Utterance, Word
from qa_pipeline.version import __version__

__all__ = [
    "AsrOptions", "AudioOptions", "Conversation", "DiarizationOptions", "Diarizer", "FrontEnd",
    "QAPipelineError", "Role", "Scorecard", "TenantConfig", "Transcriber", "Utterance", "Word",
    "__version__", "load_audio", "load_rubric", "load_tenant", "rubric_for", "score_conversation",
]
