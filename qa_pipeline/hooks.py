"""Progress reporting through an injected hook (the CLI, flows and tests pass their own)."""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)


class StageHook(Protocol):
    """Called by stages as they progress: ``hook("asr", completed=3, total=10)``."""

    def __call__(
        self, step: str, *, completed: int | None = None, total: int | None = None
    ) -> None:
        """Report that ``step`` advanced."""


def null_hook(step: str, *, completed: int | None = None, total: int | None = None) -> None:
    """Do nothing (the default hook)."""


def logging_hook(step: str, *, completed: int | None = None, total: int | None = None) -> None:
    """Log progress at DEBUG level."""
    logger.debug("%s %s/%s", step, completed, total)
