"""A stand-in front end for orchestration tests: real decoding and validation (so bad audio
fails exactly as in production), a scripted transcript instead of Whisper, and a counter
of how often ASR ran.
"""

from __future__ import annotations

import dataclasses
import time

from qa_pipeline.audio.io import AudioOptions, load_audio
from tests.helpers import make_conversation

CALLS = {"asr": 0}


class _Transcriber:
    device = "cpu"


class ScriptedFrontEnd:
    def __init__(self, tenant, _options, delay_s: float = 0.0) -> None:
        self.tenant = tenant
        self.transcriber = _Transcriber()
        self.delay_s = delay_s

    def load_and_transcribe(self, path, call_id=None, sha256=None):
        audio = load_audio(path, AudioOptions(), call_id=call_id, sha256=sha256)
        CALLS["asr"] += 1
        time.sleep(self.delay_s)
        conv = make_conversation([
            ["agent", 0.0, 2.0, "hello thank you for calling"],
            ["customer", 2.5, 4.0, "my parcel is late"],
            ["agent", 4.5, 6.0, "goodbye"],
        ], duration_s=audio.duration_s, call_id=audio.call_id, tenant_id=self.tenant.id,
            language="en")
        return audio, dataclasses.replace(conv, sha256=audio.sha256)


def scripted_factory(delay_s: float = 0.0):
    return lambda tenant, options: ScriptedFrontEnd(tenant, options, delay_s)
