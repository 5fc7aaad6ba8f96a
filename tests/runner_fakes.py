"""A stand-in front end for runner and orchestration tests: real decoding and validation (so
bad audio fails exactly as in production), a scripted transcript instead of Whisper, and a
counter of how often ASR ran.
"""

from __future__ import annotations

import dataclasses
import time

from qa_pipeline.audio.io import AudioOptions, load_audio
from qa_pipeline.frontend import FrontEndResult
from qa_pipeline.types import Diarization, SpeakerTurn
from tests.helpers import make_conversation

CALLS = {"asr": 0}

SCRIPT = (
    ("agent", 0.0, 2.0, "hello thank you for calling"),
    ("customer", 2.5, 4.0, "my parcel is late"),
    ("agent", 4.5, 6.0, "goodbye"),
)


class _Transcriber:
    device = "cpu"


class ScriptedFrontEnd:
    """``script``: ``(role, start_s, end_s, text)`` rows every call is transcribed as."""

    def __init__(self, tenant, _options, delay_s: float = 0.0, script=SCRIPT) -> None:
        self.tenant = tenant
        self.transcriber = _Transcriber()
        self.delay_s = delay_s
        self.script = script

    def load(self, path, call_id=None, *, sha256=None):
        return load_audio(path, AudioOptions(), call_id=call_id, sha256=sha256)

    def transcribe(self, audio, hook=None, *, load_s=0.0):
        CALLS["asr"] += 1
        time.sleep(self.delay_s)
        conv = make_conversation([list(row) for row in self.script],
                                 duration_s=audio.duration_s, call_id=audio.call_id,
                                 tenant_id=self.tenant.id, language="en")
        turns = tuple(SpeakerTurn(start, end, role) for role, start, end, _ in self.script)
        return FrontEndResult(
            dataclasses.replace(conv, sha256=audio.sha256, source_path=audio.path),
            Diarization(audio.call_id, turns, "scripted", "scripted", audio.duration_s))


def scripted_factory(delay_s: float = 0.0, script=SCRIPT):
    return lambda tenant, options: ScriptedFrontEnd(tenant, options, delay_s, script)
