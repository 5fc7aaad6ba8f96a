"""Rule-type registry: a string key, a pydantic spec, one evaluate function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from qa_pipeline.errors import RubricValidationError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.types import RuleOutcome


class RuleSpec(BaseModel):
    """Base for every rule's YAML block. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


SpecT = TypeVar("SpecT", bound=RuleSpec)
Evaluate = Callable[[SpecT, EvaluationContext], RuleOutcome]


@dataclass(frozen=True)
class RuleType(Generic[SpecT]):
    """A registered rule type."""

    name: str
    spec: type[SpecT]
    evaluate: Evaluate[SpecT]

    @property
    def doc(self) -> str:
        """The evaluate function's docstring (Passes when / Fails when / ...)."""
        return self.evaluate.__doc__ or ""


_REGISTRY: dict[str, RuleType[Any]] = {}


def register_rule(name: str, *, spec: type[SpecT]) -> Callable[[Evaluate[SpecT]], Evaluate[SpecT]]:
    """Decorator registering a rule type; duplicate names are rejected."""

    def decorator(fn: Evaluate[SpecT]) -> Evaluate[SpecT]:
        if name in _REGISTRY:
            raise ValueError(f"rule type {name!r} is already registered")
        _REGISTRY[name] = RuleType(name, spec, fn)
        return fn

    return decorator


def rule_types() -> dict[str, RuleType[Any]]:
    """All registered rule types (built-ins are imported on first call)."""
    import qa_pipeline.rubric.rules  # noqa: F401 - registers the built-in rules

    return dict(_REGISTRY)


@dataclass(frozen=True)
class ParsedRule:
    """A rule block validated against its type's spec."""

    rule_type: RuleType[Any]
    spec: RuleSpec

    def evaluate(self, ctx: EvaluationContext) -> RuleOutcome:
        """Run the rule."""
        return self.rule_type.evaluate(self.spec, ctx)


class RuleLocationError(RubricValidationError):
    """A rule block is invalid; ``loc`` is the path of the bad key inside the block."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


def parse_rule(raw: Any) -> ParsedRule:
    """Validate a ``rule:`` mapping with the spec registered for its ``type``."""
    types = rule_types()
    if not isinstance(raw, dict):
        raise RuleLocationError(f"a rule must be a mapping, got {type(raw).__name__}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in types:
        raise RuleLocationError(
            f"unknown rule type {kind!r}; expected one of: {', '.join(sorted(types))}", ("type",)
        )
    rule_type = types[kind]
    try:
        spec = rule_type.spec.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(first["loc"])
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(rule)'}: {err['msg']}"
            for err in e.errors()
        )
        raise RuleLocationError(f"invalid {kind!r} rule: {problems}", loc) from None
    except RuleLocationError:
        raise
    return ParsedRule(rule_type, spec)
