"""The speech front end: recording -> role-labelled, word-timed :class:`Conversation`."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from qa_pipeline.alignment.speakers import (
    AlignmentOptions,
    SpeakerWord,
    assign_words,
    build_utterances,
    clamp_to_regions,
)
from qa_pipeline.asr.base import AsrOptions, Transcriber
from qa_pipeline.asr.registry import get_transcriber
from qa_pipeline.audio.io import AudioOptions, load_audio
from qa_pipeline.diarization.base import DiarizationOptions, Diarizer
from qa_pipeline.diarization.channel import ChannelDiarizer, channel_speaker
from qa_pipeline.diarization.registry import get_diarizer
from qa_pipeline.diarization.roles import apply_roles, assign_roles_channels, roles_for_mono
from qa_pipeline.errors import ChannelLayoutError
from qa_pipeline.hooks import StageHook
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.types import Conversation, Diarization, LoadedAudio, Provenance
from qa_pipeline.version import __version__

logger = logging.getLogger(__name__)


def asr_options_for(tenant: TenantConfig, **overrides: object) -> AsrOptions:
    """The ASR options a tenant's config implies (CLI overrides win)."""
    base = AsrOptions(
        model=tenant.asr.model,
        device=tenant.asr.device,
        compute_type=tenant.asr.compute_type,
        beam_size=tenant.asr.beam_size,
        batch_size=tenant.asr.batch_size,
        languages=tenant.languages,
        hotwords=tenant.hotwords,
        initial_prompt=tenant.initial_prompt,
    )
    fields = {k: v for k, v in overrides.items() if v is not None}
    return AsrOptions(**{**{f: getattr(base, f) for f in base.__slots__}, **fields})  # type: ignore[arg-type]


def diarization_options_for(tenant: TenantConfig) -> DiarizationOptions:
    """The diarization options a tenant's config implies."""
    d = tenant.diarization
    return DiarizationOptions(
        num_speakers=d.num_speakers,
        min_speakers=d.min_speakers,
        max_speakers=d.max_speakers,
        pyannote_model=d.pyannote_model,
        hf_token=os.environ.get("HF_TOKEN"),
    )


@dataclass(frozen=True, slots=True)
class FrontEndResult:
    """What the front end makes of one recording."""

    conversation: Conversation
    diarization: Diarization


@dataclass
class FrontEnd:
    """Holds loaded backends so a batch of calls reuses one model per stage."""

    tenant: TenantConfig
    transcriber: Transcriber
    mono_diarizer: Diarizer
    diarization_options: DiarizationOptions
    audio_options: AudioOptions = field(default_factory=AudioOptions)
    alignment_options: AlignmentOptions = field(default_factory=AlignmentOptions)
    # Mono roles: "model" (the trained role model; the cue vote if it cannot load) or "cues".
    mono_role_method: str = "model"

    @classmethod
    def for_tenant(cls, tenant: TenantConfig, asr_options: AsrOptions | None = None,
                   mono_diarizer: str | None = None) -> FrontEnd:
        """Build backends from a tenant's config."""
        opts = asr_options or asr_options_for(tenant)
        return cls(
            tenant=tenant,
            transcriber=get_transcriber(tenant.asr.backend, opts),
            mono_diarizer=get_diarizer(mono_diarizer or tenant.diarization.mono_backend),
            diarization_options=diarization_options_for(tenant),
            audio_options=AudioOptions(max_duration_s=tenant.max_duration_s,
                                       damaged_audio=tenant.damaged_audio),
        )

    def prepare(self) -> None:
        """Load the ASR model now rather than on the first call (a backend without a
        ``load()`` method loads on first use). A command can do this while it waits for
        something else, such as Prefect's temporary server.
        """
        load = getattr(self.transcriber, "load", None)
        if callable(load):
            load()

    def load(self, path: str | os.PathLike[str], call_id: str | None = None, *,
             sha256: str | None = None) -> LoadedAudio:
        """Decode and validate a recording against this tenant's limits and channel map
        (``sha256``: the file's hash if already known, so it is not read twice).
        """
        return load_audio(path, self.audio_options,
                          expected_channels=self.tenant.expected_channels, call_id=call_id,
                          sha256=sha256)

    def transcribe(self, audio: LoadedAudio, hook: StageHook | None = None, *,
                   load_s: float = 0.0) -> FrontEndResult:
        """Decoded audio -> conversation (stereo by channel map, mono by diarization) and the
        speaker turns it was built from (the evaluation harness scores them against RTTM).

        Args:
            audio: a recording decoded by :meth:`load`.
            hook: progress callback of the ASR and diarization backends.
            load_s: seconds decoding took, recorded in the provenance.
        """
        timings = {"load": load_s}
        notes = list(audio.notes)  # damage found while decoding
        if audio.num_channels == 2 and self.tenant.channel_layout != "mono":
            try:
                return self._stereo(audio, timings, hook)
            except ChannelLayoutError as e:
                notes.append(f"stereo fallback to mono diarization: {e}")
                logger.info("%s: %s", audio.call_id, e)
        return self._mono(audio, timings, notes, hook)

    def _stereo(self, audio: LoadedAudio, timings: dict[str, float], hook: StageHook | None
                ) -> FrontEndResult:
        diarizer = ChannelDiarizer()
        # A layout that needs the mono path is refused before any ASR runs.
        diarizer.check_layout(audio, self.diarization_options)

        def diarize() -> Diarization:
            t0 = time.perf_counter()
            try:
                return diarizer.turns(audio, hook)
            finally:
                timings["diarization"] = time.perf_counter() - t0

        # The channel VAD (single-threaded ONNX, the GIL released) runs beside the ASR, which
        # leaves part of the CPU idle; its turns are needed only once the words are in.
        timings["diarization"] = 0.0  # set by the thread; here to keep the keys' order
        with ThreadPoolExecutor(1, thread_name_prefix="channel-vad") as pool:
            pending = pool.submit(diarize)
            t0 = time.perf_counter()
            transcripts = [self.transcriber.transcribe(audio.samples[ch], audio.call_id,
                                                       channel=ch, hook=hook)
                           for ch in range(2)]
            timings["asr"] = time.perf_counter() - t0
            diarization = pending.result()
        t0 = time.perf_counter()
        words: list[SpeakerWord] = []
        languages: dict[str, str] = {}
        for ch, transcript in enumerate(transcripts):
            speaker = channel_speaker(ch)
            languages[speaker] = transcript.language
            regions = [(t.start_s, t.end_s) for t in diarization.turns if t.channel == ch]
            words.extend(SpeakerWord(w, speaker, ch)
                         for w in clamp_to_regions(transcript.words, regions))
        utterances = build_utterances(words, languages, self.alignment_options)
        roles = assign_roles_channels([channel_speaker(0), channel_speaker(1)],
                                      self.tenant.agent_channel_index)
        utterances = apply_roles(utterances, roles)
        timings["alignment"] = time.perf_counter() - t0
        provenance = self._provenance(diarization, timings,
                                      f"channel_map(agent={self.tenant.agent_channel})",
                                      list(audio.notes))
        return FrontEndResult(self._conversation(audio, utterances, provenance), diarization)

    def _mono(self, audio: LoadedAudio, timings: dict[str, float], notes: list[str],
              hook: StageHook | None) -> FrontEndResult:
        t0 = time.perf_counter()
        diarization = self.mono_diarizer.diarize(audio, self.diarization_options, hook)
        timings["diarization"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        transcript = self.transcriber.transcribe(audio.mono(), audio.call_id, hook=hook)
        timings["asr"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        regions = [(t.start_s, t.end_s) for t in diarization.turns]
        words = assign_words(clamp_to_regions(transcript.words, regions), diarization.turns,
                             self.alignment_options)
        utterances = build_utterances(words, transcript.language, self.alignment_options)
        timings["alignment"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # The role model embeds the utterances with the shared embedder, whose cache serves
        # the acts / sentiment pass when the call is scored in this process.
        mono_roles = roles_for_mono(utterances, self.tenant, method=self.mono_role_method)
        utterances = apply_roles(utterances, mono_roles.roles)
        timings["roles"] = time.perf_counter() - t0
        notes.extend(mono_roles.notes)
        provenance = self._provenance(diarization, timings, mono_roles.method, notes)
        return FrontEndResult(self._conversation(audio, utterances, provenance), diarization)

    def _provenance(self, diarization: Diarization, timings: dict[str, float], role_method: str,
                    notes: list[str]) -> Provenance:
        return Provenance(
            pipeline_version=__version__,
            diarization_backend=diarization.backend,
            diarization_model_id=diarization.model_id,
            asr_backend=self.transcriber.name,
            asr_model_id=self.transcriber.model_id,
            role_method=role_method,
            processing_s=timings,
            notes=tuple(notes),
        )

    def _conversation(self, audio: LoadedAudio, utterances: tuple, provenance: Provenance  # type: ignore[type-arg]
                      ) -> Conversation:
        counts: Counter[str] = Counter()
        for u in utterances:
            counts[u.language] += len(u.words)
        language = counts.most_common(1)[0][0] if counts else (self.tenant.languages[0])
        return Conversation(
            call_id=audio.call_id,
            tenant_id=self.tenant.id,
            duration_s=audio.duration_s,
            language=language,
            utterances=utterances,
            provenance=provenance,
            sha256=audio.sha256,
            source_path=audio.path,
            channels=audio.num_channels,
        )
