"""One settings object for the whole product, and where configuration files are found.

Every ``QA_PIPELINE_*`` environment variable is read here and nowhere else (a test checks
that). The rest of the library asks :func:`get_settings` for values, and
:func:`config_path` / :func:`default_path` for configuration files.

Configuration files come from two layers:

- the site's **config directory** (``--config-dir`` / ``$QA_PIPELINE_CONFIG_DIR``):
  ``<config>/tenants/*.yaml`` add tenants or replace a default tenant of the same id, and a
  relative rubric or taxonomy path (``rubrics/...``) is looked up there first;
- the **defaults** shipped with the package (``qa_pipeline/_defaults/tenants`` and
  ``.../rubrics`` in a wheel; the repository's top-level ``tenants/`` and ``rubrics/`` in a
  source or editable checkout, which has no ``_defaults`` folder).

Nothing resolves against the working directory except paths a user gives explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa_pipeline.errors import ConfigError

ENV_PREFIX = "QA_PIPELINE_"
#: Default embedded store: a SQLite file in the working directory.
DEFAULT_DB_URL = "sqlite:///qa_pipeline.db"

#: What runs ``qa-pipeline run``: ``prefect`` (the ``score_calls`` flow), ``local`` (the
#: runner in this process, no Prefect), or ``auto`` (``prefect`` when a Prefect API is
#: configured, else ``local``).
Orchestrator = Literal["auto", "prefect", "local"]
ORCHESTRATORS: tuple[str, ...] = get_args(Orchestrator)


class Settings(BaseSettings):
    """Process-wide configuration, read from ``QA_PIPELINE_*`` environment variables.

    Attributes:
        config_dir: the site's configuration directory (``tenants/``, ``rubrics/``).
        tenants_dir: a tenants folder that replaces ``<config_dir>/tenants`` (older sites).
        db_url: the store's database URL (may carry a password; never logged).
        models_dir: where the model manifest lives and assembled weights are cached.
        keys_dir: folder of tenant keys (``<tenant>.key``) for encrypted transcripts.
        secret_key: the review app's session secret.
        secret_key_file: a file holding the session secret.
        new_password: password for ``qa-pipeline users add`` without a prompt.
        worker_name: name of this worker in run summaries (orchestrated runs).
        act_model: dialogue-act weights (``.npz``) to load instead of the packaged ones, e.g.
            the embedding-only ``acts_e5small_head.npz``, or a candidate under evaluation.
        orchestrator: what runs ``qa-pipeline run`` (:data:`Orchestrator`).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore",
                                      env_ignore_empty=True)

    config_dir: Path | None = None
    tenants_dir: Path | None = None
    db_url: SecretStr = SecretStr(DEFAULT_DB_URL)
    models_dir: Path | None = None
    keys_dir: Path | None = None
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    new_password: SecretStr | None = None
    worker_name: str = ""
    act_model: Path | None = None
    orchestrator: Orchestrator = "auto"

    @field_validator("config_dir", "tenants_dir")
    @classmethod
    def _existing_folder(cls, value: Path | None) -> Path | None:
        # A mistyped folder would otherwise fall back to the defaults without a word.
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    def tenant_key(self, tenant_id: str) -> SecretStr | None:
        """``$QA_PIPELINE_TENANT_KEY_<TENANT>`` (id upper-cased, ``-`` as ``_``), if set."""
        value = os.environ.get(tenant_key_variable(tenant_id), "").strip()
        return SecretStr(value) if value else None

    def secret_env(self, variable: str) -> SecretStr | None:
        """A secret a configuration file names by environment variable (e.g. a judge
        server's ``api_key_env``), if set.
        """
        value = os.environ.get(variable, "").strip()
        return SecretStr(value) if value else None

    @property
    def database_url(self) -> str:
        """The database URL in clear (hand it to the store only; never log it)."""
        return self.db_url.get_secret_value()


def tenant_key_variable(tenant_id: str) -> str:
    """Name of the environment variable holding a tenant's key."""
    return ENV_PREFIX + "TENANT_KEY_" + tenant_id.upper().replace("-", "_")


# Values set for this process by the command line (``--config-dir``, ``--db``); they win
# over the environment. A plain dict, not a context variable, so that task threads of an
# in-process flow run see them too.
_overrides: dict[str, Any] = {}


def get_settings() -> Settings:
    """The current settings: command-line overrides, then the environment, then defaults.

    Read afresh on every call (cheap), so a changed environment takes effect at once.
    """
    try:
        return Settings(**_overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(part) for part in err['loc']).upper()}: {err['msg']}"
            for err in e.errors())
        raise ConfigError(f"invalid settings: {problems}") from e


def configure(**values: Any) -> None:
    """Override settings for this process (the command line's global options).

    A ``None`` value removes that override (the environment applies again), so optional
    CLI options can be passed through as they are on every invocation.

    Raises:
        ConfigError: a name that is not a setting.
    """
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"unknown settings {unknown}; valid: {sorted(Settings.model_fields)}")
    for name, value in values.items():
        if value is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = value


@contextmanager
def overridden(**values: Any) -> Iterator[Settings]:
    """:func:`configure` for the duration of a ``with`` block, then the previous overrides."""
    saved = dict(_overrides)
    try:
        configure(**values)
        yield get_settings()
    finally:
        _overrides.clear()
        _overrides.update(saved)


def reset_configuration() -> None:
    """Forget :func:`configure` overrides (tests, long-lived hosts)."""
    _overrides.clear()


@cache
def defaults_dir() -> Path:
    """Folder holding the default ``tenants/`` and ``rubrics/``.

    A wheel ships them as package data in ``qa_pipeline/_defaults``; a source or editable
    checkout has them at the repository's top level instead.
    """
    packaged = resources.files("qa_pipeline").joinpath("_defaults")
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "tenants").is_dir() and (checkout / "rubrics").is_dir():
        return checkout
    raise ConfigError("the default tenants and rubrics are missing from this installation "
                      "(qa_pipeline/_defaults); reinstall the package")


def default_path(relative: str) -> Path:
    """A shipped default (``tenants/default.yaml``, ``rubrics/...``)."""
    return defaults_dir() / relative


def site_tenants_dir(settings: Settings | None = None) -> Path | None:
    """The site's tenants folder, if one is configured."""
    s = settings or get_settings()
    if s.tenants_dir is not None:
        return s.tenants_dir
    return s.config_dir / "tenants" if s.config_dir is not None else None


def config_path(path: str | os.PathLike[str], settings: Settings | None = None) -> Path:
    """Resolve a configured path (a tenant's rubric or taxonomy, a rubrics folder).

    Absolute paths are used as given. A relative path is looked up in the site's config
    directory first, then among the shipped defaults.

    Raises:
        ConfigError: a relative path found in neither place (the message lists both).
    """
    p = Path(path)
    if p.is_absolute():
        return p
    s = settings or get_settings()
    candidates = ([s.config_dir / p] if s.config_dir is not None else []) + [default_path(str(p))]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError(f"{p} not found; looked in: {', '.join(str(c) for c in candidates)}")


def rubric_dirs(settings: Settings | None = None) -> tuple[Path, ...]:
    """Folders of rubrics: the site's ``<config>/rubrics`` (when present), then the defaults."""
    s = settings or get_settings()
    site = s.config_dir / "rubrics" if s.config_dir is not None else None
    return ((site,) if site is not None and site.is_dir() else ()) + (default_path("rubrics"),)
