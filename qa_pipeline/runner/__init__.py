"""Batch runs over many recordings and tenants: sources, stage-batched processing,
content-keyed caching, cost metering. Orchestrators (``flows/``) drive the same pieces.
"""

from qa_pipeline.runner.cache import CachedFrontEnd, FrontEndCache
from qa_pipeline.runner.costs import Meter
from qa_pipeline.runner.keys import config_key, frontend_key
from qa_pipeline.runner.run import (
    BatchRunner,
    CallFailure,
    CallResult,
    Plan,
    PlannedCall,
    RunOptions,
    RunReport,
    ScoredCall,
    SkippedCall,
    TranscribedCall,
    admit,
    release_stage_models,
)
from qa_pipeline.runner.sources import CallSource, fetch, list_sources

__all__ = [
    "BatchRunner", "CachedFrontEnd", "CallFailure", "CallResult", "CallSource", "FrontEndCache",
    "Meter", "Plan", "PlannedCall", "RunOptions", "RunReport", "ScoredCall", "SkippedCall",
    "TranscribedCall", "admit", "config_key", "fetch", "frontend_key", "list_sources",
    "release_stage_models",
]
