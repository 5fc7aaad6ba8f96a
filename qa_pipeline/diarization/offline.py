"""Offline diarization from shipped weights only.

Silero VAD finds speech; every 1.6 s window of speech (0.4 s hop) is embedded with the GE2E
speaker encoder in one batch; spectral clustering labels the windows; overlapping window
votes label each 10 ms frame; runs of frames become turns. Two speakers by default (a
contact-center call), or estimated by eigengap within min/max.
"""

from __future__ import annotations

import numpy as np

from qa_pipeline.diarization.base import DiarizationOptions
from qa_pipeline.diarization.clustering import cluster_embeddings
from qa_pipeline.diarization.speaker_encoder import FRAMES_PER_SECOND, SpeakerEncoder, mel_frames
from qa_pipeline.hooks import StageHook
from qa_pipeline.types import Diarization, LoadedAudio, SpeakerTurn
from qa_pipeline.vad import speech_regions


def window_starts(first: int, last: int, width: int, hop: int, total: int) -> list[int]:
    """Start frames of embedding windows covering frames ``[first, last)``."""
    length = last - first
    if length <= width:
        centre = (first + last) // 2
        return [int(np.clip(centre - width // 2, 0, max(0, total - width)))]
    starts = list(range(first, last - width + 1, hop))
    if starts[-1] != last - width:
        starts.append(last - width)
    return starts


def frames_to_turns(labels: np.ndarray, regions: list[tuple[int, int]], min_turn_frames: int,
                    duration_s: float) -> list[SpeakerTurn]:
    """Run-length encode frame labels inside speech regions; absorb runs that are too short."""
    turns: list[SpeakerTurn] = []
    for first, last in regions:
        seg = labels[first:last].copy()
        if seg.size == 0:
            continue
        runs = _runs(seg)
        # Relabel short runs with their longer neighbour (a flicker, not a speaker change).
        changed = True
        while changed and len(runs) > 1:
            changed = False
            for i, (_, a, b) in enumerate(runs):
                if b - a < min_turn_frames:
                    left = runs[i - 1] if i > 0 else None
                    right = runs[i + 1] if i + 1 < len(runs) else None
                    neighbour = max((r for r in (left, right) if r), key=lambda r: r[2] - r[1])
                    seg[a:b] = neighbour[0]
                    runs = _runs(seg)
                    changed = True
                    break
        for lab, a, b in runs:
            start = (first + a) / FRAMES_PER_SECOND
            end = min((first + b) / FRAMES_PER_SECOND, duration_s)
            if end > start:
                turns.append(SpeakerTurn(start, end, f"SPEAKER_{lab:02d}"))
    return turns


def fill_short_gaps(turns: list[SpeakerTurn], max_gap_s: float) -> list[SpeakerTurn]:
    """Merge consecutive turns of the same speaker separated by at most ``max_gap_s``."""
    out: list[SpeakerTurn] = []
    for turn in sorted(turns, key=lambda t: t.start_s):
        if out and out[-1].speaker == turn.speaker and turn.start_s - out[-1].end_s <= max_gap_s:
            out[-1] = SpeakerTurn(out[-1].start_s, max(out[-1].end_s, turn.end_s), turn.speaker,
                                  turn.channel)
        else:
            out.append(turn)
    return out


def _runs(seg: np.ndarray) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    start = 0
    for i in range(1, len(seg) + 1):
        if i == len(seg) or seg[i] != seg[start]:
            out.append((int(seg[start]), start, i))
            start = i
    return out


class OfflineDiarizer:
    """VAD + GE2E embeddings + spectral clustering; needs no network."""

    name = "offline"

    def __init__(self, encoder: SpeakerEncoder | None = None) -> None:
        self._encoder = encoder

    @property
    def encoder(self) -> SpeakerEncoder:
        """The speaker encoder (loaded on first use)."""
        if self._encoder is None:
            self._encoder = SpeakerEncoder()
        return self._encoder

    def diarize(
        self, audio: LoadedAudio, options: DiarizationOptions, hook: StageHook | None = None
    ) -> Diarization:
        """Speaker turns of the mono mix."""
        mono = audio.mono()
        model_id = f"silero-vad-v6 + {self.encoder.model_id} + spectral"
        regions_s = speech_regions(mono)
        if hook:
            hook("diarization", completed=1, total=3)
        if not regions_s:
            return Diarization(audio.call_id, (), self.name, model_id, audio.duration_s)
        mel = mel_frames(mono)
        total = mel.shape[0]
        width = int(round(options.window_s * FRAMES_PER_SECOND))
        hop = max(1, int(round(options.hop_s * FRAMES_PER_SECOND)))
        regions = [
            (int(s * FRAMES_PER_SECOND), min(total, int(np.ceil(e * FRAMES_PER_SECOND))))
            for s, e in regions_s
        ]
        regions = [(a, b) for a, b in regions if b > a]
        starts: list[int] = []
        owners: list[int] = []
        for r, (first, last) in enumerate(regions):
            region_starts = window_starts(first, last, width, hop, total)
            starts.extend(region_starts)
            owners.extend([r] * len(region_starts))
        windows = np.stack([_window(mel, s, width) for s in starts])
        embeddings = self.encoder.embed(windows)
        if hook:
            hook("diarization", completed=2, total=3)
        labels = cluster_embeddings(
            embeddings,
            num_speakers=options.num_speakers,
            min_speakers=options.min_speakers or 1,
            max_speakers=options.max_speakers or 8,
        )
        frame_labels = _vote(starts, owners, labels, width, regions, total)
        frame_labels = _snap_changes_to_pauses(frame_labels, regions, mel)
        frame_labels = _relabel_by_first_appearance(frame_labels, regions)
        turns = frames_to_turns(
            frame_labels, regions, int(options.min_turn_s * FRAMES_PER_SECOND), audio.duration_s
        )
        turns = fill_short_gaps(turns, options.fill_gap_s)
        if hook:
            hook("diarization", completed=3, total=3)
        return Diarization(audio.call_id, tuple(turns), self.name, model_id, audio.duration_s)


def _window(mel: np.ndarray, start: int, width: int) -> np.ndarray:
    win = mel[start:start + width]
    if win.shape[0] < width:  # audio shorter than one window: zero-pad
        win = np.pad(win, ((0, width - win.shape[0]), (0, 0)))
    return win


def _vote(starts: list[int], owners: list[int], labels: np.ndarray, width: int,
          regions: list[tuple[int, int]], total: int) -> np.ndarray:
    """Label frames by weighted votes of the windows covering them.

    A window votes only inside its own speech region: a window centred on a short region
    also hears its neighbours across the pause, and would otherwise leak its label there.
    """
    k = int(labels.max()) + 1 if labels.size else 1
    votes = np.zeros((total, k), dtype=np.float64)
    # Triangular weight: a window speaks most reliably for the frames at its centre.
    weight = 1.0 - np.abs(np.linspace(-1.0, 1.0, width)) * 0.9
    for s, owner, lab in zip(starts, owners, labels, strict=True):
        first, last = regions[owner]
        a, b = max(s, first), min(s + width, last, total)
        if b > a:
            votes[a:b, lab] += weight[a - s: b - s]
    out: np.ndarray = votes.argmax(axis=1)
    return out


def _snap_changes_to_pauses(labels: np.ndarray, regions: list[tuple[int, int]], mel: np.ndarray,
                            radius: int = 40) -> np.ndarray:
    """Move each speaker change inside a region to the quietest frame within +-0.4 s.

    Overlapping windows smear a change over about half a window; speakers mostly hand over
    at a short pause, which the frame energy shows.
    """
    out = labels.copy()
    energy = np.log(mel.sum(axis=1) + 1e-10)
    for first, last in regions:
        seg = out[first:last]
        changes = np.flatnonzero(seg[1:] != seg[:-1]) + 1
        for c in (int(x) for x in changes):
            lo, hi = max(1, c - radius), min(len(seg) - 1, c + radius)
            if hi <= lo:
                continue
            quiet = lo + int(np.argmin(energy[first + lo: first + hi]))
            before, after = seg[c - 1], seg[c]
            if quiet < c:
                seg[quiet:c] = after
            elif quiet > c:
                seg[c:quiet] = before
        out[first:last] = seg
    return out


def _relabel_by_first_appearance(labels: np.ndarray, regions: list[tuple[int, int]]
                                 ) -> np.ndarray:
    order: dict[int, int] = {}  # old label -> new label
    for first, last in regions:
        for lab in labels[first:last]:
            order.setdefault(int(lab), len(order))
    mapping = np.arange(max(order, default=0) + 1)
    for old, new in order.items():
        mapping[old] = new
    out: np.ndarray = mapping[labels]
    return out
