"""Human verdicts change the score: rebuild a stored scorecard with reviewed items.

The points, deductions, knockout scope and grade bands come from the rubric version the card
was scored under, found in a :class:`RubricCatalog`; a card whose rubric version is no
longer published cannot be re-scored (keep old versions, e.g. in ``rubrics/archive/``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_pipeline.errors import ReviewError, RubricError
from qa_pipeline.rubric.engine import CriterionResult, RubricResult
from qa_pipeline.rubric.loader import load_rubric
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.scorecard.card import build_scorecard
from qa_pipeline.types import Status

HUMAN_VERDICTS = ("pass", "fail", "not_applicable")


@dataclass(frozen=True, slots=True)
class HumanVerdict:
    """A reviewer's final word on one criterion.

    Attributes:
        status: pass / fail / not_applicable.
        reviewer: the user who decided.
        comment: why (required to overturn a fatal item).
        at: when, ISO 8601 UTC.
        utterances: indices of the transcript utterances the reviewer pointed at as the
            evidence of their verdict (the insult the rules missed, or a quoted line that is
            not one), ascending. Indices only: the text stays in the stored conversation,
            under the tenant's redaction policy.
    """

    status: str
    reviewer: str
    comment: str
    at: str
    utterances: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in HUMAN_VERDICTS:
            raise ReviewError(f"verdict {self.status!r} is not one of "
                              f"{', '.join(HUMAN_VERDICTS)}")
        # Stored documents hold a JSON list; keep the dataclass hashable and ordered.
        object.__setattr__(self, "utterances", tuple(sorted({int(i) for i in self.utterances})))


class RubricCatalog:
    """Every rubric version found in some folders and files, by ``id@version``."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]],
                 tenant_acts: Iterable[str] = ()) -> None:
        """``tenant_acts``: act ids that tenants define in their YAML, which their rubrics may
        name (a rubric naming one fails validation without it and would be missing here).
        """
        self._paths = [Path(p) for p in paths]
        self._tenant_acts = tuple(sorted(set(tenant_acts)))
        self._by_ref: dict[str, Rubric] | None = None

    def _load(self) -> dict[str, Rubric]:
        if self._by_ref is None:
            found: dict[str, Rubric] = {}
            for p in self._paths:
                files = sorted(p.rglob("*.yaml")) if p.is_dir() else [p] if p.is_file() else []
                for f in files:
                    try:
                        r = load_rubric(f, self._tenant_acts)
                    except RubricError:
                        continue  # taxonomies and other YAML live beside rubrics
                    found.setdefault(r.ref, r)
            self._by_ref = found
        return self._by_ref

    def get(self, ref: str) -> Rubric:
        """The rubric ``id@version``.

        Raises:
            ReviewError: no such version is published in the catalog's paths.
        """
        try:
            return self._load()[ref]
        except KeyError:
            known = ", ".join(sorted(self._load())) or "(none)"
            raise ReviewError(f"rubric {ref} is not published (known: {known}); keep every "
                              "version that scored stored calls") from None


def apply_verdicts(card: dict[str, Any], rubric: Rubric,
                   verdicts: Mapping[str, HumanVerdict]) -> dict[str, Any]:
    """``card`` re-scored with the human verdicts of some criteria.

    The automated outcome stays on each reviewed item as ``automated_status`` /
    ``automated_provisional_status``; ``review`` says who decided what and when.
    """
    ref = f"{card['rubric_id']}@{card['rubric_version']}"
    if rubric.ref != ref:
        raise ReviewError(f"card was scored under {ref}, not {rubric.ref}")
    originals = {i["criterion_id"]: i for i in card["items"]}
    unknown = sorted(set(verdicts) - set(originals))
    if unknown:
        raise ReviewError(f"{ref} has no criterion {', '.join(unknown)}")
    results = []
    for item in card["items"]:
        r = CriterionResult.from_dict(_automated(item))
        v = verdicts.get(r.criterion_id)
        if v is not None:
            human = Status(v.status)
            r = CriterionResult(r.criterion_id, r.section_id, r.description, r.severity,
                                r.kind, r.rule_type, human, human, r.evidence, r.message,
                                "", r.value)
        results.append(r)
    created = card.get("created_at") or ""
    # An ungraded call stays ungraded whatever people decide about its items; notes that put
    # the whole call up for review (damaged audio) stand until the review is complete.
    notes = tuple((card.get("provenance") or {}).get("review_notes") or ())
    scored = [i["criterion_id"] for i in card["items"] if i.get("kind", "error") != "flag"]
    if scored and all(c in verdicts for c in scored):
        notes = ()
    new = build_scorecard(
        rubric, RubricResult(rubric.id, str(rubric.version), tuple(results),
                             ungraded_reason=str(card.get("ungraded_reason") or ""),
                             review_notes=notes),
        call_id=card["call_id"], tenant_id=card["tenant_id"],
        provenance=dict(card.get("provenance") or {}), call=card.get("call") or {},
        metrics=card.get("metrics") or {}, sentiment=card.get("sentiment"),
        emotion=card.get("emotion"), acoustics=card.get("acoustics"),
        call_reason=card.get("call_reason"),
        now=dt.datetime.fromisoformat(created) if created else None).to_dict()
    for item in new["items"]:
        orig = _automated(originals[item["criterion_id"]])
        v = verdicts.get(item["criterion_id"])
        if v is not None:
            item["automated_status"] = orig["status"]
            item["automated_provisional_status"] = orig["provisional_status"]
            item["automated_review_reason"] = orig.get("review_reason", "")
            item["review"] = {"status": v.status, "reviewer": v.reviewer, "comment": v.comment,
                              "at": v.at}
            if v.utterances:
                item["review"]["utterances"] = list(v.utterances)
    new["human_reviewed"] = review_complete(new)
    return new


def review_complete(card: dict[str, Any]) -> bool:
    """Whether a person has decided every scored item of the card.

    Observation flags are not scored, so they are not needed; a card with no scored item is
    never complete (nothing about the agent was checked). Only a completed review makes a
    call count as monitored.
    """
    scored = [i for i in card["items"] if i.get("kind", "error") != "flag"]
    return bool(scored) and all(i.get("review") for i in scored)


def _automated(item: dict[str, Any]) -> dict[str, Any]:
    """The item as the rules decided it (undoing an earlier review)."""
    if "automated_status" not in item:
        return item
    return {**item, "status": item["automated_status"],
            "provisional_status": item["automated_provisional_status"],
            "review_reason": item.get("automated_review_reason", "")}
