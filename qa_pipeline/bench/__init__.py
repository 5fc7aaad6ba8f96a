"""Evaluation harness: accuracy, speed and cost on any labelled call set.

``qa-pipeline bench MANIFEST...`` wraps :func:`run_bench`; the metric functions are public
so other benchmarks and notebooks score the same way.
"""

from qa_pipeline.bench.harness import BenchOptions, release_all_models, run_bench
from qa_pipeline.bench.metrics import (
    BinaryCounts,
    DiarizationScore,
    ErrorCounts,
    RoleScore,
    diarization_error,
    edit_counts,
    error_free_share,
    error_rate,
    macro_f1,
    role_accuracy,
    score_units,
)
from qa_pipeline.bench.report import markdown_report
from qa_pipeline.bench.suite import (
    AsrCase,
    BenchSuite,
    CallCase,
    SentimentCase,
    load_suite,
    read_rttm,
    read_uem,
)

__all__ = [
    "AsrCase", "BenchOptions", "BenchSuite", "BinaryCounts", "CallCase", "DiarizationScore",
    "ErrorCounts", "RoleScore", "SentimentCase", "diarization_error", "edit_counts",
    "error_free_share", "error_rate", "load_suite", "macro_f1", "markdown_report",
    "read_rttm", "read_uem", "release_all_models", "role_accuracy", "run_bench", "score_units",
]
