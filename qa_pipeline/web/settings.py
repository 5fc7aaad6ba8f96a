"""Settings of the review app, read from the environment (secrets never from arguments)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.errors import ConfigError
from qa_pipeline.settings import get_settings
from qa_pipeline.web.i18n import TenantDisplay

__all__ = ["TenantDisplay", "WebSettings", "parse_audio_roots", "secret_from_env",
           "tenant_display_from_config"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebSettings:
    """How the app runs.

    ``audio_roots``: folders whose recordings may be served (a call's recording outside
    them is never read); relative recording paths resolve against ``base_dir``.
    ``tenant_audio_roots``: folders per tenant; a tenant listed here is served only from its
    own folders, never from ``audio_roots`` or another tenant's, so a recording path stored
    on one tenant's call cannot reach another client's recordings.
    """

    secret_key: bytes
    rubric_paths: tuple[Path, ...]
    audio_roots: tuple[Path, ...]
    base_dir: Path = field(default_factory=Path.cwd)
    tenant_audio_roots: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)
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
    # Call languages and time zone of a tenant (its tenant file by default).
    tenant_display: Callable[[str], TenantDisplay] = field(
        default_factory=lambda: tenant_display_from_config)

    def audio_roots_for(self, tenant_id: str) -> tuple[Path, ...]:
        """The folders a tenant's recordings may be served from."""
        return self.tenant_audio_roots.get(tenant_id, self.audio_roots)


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


def parse_audio_roots(values: Sequence[str]
                      ) -> tuple[tuple[Path, ...], dict[str, tuple[Path, ...]]]:
    """``DIR`` (every tenant) and ``TENANT=DIR`` (that tenant only) options, split.

    Raises:
        ConfigError: a tenant part that is not a valid tenant id.
    """
    from qa_pipeline.tenants import validate_tenant_id

    shared: list[Path] = []
    per_tenant: dict[str, list[Path]] = {}
    for value in values:
        tenant, sep, folder = value.partition("=")
        if sep and tenant and not Path(value).exists():
            per_tenant.setdefault(validate_tenant_id(tenant), []).append(Path(folder))
        else:
            shared.append(Path(value))
    return tuple(shared), {t: tuple(p) for t, p in per_tenant.items()}


def tenant_display_from_config(tenant_id: str) -> TenantDisplay:
    """A tenant's languages and time zone from its tenant file (UTC and English for a tenant
    the store knows but the configuration does not).
    """
    from qa_pipeline.errors import QAPipelineError
    from qa_pipeline.tenants import load_tenant

    try:
        cfg = load_tenant(tenant_id)
    except QAPipelineError:
        return TenantDisplay()
    return TenantDisplay(tuple(cfg.languages), cfg.timezone)
