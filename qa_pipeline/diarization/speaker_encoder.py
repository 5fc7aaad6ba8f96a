"""GE2E speaker encoder (Resemblyzer's architecture and weights), batched.

Only the weight file of the ``resemblyzer`` package is used: its Python module imports
``webrtcvad`` -> ``pkg_resources``, which current setuptools no longer ships.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

from qa_pipeline import weights
from qa_pipeline.errors import BackendUnavailableError

SAMPLE_RATE_HZ = 16_000
MEL_WINDOW_SAMPLES = 400  # 25 ms
MEL_HOP_SAMPLES = 160  # 10 ms
MEL_CHANNELS = 40
FRAMES_PER_SECOND = SAMPLE_RATE_HZ / MEL_HOP_SAMPLES


def mel_frames(samples_16k: np.ndarray) -> np.ndarray:
    """Mel power spectrogram, ``(frames, 40)`` float32, 10 ms hop (the encoder's input)."""
    import librosa

    # Resemblyzer normalises quiet input up to -30 dBFS; telephone audio is often quieter.
    wav = np.asarray(samples_16k, dtype=np.float32)
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) if wav.size else 0.0
    if rms > 0:
        gain = 10 ** ((-30.0 - 20 * np.log10(rms)) / 20)
        if gain > 1.0:
            wav = wav * gain
    mel = librosa.feature.melspectrogram(
        y=wav, sr=SAMPLE_RATE_HZ, n_fft=MEL_WINDOW_SAMPLES, hop_length=MEL_HOP_SAMPLES,
        n_mels=MEL_CHANNELS,
    )
    return np.ascontiguousarray(mel.astype(np.float32).T)


def release_encoder() -> None:
    """Drop the cached encoder (batch runs release a stage's models before the next)."""
    _load.cache_clear()


@lru_cache(maxsize=2)
def _load(path: str, device: str) -> tuple[Any, threading.Lock]:
    try:
        import torch
        from torch import nn
    except ImportError as e:
        raise BackendUnavailableError("the speaker encoder needs torch installed") from e

    class _GE2E(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(MEL_CHANNELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)
            self.relu = nn.ReLU()

        def forward(self, mels: Any) -> Any:
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-8)

    model = _GE2E()
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["model_state"], strict=False)
    model.eval().to(device)
    return model, threading.Lock()


class SpeakerEncoder:
    """Embeds fixed-length mel windows into 256-d unit vectors."""

    def __init__(self, model: str = "resemblyzer-ge2e", device: str = "cpu") -> None:
        self._resolved = weights.resolve("speaker_encoder", model)
        self.device = device
        self.model_id = self._resolved.model_id

    def embed(self, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``windows``: ``(n, frames, 40)`` mel windows -> ``(n, 256)`` embeddings.

        All windows go through the LSTM in large batches: per-window calls are 20-40x slower.
        """
        import torch

        model, lock = _load(str(self._resolved.path), self.device)
        out = []
        with lock, torch.inference_mode():
            for i in range(0, len(windows), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size]))
                out.append(model(batch.to(self.device)).cpu().numpy())
        if not out:
            return np.zeros((0, 256), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)
