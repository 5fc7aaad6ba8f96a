"""Configuration fingerprints: what a front-end result and a scorecard depend on.

``frontend_key`` covers everything that changes a conversation (pipeline version, ASR and
diarization settings, the code defaults of ASR and VAD options, channel map, role cues);
``config_key`` adds what changes a scorecard (rubric refs, sentiment and call-reason
settings). A call is skipped as done when it was scored with the same audio sha256 and the
same ``config_key``; a new rubric version changes ``config_key`` but not ``frontend_key``, so
it re-scores without ASR.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from qa_pipeline.asr.base import AsrOptions
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.vad import VadOptions
from qa_pipeline.version import __version__

_SCORING_FIELDS = frozenset({"rubrics", "sentiment", "call_reasons", "complaint_cues", "judges",
                             "name"})


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def frontend_key(tenant: TenantConfig, *, asr_model: str | None = None,
                 diarizer: str | None = None) -> str:
    """Fingerprint of the front-end configuration for one tenant."""
    config = {k: v for k, v in tenant.model_dump(mode="json").items()
              if k not in _SCORING_FIELDS}
    # Defaults a tenant file does not set still change transcripts (e.g. the ASR VAD
    # threshold): a cached conversation made under other defaults must not be reused.
    defaults = {"asr": dataclasses.asdict(AsrOptions()), "vad": dataclasses.asdict(VadOptions())}
    return _digest({"pipeline": __version__, "tenant": config, "asr_model": asr_model,
                    "diarizer": diarizer, "defaults": defaults})


def config_key(tenant: TenantConfig, frontend: str, *, rubric_refs: list[str],
               sentiment: str | None = None, taxonomy_ref: str | None = None) -> str:
    """Fingerprint of the whole pipeline configuration behind a scorecard."""
    scoring = {k: v for k, v in tenant.model_dump(mode="json").items()
               if k in _SCORING_FIELDS and k != "name"}
    return _digest({"frontend": frontend, "scoring": scoring, "rubrics": sorted(rubric_refs),
                    "sentiment": sentiment, "taxonomy": taxonomy_ref})
