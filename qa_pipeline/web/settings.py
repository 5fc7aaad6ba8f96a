"""Settings of the review app, read from the environment (secrets never from arguments)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.errors import ConfigError
from qa_pipeline.settings import get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebSettings:
    """How the app runs.

    ``audio_roots``: folders whose recordings may be served (a call's recording outside
    them is never read); relative recording paths resolve against ``base_dir``.
    """

    secret_key: bytes
    rubric_paths: tuple[Path, ...]
    audio_roots: tuple[Path, ...]
    base_dir: Path = field(default_factory=Path.cwd)
    session_max_age_s: int = 8 * 3600
    secure_cookies: bool = False
    kappa_alert_threshold: float = 0.6
    calibration_min_items: int = 10
    login_attempts: int = 5
    login_lockout_s: float = 300.0
    # Dashboard summaries kept while the tenant's data is unchanged (0: compute every time).
    dashboard_cache_entries: int = 256
    # The center's "today" (default periods, the sampling plan); a seam for tests.
    today: Callable[[], dt.date] = dt.date.today


def secret_from_env() -> bytes:
    """``$QA_PIPELINE_SECRET_KEY`` or the file ``$QA_PIPELINE_SECRET_KEY_FILE``; without
    either, a random key for this process (sessions end when it restarts).
    """
    settings = get_settings()
    value = settings.secret_key.get_secret_value() if settings.secret_key else ""
    path = settings.secret_key_file
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"cannot read QA_PIPELINE_SECRET_KEY_FILE: {e}") from e
    if value:
        if len(value) < 32:
            raise ConfigError("the session secret needs at least 32 characters")
        return value.encode()
    logger.warning("no QA_PIPELINE_SECRET_KEY(_FILE) set: using a random session key; "
                   "users must sign in again after a restart")
    return secrets.token_bytes(32)
