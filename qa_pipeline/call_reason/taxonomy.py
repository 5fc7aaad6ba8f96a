"""Call-reason (work-order type) taxonomies: one YAML file per taxonomy, chosen per tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa_pipeline.errors import ConfigError


class ReasonClass(BaseModel):
    """One call reason: cue phrases (any language), dialogue acts of the customer that signal
    it (e.g. ``complaint``: the same notion of a complaint as the rubrics), and example
    customer sentences.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = ""
    keywords: tuple[str, ...] = ()
    acts: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ...] = ()
    examples: tuple[str, ...] = ()


class Taxonomy(BaseModel):
    """A tenant's call reasons; ``fallback`` is chosen when nothing is confident enough."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: str = "1"
    classes: tuple[ReasonClass, ...] = Field(min_length=2)
    fallback: str = "other"
    min_confidence: float = Field(0.30, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> Taxonomy:
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate class ids in {ids}")
        if self.fallback not in ids:
            raise ValueError(f"fallback {self.fallback!r} is not one of the classes {ids}")
        for c in self.classes:
            if c.id != self.fallback and not (c.keywords or c.examples or c.acts):
                raise ValueError(f"class {c.id!r} needs keywords or examples (or acts)")
        return self

    @property
    def ref(self) -> str:
        """``id@version`` for provenance."""
        return f"{self.id}@{self.version}"


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Parse and validate a taxonomy file.

    Raises:
        ConfigError: unreadable file or invalid content (the message names the file).
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{p}: cannot read call-reason taxonomy: {e}") from e
    try:
        return Taxonomy.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{p}: invalid call-reason taxonomy:\n{e}") from e
