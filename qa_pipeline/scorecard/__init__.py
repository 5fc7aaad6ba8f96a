"""Scorecards: scoring, rendering and KPI roll-ups."""

from qa_pipeline.scorecard.card import Scorecard, build_scorecard
from qa_pipeline.scorecard.kpi import kpi_rollup
from qa_pipeline.scorecard.render import render_html, write_scorecard

__all__ = ["Scorecard", "build_scorecard", "kpi_rollup", "render_html", "write_scorecard"]
