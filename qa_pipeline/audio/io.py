"""Decode a recording from any supported container into a validated :class:`LoadedAudio`.

WAV (PCM 16/24/32, float, mu-law, A-law), FLAC and OGG go through libsndfile; MP3, M4A/AAC,
Opus and anything libsndfile rejects go through FFmpeg (PyAV). Both paths decode in blocks of
:data:`BLOCK_FRAMES` source frames and resample each block as it arrives (a streaming soxr
resampler), writing into one float32 ``(channels, time)`` array at the working rate that is
allocated once from the header's length. Peak memory is therefore bounded by the 16 kHz
output (``4 bytes x channels x 16,000 x seconds``: 1.8 GB for four hours of stereo), plus
one block, whatever the source rate; the source is never held whole.

Damage that does not stop decoding is detected and recorded rather than hidden: a WAV whose
header declares more data than the file holds, a compressed file whose decoding stops early
or yields less audio than its header states. Per :attr:`AudioOptions.damaged_audio` such a
file is loaded with a note (:attr:`LoadedAudio.notes`; the scorecard then needs review) or
refused with :class:`~qa_pipeline.errors.DamagedAudioError` (the batch quarantines it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa_pipeline.audio import checks
from qa_pipeline.errors import AudioDecodeError, AudioError, DamagedAudioError, EmptyAudioError
from qa_pipeline.types import LoadedAudio

logger = logging.getLogger(__name__)

WORKING_SAMPLE_RATE_HZ = 16_000
# Source frames decoded and resampled at a time (about 1.4 s at 48 kHz).
BLOCK_FRAMES = 65_536


@dataclass(frozen=True, slots=True)
class AudioOptions:
    """Limits and target format for ingest."""

    target_sample_rate_hz: int = WORKING_SAMPLE_RATE_HZ
    min_duration_s: float = 1.0
    max_duration_s: float = 4 * 3600.0
    min_sample_rate_hz: int = 8_000
    max_sample_rate_hz: int = 48_000
    max_file_bytes: int = 2 * 1024**3
    # Peak level below which a recording counts as digital silence.
    silence_peak_dbfs: float = -70.0
    max_channels: int = 2
    # A truncated file, or one whose header claims more audio than it holds: "review" loads
    # what is there with a note (the call is scored and needs review), "quarantine" refuses
    # it (DamagedAudioError).
    damaged_audio: Literal["review", "quarantine"] = "review"
    # Decoded audio this much shorter than the header states is damage (codec padding and
    # rounding stay far below it).
    missing_tolerance_s: float = 0.5


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's content (the call's identity)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class AudioHeader:
    """What a recording's container says about it (nothing decoded)."""

    path: str
    size_bytes: int
    sample_rate_hz: int
    channels: int
    duration_s: float
    source_format: str


def probe_audio(
    path: str | os.PathLike[str],
    options: AudioOptions | None = None,
    *,
    expected_channels: int | None = None,
) -> AudioHeader:
    """Validate a recording from its size and container header only (milliseconds): batch
    runs quarantine empty, corrupt, too long / short, wrong-rate and wrong-layout files this
    way before any model is loaded. :func:`load_audio` still checks the decoded signal.

    Raises:
        AudioError: a subclass naming exactly what is wrong with the file.
    """
    opts = options or AudioOptions()
    p = Path(path)
    name = str(p)
    size = _checked_size(p, opts)
    rate, channels, duration_s, fmt = _header(p)
    checks.check_header(rate, channels, duration_s, opts, name)
    checks.check_channels(channels, opts, name, expected_channels)
    if duration_s > 0:  # some containers (raw MP3 streams) carry no duration
        checks.check_duration(duration_s, opts, name)
    return AudioHeader(name, size, rate, channels, duration_s, fmt)


def _header(path: Path) -> tuple[int, int, float, str]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - libsndfile rejects the container: ask FFmpeg
        return _header_ffmpeg(path)
    if info.frames == 0:
        raise EmptyAudioError("the file holds no audio frames", path=str(path))
    return (int(info.samplerate), int(info.channels), info.frames / max(info.samplerate, 1),
            f"{info.format}/{info.subtype}".lower())


def _header_ffmpeg(path: Path) -> tuple[int, int, float, str]:
    with _open_ffmpeg(path) as container:
        rate, channels, duration_s = _stream_format(container.streams.audio[0], path)
        codec = getattr(container.streams.audio[0].codec_context, "name", "?")
        return rate, channels, duration_s, f"{container.format.name}/{codec}"


def _checked_size(path: Path, opts: AudioOptions) -> int:
    """The file's size, after refusing unreadable, empty and oversized files."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioDecodeError(f"cannot read file: {e.strerror}", path=str(path)) from e
    if size == 0:
        raise EmptyAudioError("file is empty (0 bytes)", path=str(path))
    checks.check_file_size(size, opts.max_file_bytes, str(path))
    return size


def _open_ffmpeg(path: Path) -> Any:
    """An opened PyAV container that has an audio stream (callers close it)."""
    import av

    try:
        container = av.open(str(path))
    except Exception as e:
        raise AudioDecodeError(f"not a readable audio file ({type(e).__name__}: {e})",
                               path=str(path)) from e
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError("file has no audio stream", path=str(path))
    return container


def _stream_format(stream: Any, path: Path) -> tuple[int, int, float]:
    """(sample rate, channels, header duration) of an FFmpeg audio stream. A broken header
    can make PyAV raise AttributeError / ValueError on these fields (found by fuzzing):
    that is a corrupt file, not a crash.
    """
    try:
        ctx = stream.codec_context
        rate = int(getattr(stream, "rate", None) or getattr(ctx, "sample_rate", None) or 0)
        channels = int(getattr(ctx, "channels", None) or 0)
        duration_s = (float(stream.duration * stream.time_base)
                      if stream.duration and stream.time_base else 0.0)
    except (AttributeError, ValueError, TypeError, OverflowError) as e:
        raise AudioDecodeError(f"unreadable stream header ({type(e).__name__}: {e})",
                               path=str(path)) from e
    return rate, channels, duration_s


def load_audio(
    path: str | os.PathLike[str],
    options: AudioOptions | None = None,
    *,
    expected_channels: int | None = None,
    call_id: str | None = None,
    sha256: str | None = None,
) -> LoadedAudio:
    """Decode, validate and resample one recording, block by block.

    Args:
        path: audio file.
        options: ingest limits; defaults to :class:`AudioOptions`.
        expected_channels: channel count the tenant's channel map requires (None: any).
        call_id: identity to record; defaults to the first 16 hex digits of the sha256.
        sha256: the file's hash when the caller already computed it (batch runs hash every
            file while planning); otherwise the file is hashed here.

    Raises:
        AudioError: a subclass naming exactly what is wrong with the file
            (:class:`~qa_pipeline.errors.DamagedAudioError` for a truncated file when
            ``options.damaged_audio`` is ``"quarantine"``).
    """
    opts = options or AudioOptions()
    p = Path(path)
    name = str(p)
    size = _checked_size(p, opts)
    digest = sha256 or sha256_file(p)

    decoded = _decode(p, opts)
    checks.check_decoded(decoded.stats, decoded.source_rate_hz, opts, name, expected_channels)
    notes = decoded.damage
    wav_note = wav_data_shortfall(p, size)
    if wav_note:
        notes = (wav_note, *notes)
    if notes:
        if opts.damaged_audio == "quarantine":
            raise DamagedAudioError("; ".join(notes), path=name)
        logger.warning("%s: %s", name, "; ".join(notes))
    return LoadedAudio(
        call_id=call_id or digest[:16],
        path=name,
        samples=np.ascontiguousarray(decoded.samples, dtype=np.float32),
        sample_rate_hz=opts.target_sample_rate_hz,
        source_sample_rate_hz=decoded.source_rate_hz,
        source_format=decoded.source_format,
        sha256=digest,
        notes=tuple(checks.damage_note(n) for n in notes),
    )


@dataclass(frozen=True, slots=True)
class _Decoded:
    """A decoded recording at the working rate, with what was learnt on the way."""

    samples: np.ndarray
    source_rate_hz: int
    source_format: str
    stats: checks.SignalStats
    damage: tuple[str, ...]


class _Output:
    """The working-rate signal, allocated once from the expected length (grown only when a
    header understated it), filled block by block.
    """

    def __init__(self, channels: int, expected_frames: int) -> None:
        self.data = np.empty((channels, max(expected_frames, 1)), dtype=np.float32)
        self.frames = 0

    def append(self, block: np.ndarray) -> None:
        """Append ``(frames, channels)`` samples."""
        n = block.shape[0]
        if self.frames + n > self.data.shape[1]:
            capacity = max(self.frames + n, self.data.shape[1] * 3 // 2)
            grown = np.empty((self.data.shape[0], capacity), dtype=np.float32)
            grown[:, :self.frames] = self.data[:, :self.frames]
            self.data = grown
        self.data[:, self.frames:self.frames + n] = block.T
        self.frames += n

    def result(self) -> np.ndarray:
        """The filled part (no copy when the header's length was right)."""
        if self.frames == self.data.shape[1]:
            return self.data
        return np.ascontiguousarray(self.data[:, :self.frames])


def _stream(blocks: Iterable[np.ndarray], rate: int, channels: int, header_frames: int,
            opts: AudioOptions, path: Path) -> tuple[np.ndarray, checks.SignalStats, str]:
    """Resample ``(frames, channels)`` float32 blocks to the working rate as they come.

    Returns the signal, its statistics (at the source rate) and, when decoding failed after
    some audio, why it stopped ('' otherwise).
    """
    import soxr

    target = opts.target_sample_rate_hz
    out = _Output(channels, int(header_frames * target / rate + 0.5) if rate > 0 else 0)
    stream = (soxr.ResampleStream(rate, target, channels, dtype="float32", quality="HQ")
              if rate != target else None)
    stats = checks.SignalStats()
    stopped = ""
    try:
        for block in blocks:
            if block.shape[1] != channels:
                raise AudioDecodeError(f"a block has {block.shape[1]} channels, the header "
                                       f"{channels}", path=str(path))
            stats.add(block)
            if stats.frames / rate > opts.max_duration_s:  # refuse before decoding it all
                checks.check_duration(stats.frames / rate, opts, str(path))
            out.append(stream.resample_chunk(block) if stream is not None else block)
    except AudioError:  # ours (too long, inconsistent channels): not a decoder failure
        raise
    except Exception as e:  # noqa: BLE001 - the decoder's own errors: corrupt or truncated data
        if stats.frames == 0:
            raise AudioDecodeError(f"corrupt or truncated audio data ({e})", path=str(path)) from e
        stopped = f"decoding stopped after {stats.frames / rate:.1f} s ({type(e).__name__}: {e})"
    if stream is not None:
        out.append(stream.resample_chunk(np.zeros((0, channels), np.float32), last=True))
    return out.result(), stats, stopped


def _shortfall(header_s: float, decoded_s: float, opts: AudioOptions) -> str:
    """A note when the decoded audio is clearly shorter than the header says ('' if not)."""
    if header_s > 0 and header_s - decoded_s > max(opts.missing_tolerance_s, 0.01 * header_s):
        return (f"the header states {header_s:.1f} s but only {decoded_s:.1f} s could be "
                "decoded (truncated file)")
    return ""


def _decode(path: Path, opts: AudioOptions) -> _Decoded:
    """Decode with libsndfile, falling back to FFmpeg."""
    import soundfile as sf

    try:
        sound = sf.SoundFile(str(path))
    except Exception as sf_error:  # libsndfile rejects the container: try FFmpeg
        logger.debug("libsndfile cannot open %s (%s); trying FFmpeg", path, sf_error)
        return _decode_ffmpeg(path, opts)
    with sound:
        rate, channels, frames = int(sound.samplerate), int(sound.channels), int(sound.frames)
        checks.check_header(rate, channels, frames / max(rate, 1), opts, str(path))
        fmt = f"{sound.format}/{sound.subtype}".lower()
        samples, stats, stopped = _stream(_sndfile_blocks(sound), rate, channels, frames,
                                          opts, path)
    damage = tuple(n for n in (stopped, _shortfall(frames / rate, stats.frames / rate, opts))
                   if n)
    return _Decoded(samples, rate, fmt, stats, damage)


def _sndfile_blocks(sound: Any) -> Iterator[np.ndarray]:
    """``(frames, channels)`` float32 blocks of an open SoundFile, until the data ends.

    Not ``SoundFile.blocks``: it trusts the header's frame count and, when the data ends
    sooner (a truncated MP3), yields its stale buffer again instead of stopping.
    """
    while True:
        block = sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            return
        yield block


def _ffmpeg_blocks(container: Any, stream: Any, rate: int, path: Path
                   ) -> Iterator[np.ndarray]:
    """``(frames, channels)`` float32 blocks of an FFmpeg audio stream at its own rate."""
    import av

    try:
        # Planar float keeps channels apart whatever the codec's native sample format.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
    except ValueError as e:  # a bad layout (found by fuzzing)
        raise AudioDecodeError(f"corrupt audio stream ({e})", path=str(path)) from e
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray().T
    for out in resampler.resample(None):
        yield out.to_ndarray().T


def _decode_ffmpeg(path: Path, opts: AudioOptions) -> _Decoded:
    with _open_ffmpeg(path) as container:
        stream = container.streams.audio[0]
        rate, channels, header_duration_s = _stream_format(stream, path)
        checks.check_header(rate, channels, header_duration_s, opts, str(path))
        samples, stats, stopped = _stream(_ffmpeg_blocks(container, stream, rate, path), rate,
                                          channels, int(header_duration_s * rate), opts, path)
        fmt = f"{container.format.name}/{stream.codec_context.name}"
    if stats.frames == 0:
        raise EmptyAudioError("no audio frames could be decoded", path=str(path))
    damage = tuple(n for n in (stopped, _shortfall(header_duration_s, stats.frames / rate, opts))
                   if n)
    return _Decoded(samples, rate, fmt, stats, damage)


def wav_data_shortfall(path: str | os.PathLike[str], size_bytes: int | None = None) -> str:
    """Why a RIFF/WAVE file's ``data`` chunk is incomplete ('' when it is complete, or the
    file is no plain WAV). libsndfile quietly plays what is there, so a header declaring
    more data than the file holds is only visible here.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return ""
            size = size_bytes if size_bytes is not None else os.fstat(fh.fileno()).st_size
            offset, block_align, rate = 12, 0, 0
            for _ in range(1024):  # chunks before the data: fmt, fact, LIST, bext, ...
                fh.seek(offset)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return ""
                cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt " and csize >= 16:
                    fmt = fh.read(16)
                    if len(fmt) == 16:
                        _, _, rate, _, block_align = struct.unpack("<HHIIH", fmt[:14])
                elif cid == b"data":
                    available = size - offset - 8
                    # 0 and 0xFFFFFFFF are "length unknown" placeholders of streaming writers.
                    if csize in (0, 0xFFFFFFFF) or csize <= available:
                        return ""
                    missing = csize - available
                    per_s = block_align * rate
                    span = f" ({missing / per_s:.1f} s of audio)" if per_s > 0 else ""
                    return (f"the WAV header declares {csize} bytes of audio data but the file "
                            f"holds {available}: {missing} bytes{span} are missing "
                            "(truncated file)")
                offset += 8 + csize + (csize & 1)
    except OSError:
        return ""
    return ""
