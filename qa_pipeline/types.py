"""Frozen value objects that flow between stages.

Everything from :class:`Diarization` onward is JSON-serialisable through ``to_dict`` /
``from_dict``; only :class:`LoadedAudio` holds arrays. Times are seconds (``_s`` suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class Role(str, Enum):
    """Who a speaker is in a contact-center call."""

    AGENT = "agent"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LoadedAudio:
    """A decoded, validated recording.

    ``samples`` is float32 ``(channels, time)`` at ``sample_rate_hz`` (the pipeline's working
    rate, 16 kHz); ``source_sample_rate_hz`` and ``source_format`` describe the file as it was.
    ``notes`` record damage found while decoding (see :mod:`qa_pipeline.audio.checks`).
    """

    call_id: str
    path: str
    samples: np.ndarray
    sample_rate_hz: int
    source_sample_rate_hz: int
    source_format: str
    sha256: str
    # What is wrong with the file but did not stop decoding (truncation, a header claiming
    # more audio than the file holds); the front end copies these into the provenance.
    notes: tuple[str, ...] = ()

    @property
    def num_channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return float(self.samples.shape[1]) / self.sample_rate_hz

    def mono(self) -> np.ndarray:
        """Down-mix to one channel (mean of channels), float32."""
        if self.num_channels == 1:
            return np.asarray(self.samples[0], dtype=np.float32)
        return np.asarray(self.samples.mean(axis=0), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One stretch of speech by one speaker (non-overlapping within a diarization)."""

    start_s: float
    end_s: float
    speaker: str
    channel: int | None = None

    @property
    def duration_s(self) -> float:
        """Length of the turn."""
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "speaker": self.speaker,
            "channel": self.channel,
        }


@dataclass(frozen=True, slots=True)
class Diarization:
    """Who spoke when, from one backend."""

    call_id: str
    turns: tuple[SpeakerTurn, ...]
    backend: str
    model_id: str
    duration_s: float

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speaker labels in order of first appearance."""
        seen: dict[str, None] = {}
        for turn in self.turns:
            seen.setdefault(turn.speaker, None)
        return tuple(seen)

    def to_rttm(self, uri: str | None = None) -> str:
        """RTTM text (pyannote convention)."""
        name = uri or self.call_id
        lines = [
            f"SPEAKER {name} 1 {t.start_s:.3f} {t.duration_s:.3f} <NA> <NA> {t.speaker} <NA> <NA>"
            for t in self.turns
        ]
        return "\n".join(lines) + ("\n" if lines else "")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word (en) or token/character group (zh) with its timing."""

    start_s: float
    end_s: float
    text: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
            "probability": round(self.probability, 4),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Word:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data["start_s"]),
            float(data["end_s"]),
            str(data["text"]),
            float(data.get("probability", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """An ASR segment: text with words, as decoded from one stretch of audio."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """ASR output for one audio stream (a whole call, or one channel of it)."""

    call_id: str
    language: str
    language_probability: float
    segments: tuple[Segment, ...]
    backend: str
    model_id: str
    channel: int | None = None
    dropped_segments: int = 0

    @property
    def words(self) -> tuple[Word, ...]:
        """All words in time order."""
        return tuple(w for s in self.segments for w in s.words)


@dataclass(frozen=True, slots=True)
class Utterance:
    """A run of words by one speaker: the unit that rules quote as evidence."""

    index: int
    speaker: str
    role: Role
    role_confidence: float
    start_s: float
    end_s: float
    text: str
    language: str
    words: tuple[Word, ...]
    channel: int | None = None

    @property
    def min_word_probability(self) -> float:
        """Lowest ASR word probability (1.0 when there are no words)."""
        return min((w.probability for w in self.words), default=1.0)

    @property
    def mean_word_probability(self) -> float:
        """Mean ASR word probability (1.0 when there are no words)."""
        if not self.words:
            return 1.0
        return float(sum(w.probability for w in self.words) / len(self.words))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "index": self.index,
            "speaker": self.speaker,
            "role": self.role.value,
            "role_confidence": round(self.role_confidence, 4),
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
            "language": self.language,
            "channel": self.channel,
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Utterance:
        """Inverse of :meth:`to_dict`."""
        return cls(
            index=int(data["index"]),
            speaker=str(data["speaker"]),
            role=Role(data["role"]),
            role_confidence=float(data.get("role_confidence", 1.0)),
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            text=str(data["text"]),
            language=str(data.get("language", "")),
            words=tuple(Word.from_dict(w) for w in data.get("words", [])),
            channel=data.get("channel"),
        )


# A provenance note starting with this records damage found while decoding the recording
# (see qa_pipeline.audio.io); such a call needs review.
DAMAGED_AUDIO_NOTE = "damaged audio: "


@dataclass(frozen=True, slots=True)
class Provenance:
    """How a conversation was produced (recorded for audit)."""

    pipeline_version: str
    diarization_backend: str
    diarization_model_id: str
    asr_backend: str
    asr_model_id: str
    role_method: str
    processing_s: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def damage_notes(self) -> tuple[str, ...]:
        """The notes recording damaged audio (:data:`DAMAGED_AUDIO_NOTE`)."""
        return tuple(n for n in self.notes if n.startswith(DAMAGED_AUDIO_NOTE))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pipeline_version": self.pipeline_version,
            "diarization_backend": self.diarization_backend,
            "diarization_model_id": self.diarization_model_id,
            "asr_backend": self.asr_backend,
            "asr_model_id": self.asr_model_id,
            "role_method": self.role_method,
            "processing_s": {k: round(v, 3) for k, v in self.processing_s.items()},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`."""
        return cls(
            pipeline_version=str(data.get("pipeline_version", "")),
            diarization_backend=str(data.get("diarization_backend", "")),
            diarization_model_id=str(data.get("diarization_model_id", "")),
            asr_backend=str(data.get("asr_backend", "")),
            asr_model_id=str(data.get("asr_model_id", "")),
            role_method=str(data.get("role_method", "")),
            processing_s={str(k): float(v) for k, v in data.get("processing_s", {}).items()},
            notes=tuple(data.get("notes", ())),
        )


CONVERSATION_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Conversation:
    """The canonical hand-off between the speech front end and everything downstream."""

    call_id: str
    tenant_id: str
    duration_s: float
    language: str
    utterances: tuple[Utterance, ...]
    provenance: Provenance
    sha256: str = ""
    source_path: str = ""
    channels: int = 1

    def by_role(self, role: Role) -> tuple[Utterance, ...]:
        """Utterances spoken by ``role``."""
        return tuple(u for u in self.utterances if u.role is role)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``conversation.json`` schema, see docs/conversation.md)."""
        return {
            "schema_version": CONVERSATION_SCHEMA_VERSION,
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "sha256": self.sha256,
            "source_path": self.source_path,
            "channels": self.channels,
            "duration_s": round(self.duration_s, 3),
            "language": self.language,
            "provenance": self.provenance.to_dict(),
            "utterances": [u.to_dict() for u in self.utterances],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            call_id=str(data["call_id"]),
            tenant_id=str(data["tenant_id"]),
            duration_s=float(data["duration_s"]),
            language=str(data.get("language", "")),
            utterances=tuple(Utterance.from_dict(u) for u in data.get("utterances", [])),
            provenance=Provenance.from_dict(data.get("provenance", {})),
            sha256=str(data.get("sha256", "")),
            source_path=str(data.get("source_path", "")),
            channels=int(data.get("channels", 1)),
        )


# --- rubric evaluation ---------------------------------------------------------------------
class Status(str, Enum):
    """Outcome of one rubric criterion."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True, slots=True)
class MatchHit:
    """How a phrase or pattern matched an utterance."""

    pattern: str
    method: str  # exact | fuzzy | pinyin | regex | similarity
    score: float
    matched_text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"pattern": self.pattern, "method": self.method, "score": round(self.score, 4),
                "matched_text": self.matched_text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchHit:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["pattern"]), str(data["method"]), float(data["score"]),
                   str(data["matched_text"]))


@dataclass(frozen=True, slots=True)
class Evidence:
    """A quoted moment of the call that a finding rests on."""

    utterance_index: int
    role: Role
    start_s: float
    end_s: float
    quote: str
    word_probability: float
    role_confidence: float
    match: MatchHit | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "utterance_index": self.utterance_index,
            "role": self.role.value,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "quote": self.quote,
            "word_probability": round(self.word_probability, 4),
            "role_confidence": round(self.role_confidence, 4),
            "match": self.match.to_dict() if self.match else None,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict`."""
        match = data.get("match")
        return cls(int(data["utterance_index"]), Role(data["role"]), float(data["start_s"]),
                   float(data["end_s"]), str(data["quote"]), float(data["word_probability"]),
                   float(data["role_confidence"]),
                   MatchHit.from_dict(match) if match else None, str(data.get("note", "")))


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What a rule decided, and on what.

    ``evidence`` quotes what was found; ``considered`` lists the utterances an absence-based
    decision rests on (a required phrase that is missing has no quote, but its verdict is only
    as good as the transcription of the utterances searched).
    """

    status: Status
    evidence: tuple[Evidence, ...] = ()
    message: str = ""
    considered: tuple[int, ...] = ()
    value: float | None = None
    # Set by a rule that knows its verdict is uncertain (e.g. a judge's answer in its
    # uncertain band): the criterion goes to human review with this reason.
    review_reason: str = ""

