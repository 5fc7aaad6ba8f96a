"""Summaries of a scorecard document that the store copies into indexed columns."""

from __future__ import annotations

from typing import Any

# The same band the sentiment rule uses to name a score (rubric/rules/sentiment.py).
_NEGATIVE_BELOW = -0.2
_POSITIVE_ABOVE = 0.2


def customer_end_sentiment(card: dict[str, Any]) -> str:
    """``negative | neutral | positive`` for the customer at the end of the call, ``""`` when
    nothing measured it.

    The scorecard's own verdict comes first: a ``sentiment`` criterion about the customer at
    the end (``customer_sentiment_end`` in the default rubrics), so the queue's filter and the
    card agree. Without one, the customer's closing valence from the emotion trajectory.
    """
    for item in card.get("items") or ():
        value = item.get("value")
        if (item.get("rule_type") == "sentiment" and isinstance(value, (int, float))
                and str(item.get("message", "")).startswith("customer sentiment at end")):
            return _band(float(value))
    end = (((card.get("emotion") or {}).get("customer") or {}).get("end") or {})
    valence = end.get("valence")
    if valence is None:
        return ""
    return _band(float(valence))


def _band(v: float) -> str:
    return "negative" if v < _NEGATIVE_BELOW else "positive" if v > _POSITIVE_ABOVE else "neutral"


def best_word_probability(item: dict[str, Any]) -> float | None:
    """The best word probability among an item's quoted evidence (None without quotes)."""
    quoted = [float(e["word_probability"]) for e in item.get("evidence") or ()
              if int(e.get("utterance_index", -1)) >= 0 and "word_probability" in e]
    return max(quoted) if quoted else None


def call_reason_label(card: dict[str, Any]) -> str:
    """The work-order type the call was classified as (``""`` when not classified)."""
    return str((card.get("call_reason") or {}).get("label") or "")


def call_day(card: dict[str, Any]) -> str:
    """``YYYY-MM-DD`` of the call as the recorder wrote its start (the center's local day),
    else of the scoring time: the same day the KPI roll-ups group by.
    """
    from qa_pipeline.scorecard.kpi import group_key

    return group_key(card, "day")
