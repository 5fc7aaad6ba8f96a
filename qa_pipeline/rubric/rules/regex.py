"""regex: utterances must (or must not) match regular expressions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.conditions import Matching as _Matching
from qa_pipeline.rubric.rules.conditions import (
    Scope,
    compile_check,
    evidence_for,
    require_or_forbid,
)
from qa_pipeline.types import RuleOutcome, Status


class RegexSpec(RuleSpec, Scope):
    """YAML block of a regex rule."""

    type: Literal["regex"]
    patterns: tuple[str, ...] = Field(..., min_length=1)
    mode: Literal["require", "forbid"] = "require"

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return compile_check(value)

    def matcher(self) -> _Matching:
        """The patterns as a matcher."""
        return _Matching(patterns=self.patterns)


@register_rule("regex", spec=RegexSpec)
def regex(spec: RegexSpec, ctx: EvaluationContext) -> RuleOutcome:
    r"""Regular expressions over utterance text (raw and normalised, case-insensitive).

    Passes when: ``mode: require`` and an utterance in scope matches, or ``mode: forbid`` and
    none does.
    Fails when: the opposite.
    Not applicable when: there is no utterance by ``role`` (forbid: in scope).

    Patterns are Python syntax run by RE2 in linear time (:mod:`qa_pipeline.rubric.patterns`):
    nested quantifiers such as ``(a+)+``, look-around and back-references are refused when
    the rubric is validated.

    Example YAML:
        rule: {type: regex, role: agent, patterns: ['工号\\s*\\d{3,}'], mode: require}
    """
    matcher = spec.matcher()
    if not ctx.utterances(spec.role_filter):
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in the call")
    scope = spec.select(ctx)
    if spec.mode == "forbid" and not scope:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in scope")
    evidence = [evidence_for(ctx, u, hit) for u, hit in matcher.hits(scope, ctx)]
    considered = ctx.indices(scope)
    status, message = require_or_forbid(spec.mode, bool(evidence), "matching utterance")
    return RuleOutcome(status, tuple(evidence[:10]), message, considered)
