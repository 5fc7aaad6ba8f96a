"""Shared building blocks for phrase-based rules: scope (role, time window) and matching."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.matching import CompiledMatcher, MatchOptions, compile_matcher
from qa_pipeline.rubric.patterns import check_pattern
from qa_pipeline.text import normalize
from qa_pipeline.types import Evidence, MatchHit, Role, Status, Utterance, Word

RoleName = Literal["agent", "customer", "any"]


def role_of(name: RoleName) -> Role | None:
    """``any`` -> None (no role filter)."""
    return None if name == "any" else Role(name)


def compile_check(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Reject invalid or unsafe regular expressions at load time, not at evaluation time."""
    for pattern in patterns:
        check_pattern(pattern)
    return patterns


class Scope(BaseModel):
    """Which utterances a condition looks at."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: RoleName = "agent"
    within_s: float | None = Field(None, gt=0, description="only the first N seconds of the call")
    last_s: float | None = Field(None, gt=0, description="only the last N seconds of the call")

    def select(self, ctx: EvaluationContext) -> tuple[Utterance, ...]:
        """The utterances in scope."""
        return ctx.utterances(self.role_filter, self.within_s, self.last_s)

    @cached_property
    def role_filter(self) -> Role | None:
        """:func:`role_of` the scope's role (looked up once per spec, not per call)."""
        return role_of(self.role)


class Matching(BaseModel):
    """Phrases and regular expressions, with ASR-tolerant options."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = Field((), description="regular expressions (Python syntax)")
    fuzzy: float | None = Field(None, ge=0.5, le=1.0,
                                description="edit similarity threshold for fuzzy matching")
    pinyin: bool = Field(False, description="homophone-tolerant matching of Chinese phrases")

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return compile_check(value)

    @cached_property
    def compiled_matcher(self) -> CompiledMatcher:
        """The compiled matcher for this block (compiled once per spec)."""
        return compile_matcher(self.phrases, self.patterns,
                               MatchOptions(fuzzy=self.fuzzy, pinyin=self.pinyin))

    def hits(self, utterances: tuple[Utterance, ...], ctx: EvaluationContext
             ) -> list[tuple[Utterance, MatchHit]]:
        """(utterance, hit) for each of ``utterances`` that matches, in order."""
        return ctx.hit_pairs(self.compiled_matcher, utterances)


class Condition(Scope, Matching):
    """A scope plus what to look for (used inside order and anchor rules)."""

    def has_matcher(self) -> bool:
        """Whether any phrase or pattern is configured."""
        return bool(self.phrases or self.patterns)


def require_or_forbid(mode: str, found: bool, what: str) -> tuple[Status, str]:
    """Status and message of a rule that requires (or forbids) finding ``what``."""
    if mode == "require":
        return (Status.PASS, f"{what} found") if found else (Status.FAIL, f"no {what} found")
    return (Status.FAIL, f"forbidden {what} found") if found else (
        Status.PASS, f"no forbidden {what} found")


def evidence_for(ctx: EvaluationContext, utterance: Utterance, hit: MatchHit | None,
                 note: str = "") -> Evidence:
    """Evidence quoting an utterance; its word probability is the mean probability of the
    words the match covers (the utterance's mean when there is no match, or when it cannot be
    located word by word). Everything a quote needs is in ``utterance`` and ``hit``: ``ctx``
    is the rules' common argument.
    """
    probability = None
    if hit is not None and hit.matched_text:
        probability = _covered_mean(utterance.words, hit.matched_text.replace(" ", ""))
    if probability is None:
        probability = utterance.mean_word_probability
    return Evidence(utterance.index, utterance.role, utterance.start_s, utterance.end_s,
                    utterance.text, probability, utterance.role_confidence, hit, note)


def _covered_mean(words: Sequence[Word], matched: str) -> float | None:
    """Mean probability of the words whose compact form (non-empty) occurs in ``matched``;
    None when no word does.
    """
    covered = [w.probability for w in words if (form := _compact_form(w.text)) and form in matched]
    return sum(covered) / len(covered) if covered else None


@lru_cache(maxsize=65536)
def _compact_form(word: str) -> str:
    """A word's normalised form without spaces (the vocabulary of calls repeats)."""
    return normalize(word).replace(" ", "")


def first_hit(cond: Condition, ctx: EvaluationContext,
              utterances: Sequence[Utterance] | None = None,
              accept: Callable[[Utterance, MatchHit], bool] | None = None
              ) -> tuple[Utterance, MatchHit] | None:
    """The first (utterance, hit) of a condition in call order (among ``utterances`` when
    given, else the condition's scope) that ``accept`` approves, or None.
    """
    scope = cond.select(ctx) if utterances is None else utterances
    return ctx.first_hit(cond.compiled_matcher, scope, accept)


def find_hits(cond: Condition, ctx: EvaluationContext) -> list[tuple[Utterance, MatchHit]]:
    """All (utterance, hit) pairs for a condition, in call order."""
    return cond.hits(cond.select(ctx), ctx)
