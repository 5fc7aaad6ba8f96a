"""Scorecards: scoring, rendering and KPI roll-ups."""

from qa_pipeline.scorecard.card import Scorecard, build_scorecard
from qa_pipeline.scorecard.kpi import call_reason_counts, kpi_rollup
from qa_pipeline.scorecard.render import render_html, write_scorecard

__all__ = ["Scorecard", "build_scorecard", "call_reason_counts", "kpi_rollup", "render_html",
           "write_scorecard"]
