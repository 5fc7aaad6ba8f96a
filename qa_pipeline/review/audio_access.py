"""Where a call's recording lies, for serving and clipping: only local files inside the
configured audio roots. The path comes from the store (what the batch recorded), never from
a request, and is resolved (symlinks included) before the containment check, so neither a
crafted call id nor a link inside a root can reach other files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from qa_pipeline.errors import NotFoundError
from qa_pipeline.privacy import RedactedSpan


def recording_path(source_uri: str, roots: Sequence[Path], base_dir: Path) -> Path:
    """The local file of a recording.

    Raises:
        NotFoundError: not a local file, outside every root, or missing.
    """
    if not source_uri:
        raise NotFoundError("the call has no recording")
    parsed = urlparse(source_uri)
    if parsed.scheme == "file":
        raw = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # s3://, gs://, http:// ... (not C:)
        raise NotFoundError("the recording is not a local file")
    else:
        raw = Path(source_uri)
    path = (raw if raw.is_absolute() else base_dir / raw).resolve()
    if not any(path.is_relative_to(r.resolve()) for r in roots):
        raise NotFoundError("the recording is outside the served audio folders")
    if not path.is_file():
        raise NotFoundError("the recording is missing")
    return path


def clip_wav(path: Path, start_s: float, end_s: float,
             beeps: Sequence[RedactedSpan] = ()) -> bytes:
    """``[start_s, end_s)`` of a recording as a WAV file (original rate and channels), with
    ``beeps`` (call times) beeped over.
    """
    import dataclasses

    import numpy as np
    import soundfile as sf

    from qa_pipeline.privacy import redact_audio

    with sf.SoundFile(str(path)) as f:
        rate = f.samplerate
        first = max(0, int(start_s * rate))
        last = f.frames if end_s == float("inf") else min(f.frames,
                                                          max(first + 1, int(end_s * rate)))
        f.seek(first)
        data = f.read(last - first, dtype="float32", always_2d=True)
    if beeps:
        offset = first / rate
        shifted = [dataclasses.replace(b, start_s=b.start_s - offset, end_s=b.end_s - offset)
                   for b in beeps]
        data = redact_audio(data.T, rate, shifted).T
    out = io.BytesIO()
    sf.write(out, np.clip(data, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()
