"""The rubric file format (validated with pydantic; rule blocks by the rule registry)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from qa_pipeline.rubric.registry import ParsedRule

if TYPE_CHECKING:
    from qa_pipeline.acts import TenantActExamples
    from qa_pipeline.acts.track import ActTagger
    from qa_pipeline.rubric.phrase_index import PhraseIndex

Severity = Literal["fatal", "non_fatal"]
_ACT_ID = re.compile(r"[a-z][a-z0-9_]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradeBand(_Strict):
    """A score band: total (rounded to an integer percent) >= ``min`` earns ``grade``."""

    min: float = Field(..., ge=0, le=100)
    grade: str
    label: str = ""


# DOMAIN.md: >=95 A 卓越, 90-94 B 甲等, 80-89 C 乙等, 71-79 D 丙等, <=70 E 丁等.
DEFAULT_GRADE_BANDS: tuple[GradeBand, ...] = (
    GradeBand(min=95, grade="A", label="卓越"),
    GradeBand(min=90, grade="B", label="甲等"),
    GradeBand(min=80, grade="C", label="乙等"),
    GradeBand(min=71, grade="D", label="丙等"),
    GradeBand(min=0, grade="E", label="丁等"),
)


class ReviewThresholds(_Strict):
    """Evidence confidence below these marks a finding ``needs_review``."""

    min_word_probability: float = Field(0.5, ge=0, le=1)
    min_role_confidence: float = Field(0.8, ge=0, le=1)


class ReviewPolicy(_Strict):
    """Per-severity thresholds for routing findings to a human."""

    fatal: ReviewThresholds = ReviewThresholds(min_word_probability=0.5, min_role_confidence=0.8)
    non_fatal: ReviewThresholds = ReviewThresholds(min_word_probability=0.35,
                                                   min_role_confidence=0.6)

    def for_severity(self, severity: Severity) -> ReviewThresholds:
        """Thresholds of one severity."""
        return self.fatal if severity == "fatal" else self.non_fatal


class Criterion(_Strict):
    """One scorable item of a rubric."""

    id: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    severity: Severity = "non_fatal"
    # error: failing it is an agent error (counts in scores and KPIs). flag: an observation
    # about the call (e.g. the customer complained) shown on the scorecard, never scored.
    kind: Literal["error", "flag"] = "error"
    points: float | None = Field(None, ge=0, description="earned when the criterion passes")
    deduction: float | None = Field(None, ge=0, description="subtracted when it fails")
    rule: dict[str, Any]
    review: ReviewThresholds | None = None
    _parsed: ParsedRule | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _scoring(self) -> Criterion:
        if self.points is not None and self.deduction is not None:
            raise ValueError("use either points or deduction, not both")
        if self.kind == "error" and self.points is None and self.deduction is None \
                and self.severity == "non_fatal":
            raise ValueError("a non-fatal error criterion needs points or deduction")
        return self

    @property
    def parsed_rule(self) -> ParsedRule:
        """The validated rule (set by the loader)."""
        if self._parsed is None:
            raise RuntimeError(f"criterion {self.id!r} was not loaded through load_rubric")
        return self._parsed


class RubricAct(_Strict):
    """A rubric's own dialogue act, defined by example sentences (few-shot): fitted on the
    act model's embeddings when the rubric is first evaluated, and usable in rules by its id.

    With ``refit: true`` the id is a built-in act instead, whose head is refitted on the
    examples and counter-examples (``qa-pipeline rubric tune`` writes these from QA reviews).
    """

    examples: tuple[str, ...] = Field((), description="sentences that carry the act")
    counter_examples: tuple[str, ...] = Field(
        (), description="near misses that must not count (sharpen the boundary)")
    role: Literal["agent", "customer"] | None = Field(None, description="who performs it")
    description: str = ""
    refit: bool = Field(False, description="the id is a built-in act whose head these "
                                           "sentences refit, not a new act")

    @model_validator(mode="after")
    def _enough_examples(self) -> RubricAct:
        if self.refit:
            if not self.examples and not self.counter_examples:
                raise ValueError("a refit needs at least one example or counter-example")
        elif len(self.examples) < 2:
            raise ValueError("a new act needs at least two examples (sentences that carry it)")
        return self

    def few_shot(self) -> TenantActExamples:
        """The definition :meth:`qa_pipeline.acts.ActModel.with_tenant_acts` fits."""
        from qa_pipeline.acts import TenantActExamples

        return TenantActExamples(positives=self.examples, negatives=self.counter_examples,
                                 role=self.role, description=self.description,
                                 refit=self.refit)


class Section(_Strict):
    """A weighted group of criteria."""

    id: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    title: str = ""
    weight: float = Field(..., ge=0)
    criteria: tuple[Criterion, ...] = Field(..., min_length=1)


class Rubric(_Strict):
    """A versioned rubric: sections of criteria, grade bands, review policy."""

    id: str = Field(..., pattern=r"^[a-z][a-z0-9_.-]*$")
    version: int | str
    tenant: str = "*"
    languages: tuple[str, ...] = ("zh", "en")
    title: str = ""
    description: str = ""
    knockout_scope: Literal["call", "section"] = "call"
    grade_bands: tuple[GradeBand, ...] = DEFAULT_GRADE_BANDS
    review: ReviewPolicy = ReviewPolicy()
    time_budget_s: float = Field(
        10.0, gt=0, le=3600,
        description="seconds all criteria of one call may take; the criterion that overruns "
                    "it and every later one go to review instead of stalling the batch")
    sections: tuple[Section, ...] = Field(..., min_length=1)
    acts: dict[str, RubricAct] = Field(
        default_factory=dict, description="the rubric's own dialogue acts, by id")
    # cached_property, not private attributes: a value in the instance dict is read directly,
    # while pydantic serves private attributes through __getattr__ (on every evaluation).
    @cached_property
    def plan(self) -> tuple[tuple[Section, Criterion, ParsedRule, ReviewThresholds], ...]:
        """Per criterion, in file order: section, criterion, rule and review thresholds
        (resolved once, not on every call).
        """
        return tuple((s, c, c.parsed_rule, c.review or self.review.for_severity(c.severity))
                     for s, c in self.criteria())

    @cached_property
    def phrase_index(self) -> PhraseIndex:
        """Every exact phrase of the rubric in one automaton (built on first use)."""
        from qa_pipeline.rubric.phrase_index import PhraseIndex, matchers_of

        return PhraseIndex(matchers_of(c.parsed_rule for _, c in self.criteria()))

    @cached_property
    def fitted_acts(self) -> dict[int, tuple[ActTagger, ActTagger]]:
        """id(base model) -> (base model, base model with the rubric's acts)."""
        return {}

    def act_model(self, base: ActTagger) -> ActTagger:
        """``base`` with the rubric's own acts added (``base`` itself when it defines none).
        The fit is cached by the acts' content, in the model and here per base model.
        """
        if not self.acts:
            return base
        cache = self.fitted_acts
        found = cache.get(id(base))
        if found is None or found[0] is not base:
            fitted = base.with_tenant_acts({act_id: a.few_shot()
                                            for act_id, a in sorted(self.acts.items())})
            found = cache[id(base)] = (base, fitted)
        return found[1]

    @cached_property
    def names_acts(self) -> bool:
        """Whether any rule reads dialogue acts (the call is tagged before rules run)."""
        return any(_acts_named(c.rule) for _, c in self.criteria())

    @property
    def ref(self) -> str:
        """``id@version`` as recorded on scorecards."""
        return f"{self.id}@{self.version}"

    @model_validator(mode="after")
    def _unique_ids(self, info: ValidationInfo) -> Rubric:
        seen: set[str] = set()
        for section in self.sections:
            for c in section.criteria:
                if c.id in seen:
                    raise ValueError(f"duplicate criterion id {c.id!r}")
                seen.add(c.id)
        context = info.context if isinstance(info.context, dict) else {}
        self._check_acts(tuple(context.get("tenant_acts", ())))
        bands = sorted(b.min for b in self.grade_bands)
        if not bands or bands[0] != 0:
            raise ValueError("grade_bands must include a band with min 0")
        return self

    def _check_acts(self, tenant_acts: tuple[str, ...] = ()) -> None:
        """The rubric's own act ids are well formed and new; every act a rule names is
        built in, defined by the rubric or by the tenant (``tenant_acts``, the ids of the
        tenant's ``acts:`` section, known when the rubric is loaded for a tenant).
        """
        from qa_pipeline.acts import ACTS

        for act_id, act in self.acts.items():
            if not _ACT_ID.fullmatch(act_id):
                raise ValueError(f"act id {act_id!r} must be lowercase letters, digits and _")
            if act.refit:
                if act_id not in ACTS:
                    raise ValueError(f"act {act_id!r} has refit: true but is not a built-in "
                                     f"act; built-in acts: {', '.join(ACTS)}")
                continue
            if act_id in ACTS or act_id in tenant_acts:
                raise ValueError(f"act {act_id!r} is built in or the tenant's; give the "
                                 "rubric's own act another id")
        known = tuple(dict.fromkeys((*ACTS, *tenant_acts, *self.acts)))
        for section in self.sections:
            for c in section.criteria:
                for act_id in _acts_named(c.rule):
                    if act_id not in known:
                        raise ValueError(f"criterion {c.id!r}: unknown act {act_id!r}; known "
                                         f"acts: {', '.join(known)} (a new act is defined "
                                         "under the rubric's or the tenant's `acts:`)")

    def criteria(self) -> list[tuple[Section, Criterion]]:
        """All criteria with their sections, in file order."""
        return [(s, c) for s in self.sections for c in s.criteria]

    def grade_for(self, score_percent: float) -> GradeBand:
        """The band of a total score (rounded half up to an integer percent first, since the
        bands are integer ranges: 70.4 -> 70 -> E, 70.5 -> 71 -> D).
        """
        rounded = int(score_percent + 0.5)
        for band in sorted(self.grade_bands, key=lambda b: -b.min):
            if rounded >= band.min:
                return band
        return self.grade_bands[-1]


def _acts_named(node: Any) -> list[str]:
    """Every act id named (under an ``acts`` key) anywhere in a raw rule block."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "acts" and isinstance(value, list | tuple):
                found.extend(a for a in value if isinstance(a, str))
            else:
                found.extend(_acts_named(value))
    elif isinstance(node, list | tuple):
        for item in node:
            found.extend(_acts_named(item))
    return found
