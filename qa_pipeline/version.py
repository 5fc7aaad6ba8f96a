"""Single source of the pipeline version (recorded in every conversation and scorecard)."""

__version__ = "0.1.0"
