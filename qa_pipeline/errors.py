"""Domain exception hierarchy.

User errors (bad configuration, bad rubric), data errors (bad audio) and internal stage
failures are separate branches so callers can quarantine bad inputs while letting bugs surface.
"""

from __future__ import annotations

from collections.abc import Iterable


class QAPipelineError(Exception):
    """Base class for every error raised by qa_pipeline."""


# --- input audio -------------------------------------------------------------------------
class AudioError(QAPipelineError):
    """An input recording cannot be used. Subclasses say why; ``path`` names the file."""

    reason = "bad_audio"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class AudioDecodeError(AudioError):
    """The file is unreadable, truncated or not audio at all."""

    reason = "corrupt"


class DamagedAudioError(AudioDecodeError):
    """The file is truncated, or its header claims more audio than it holds, and the
    tenant's policy (``damaged_audio: quarantine``) refuses such files.
    """

    reason = "damaged"


class EmptyAudioError(AudioError):
    """The file holds no samples (zero bytes or zero frames)."""

    reason = "empty"


class AudioTooShortError(AudioError):
    """The recording is shorter than the configured minimum."""

    reason = "too_short"


class AudioTooLongError(AudioError):
    """The recording is longer than the configured maximum."""

    reason = "too_long"


class SilentAudioError(AudioError):
    """The recording is digital silence: nothing to transcribe."""

    reason = "silent"


class UnsupportedSampleRateError(AudioError):
    """The sample rate is outside the supported 8-48 kHz range."""

    reason = "sample_rate"


class ChannelLayoutError(AudioError):
    """The channel count contradicts the tenant's channel map."""

    reason = "channel_layout"


# --- configuration and backends ------------------------------------------------------------
class ConfigError(QAPipelineError):
    """A user-supplied configuration value is invalid."""


class UnknownTenantError(ConfigError):
    """No configuration exists for the requested tenant."""


class UnknownBackendError(ConfigError):
    """A backend name is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        names = ", ".join(sorted(valid))
        super().__init__(f"unknown {kind} backend {name!r}; expected one of: {names}")
        self.kind = kind
        self.name = name


class BackendUnavailableError(QAPipelineError):
    """A backend's optional dependency or hardware is missing."""


class ModelUnavailableError(QAPipelineError):
    """Model weights cannot be obtained (offline and not cached, or unknown name)."""


class ModelIntegrityError(ModelUnavailableError):
    """Model weights failed their sha256 check."""


# --- rubrics -----------------------------------------------------------------------------------
class RubricError(QAPipelineError):
    """A rubric cannot be loaded or evaluated."""


class RubricValidationError(RubricError):
    """The user's rubric YAML is wrong; the message names file and line when known."""


# --- stages ------------------------------------------------------------------------------------
class StageError(QAPipelineError):
    """An internal failure in one pipeline stage for one call."""

    def __init__(self, stage: str, call_id: str | None, message: str) -> None:
        super().__init__(f"[{stage}] {call_id or '?'}: {message}")
        self.stage = stage
        self.call_id = call_id


# --- storage and sources -------------------------------------------------------------------
class StoreError(QAPipelineError):
    """The database cannot be opened, migrated or written."""


class SchemaOutdatedError(StoreError):
    """The database's schema is older than this version needs (``qa-pipeline db upgrade``)."""


class TenantScopeError(StoreError):
    """A query or write would touch tenant-owned rows without (or outside) its tenant scope."""


class NotFoundError(StoreError):
    """No row of this tenant has that key (another tenant's rows are never visible)."""


class SourceError(QAPipelineError):
    """Recordings cannot be listed or fetched from a source (folder, bucket, manifest)."""


class OutsideInputError(SourceError):
    """A file found in an input folder links to a place outside that folder."""

    reason = "outside_input"


# --- review app ----------------------------------------------------------------------------
class ReviewError(QAPipelineError):
    """A review, dispute, tag or user operation was refused (the message says why)."""


class ReviewConflictError(ReviewError):
    """The change conflicts with the current state (already disputed, already decided,
    already exists).
    """


class AuthenticationError(ReviewError):
    """Wrong user name or password, or a disabled user."""


class PermissionDeniedError(ReviewError):
    """The user's role may not do this."""
