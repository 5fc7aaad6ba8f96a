"""Per-tenant settings: channel map, languages, vocabulary, model choices, rubric.

Each tenant is one YAML file ``<tenant_id>.yaml``: the package ships defaults, and a site's
config directory (``<config>/tenants/``, see :mod:`qa_pipeline.settings`) adds tenants or
replaces a default one of the same id. A tenant's files never mix with another's: everything
the pipeline writes lives under a tenant-scoped path.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa_pipeline.errors import ConfigError, UnknownTenantError
from qa_pipeline.judge.registry import JudgeConfig
from qa_pipeline.rubric.schema import RubricAct
from qa_pipeline.settings import default_path, site_tenants_dir

if TYPE_CHECKING:
    from qa_pipeline.acts import TenantActExamples

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AsrSettings(BaseModel):
    """Tenant-level ASR choices (mirrors :class:`qa_pipeline.asr.AsrOptions`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str = "faster_whisper"
    model: str = "base"
    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = Field(1, ge=1, le=10)
    batch_size: int = Field(1, ge=1, le=64)


class DiarizationSettings(BaseModel):
    """Tenant-level diarization choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mono_backend: str = "offline"
    num_speakers: int | None = 2
    min_speakers: int | None = None
    max_speakers: int | None = None
    pyannote_model: str = "pyannote/speaker-diarization-community-1"


class SentimentSettings(BaseModel):
    """Tenant-level sentiment choices (mirrors :class:`qa_pipeline.sentiment.SentimentOptions`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = "embedded"
    model: str | None = None
    device: str = "auto"
    batch_size: int = Field(32, ge=1, le=1024)
    label_map: dict[str, Literal["negative", "neutral", "positive"]] = Field(
        default_factory=dict)


class PrivacySettings(BaseModel):
    """Tenant-level privacy policy.

    ``redact_before_storage``: personal data found by :mod:`qa_pipeline.privacy` is removed
    from the conversation as soon as the front end produces it, so nothing persisted (the
    front-end cache, the store, output files) ever holds it, and rules evaluate the redacted
    text. ``encrypt_and_redact_on_display``: transcripts and scorecard documents are stored
    encrypted with the tenant's key (front-end cache and store; see
    :mod:`qa_pipeline.privacy.vault`), rules evaluate the full text in memory, and everything
    shown to people (the review app, case packs, output files) is redacted. ``none``:
    transcripts are kept as recognised. Retention deletes a tenant's calls
    (rows, cached transcripts, staged audio, output files) older than the given days.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["none", "redact_before_storage", "encrypt_and_redact_on_display"] = "none"
    kinds: tuple[Literal["phone", "cn_id", "bank_card", "email", "long_number"], ...] = (
        "phone", "cn_id", "bank_card", "email", "long_number")
    retention_days: int | None = Field(None, ge=1)


class TenantConfig(BaseModel):
    """Everything the pipeline needs to know about one tenant (client company)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str = ""
    languages: tuple[str, ...] = ("zh", "en")
    # auto: stereo files use the channel map, mono files are diarized. stereo/mono: files of
    # the other layout are rejected (ChannelLayoutError) because the recorder is known.
    channel_layout: Literal["auto", "stereo", "mono"] = "auto"
    agent_channel: Literal["left", "right"] = "left"
    company_names: tuple[str, ...] = ()
    greeting_phrases: tuple[str, ...] = ()
    hotwords: tuple[str, ...] = ()
    initial_prompt: str | None = None
    max_duration_s: float = 4 * 3600.0
    # A truncated recording, or one whose header claims more audio than the file holds:
    # review (scored from what is there, with a provenance note, and sent to review) or
    # quarantine (refused with reason "damaged").
    damaged_audio: Literal["review", "quarantine"] = "review"
    asr: AsrSettings = AsrSettings()
    diarization: DiarizationSettings = DiarizationSettings()
    # Rubric per language (absolute, or relative to the config directory / the defaults).
    rubrics: dict[str, str] = Field(default_factory=dict)
    sentiment: SentimentSettings = SentimentSettings()
    # LLM judges for `question` criteria, by the name a criterion's `backend` gives
    # (docs/deployment.md, "Evaluation questions on GPU nodes").
    judges: dict[str, JudgeConfig] = Field(default_factory=dict)
    # Call-reason taxonomy (absolute, or relative to the config directory / the defaults;
    # null: no classification) and complaint phrases added to the built-in ones.
    call_reasons: str | None = "rubrics/call_reasons/default.yaml"
    complaint_cues: tuple[str, ...] = ()
    # The tenant's own dialogue acts, by id (few-shot: example sentences): every rubric of
    # the tenant may name them, like the built-in acts (see tenant_act_examples).
    acts: dict[str, RubricAct] = Field(default_factory=dict)
    privacy: PrivacySettings = PrivacySettings()
    # IANA time zone of the center: the review app shows every time in it.
    timezone: str = "Asia/Shanghai"

    @field_validator("acts")
    @classmethod
    def _new_act_ids(cls, value: dict[str, RubricAct]) -> dict[str, RubricAct]:
        from qa_pipeline.acts import ACTS

        for act_id in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", act_id):
                raise ValueError(f"act id {act_id!r} must be lowercase letters, digits and _")
            if act_id in ACTS and not value[act_id].refit:
                raise ValueError(f"act {act_id!r} is built in; give the tenant's act another id "
                                 "(or set refit: true to refit the built-in act's head)")
            if value[act_id].refit and act_id not in ACTS:
                raise ValueError(f"act {act_id!r} has refit: true but is not a built-in act; "
                                 f"built-in acts: {', '.join(ACTS)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Asia/Shanghai)") from None
        return value

    @property
    def agent_channel_index(self) -> int:
        """0 for left, 1 for right."""
        return 0 if self.agent_channel == "left" else 1

    @property
    def expected_channels(self) -> int | None:
        """Channel count the recorder writes, when known."""
        return {"stereo": 2, "mono": 1}.get(self.channel_layout)


def tenants_dirs() -> tuple[Path, ...]:
    """Folders of tenant files, highest priority first: the site's, then the defaults."""
    site = site_tenants_dir()
    return ((site,) if site is not None else ()) + (default_path("tenants"),)


def validate_tenant_id(tenant_id: str) -> str:
    """Tenant ids become path components: only lowercase letters, digits, ``-`` and ``_``."""
    if not _TENANT_ID.match(tenant_id):
        raise ConfigError(
            f"invalid tenant id {tenant_id!r}: use 1-64 lowercase letters, digits, '-' or '_'"
        )
    return tenant_id


def known_tenants(directory: Path | None = None) -> list[str]:
    """Tenant ids with a config file (in ``directory``, or in the site's and default folders)."""
    dirs = (directory,) if directory is not None else tenants_dirs()
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


# A tenant file is a page of settings; anything larger is not one.
MAX_TENANT_BYTES = 1_000_000


def load_tenant_file(path: str | os.PathLike[str]) -> TenantConfig:
    """Parse and validate one tenant file.

    Tenant files are edited by site operators and tenants' admins, so they are read with the
    rubric loader's safe YAML (:func:`~qa_pipeline.rubric.loader.compose_untrusted_yaml`):
    anchors, aliases, duplicate keys and non-core tags are refused with ``file:line``.

    Raises:
        ConfigError: the file cannot be read, is not safe YAML or is not a valid tenant
            config (``file:line (key.path): problem`` where the line is known).
    """
    from qa_pipeline.rubric.loader import compose_untrusted_yaml, where

    p = Path(path)
    try:
        if p.stat().st_size > MAX_TENANT_BYTES:
            raise ConfigError(f"{p}: tenant config is larger than {MAX_TENANT_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read tenant config: {e}") from e
    raw, lines = compose_untrusted_yaml(text, str(p), error=ConfigError, what="tenant config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}:1: tenant config must be a mapping")
    try:
        cfg = TenantConfig.model_validate(raw)
    except ValidationError as e:
        problems = "\n".join(f"{where(str(p), lines, tuple(err['loc']))}: {err['msg']}"
                             for err in e.errors())
        raise ConfigError(f"invalid tenant config:\n{problems}") from e
    validate_tenant_id(cfg.id)
    return cfg


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> TenantConfig:
    return load_tenant_file(path)


def tenant_file(tenant_id: str, directory: Path | None = None) -> Path:
    """The file that defines a tenant: ``directory``'s, else the site's, else the default.

    Raises:
        UnknownTenantError: no such tenant (the message lists the known ones).
    """
    validate_tenant_id(tenant_id)
    dirs = (directory,) if directory is not None else tenants_dirs()
    for d in dirs:
        path = d / f"{tenant_id}.yaml"
        if path.is_file():
            return path
    raise UnknownTenantError(
        f"unknown tenant {tenant_id!r}; known tenants: "
        f"{', '.join(known_tenants(directory)) or 'none'}"
        f" (config files in {', '.join(str(d) for d in dirs)})"
    )


def load_tenant(tenant_id: str, directory: Path | None = None) -> TenantConfig:
    """Load a tenant: ``<directory>/<tenant_id>.yaml`` when ``directory`` is given, else the
    site's file (config directory) or the shipped default.

    Raises:
        UnknownTenantError: no such tenant (the message lists the known ones).
    """
    path = tenant_file(tenant_id, directory)
    cfg = _load_cached(str(path), path.stat().st_mtime_ns)
    if cfg.id != tenant_id:
        raise ConfigError(f"{path}: file declares id {cfg.id!r}, expected {tenant_id!r}")
    return cfg


def configured_tenant_acts(directory: Path | None = None) -> list[str]:
    """The act ids that the configured tenants define (the union; a tenant file that does
    not load contributes none: loading it reports its own error where it is used).
    """
    ids: set[str] = set()
    for tenant_id in known_tenants(directory):
        try:
            ids.update(act_id for act_id, act in load_tenant(tenant_id, directory).acts.items()
                       if not act.refit)
        except ConfigError:
            continue
    return sorted(ids)


def tenant_act_examples(tenant: TenantConfig) -> dict[str, TenantActExamples]:
    """The tenant's own acts (its YAML's ``acts:`` section) as few-shot definitions for
    :meth:`qa_pipeline.acts.ActModel.with_tenant_acts`, which fits them and caches the heads
    by content hash. Every rubric of the tenant may name these acts in its rules.
    """
    return {act_id: a.few_shot() for act_id, a in sorted(tenant.acts.items())}
