"""Any transformers sequence-classification model as a sentiment classifier.

The model is given as a hub id, a name registered under ``sentiment`` in models/manifest.yaml,
or a local directory. Its labels are mapped onto negative / neutral / positive by name
(``negative``/``neg``, star ratings, common emotion names, or ``LABEL_0..2`` in
negative..positive order); anything else needs an explicit ``label_map``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qa_pipeline.errors import BackendUnavailableError, ConfigError, ModelUnavailableError
from qa_pipeline.sentiment.base import LABELS, Label

_BY_NAME: dict[str, Label] = {
    "negative": "negative", "neg": "negative", "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive", "very negative": "negative",
    "very positive": "positive",
    # Emotion classifiers: valence of the common label sets (Ekman, GoEmotions-style).
    "anger": "negative", "angry": "negative", "disgust": "negative", "fear": "negative",
    "sad": "negative", "sadness": "negative", "annoyance": "negative",
    "disappointment": "negative", "joy": "positive", "happy": "positive",
    "happiness": "positive", "love": "positive", "gratitude": "positive",
    "surprise": "neutral", "other": "neutral", "none": "neutral",
}
_STARS = re.compile(r"^([1-5])\s*stars?$")
_GENERIC = re.compile(r"^label_(\d+)$")


def map_labels(id2label: Mapping[int, str], label_map: Mapping[str, Label]) -> np.ndarray:
    """A ``(num_model_labels, 3)`` 0/1 matrix folding model classes onto ours.

    Raises:
        ConfigError: a model label cannot be mapped (the message lists them all).
    """
    names = [id2label[i] for i in sorted(id2label)]
    folded = np.zeros((len(names), len(LABELS)), dtype=np.float32)
    generic = all(_GENERIC.match(n.lower()) for n in names) and len(names) in (2, 3)
    unknown = []
    for i, name in enumerate(names):
        key = name.strip().lower()
        target: Label | None = label_map.get(name) or label_map.get(key) or _BY_NAME.get(key)
        if target is None and (stars := _STARS.match(key)):
            n = int(stars.group(1))
            target = "negative" if n <= 2 else "neutral" if n == 3 else "positive"
        if target is None and generic:
            target = ("negative", "positive")[i] if len(names) == 2 else LABELS[i]
        if target is None:
            unknown.append(name)
            continue
        folded[i, LABELS.index(target)] = 1.0
    if unknown:
        raise ConfigError(
            f"cannot map the model's labels {unknown} (all labels: {names}) onto negative / "
            f"neutral / positive; set sentiment.label_map")
    return folded


class TransformersClassifier:
    """Batched inference with ``AutoModelForSequenceClassification`` on CPU or GPU."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 32,
                 max_length_tokens: int = 128, label_map: Mapping[str, Label] | None = None,
                 ) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as e:
            raise BackendUnavailableError(
                "the transformers sentiment backend needs `pip install transformers`") from e
        from qa_pipeline import weights

        self._torch = torch
        path, self.model_id = _resolve(model, weights)
        self._device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" \
            else device
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path))
            net = AutoModelForSequenceClassification.from_pretrained(str(path))
        except (OSError, ValueError) as e:
            raise ModelUnavailableError(f"cannot load sentiment model {model!r} from {path}: "
                                        f"{e}") from e
        if self._device.startswith("cuda"):
            net = net.half()  # fp16 halves memory and doubles throughput on GPU nodes
        self._model: Any = net.to(self._device).eval()
        self._fold = torch.from_numpy(map_labels(net.config.id2label, label_map or {}))
        self._batch_size = max(1, batch_size)
        self._max_length = max_length_tokens

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text (batches of similar length)."""
        out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        torch = self._torch
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                chunk = order[start:start + self._batch_size]
                enc = self._tokenizer([texts[i] or " " for i in chunk], padding=True,
                                      truncation=True, max_length=self._max_length,
                                      return_tensors="pt").to(self._device)
                probs = torch.softmax(self._model(**enc).logits.float(), dim=-1).cpu()
                out[chunk] = (probs @ self._fold).numpy()
        return out


def _resolve(model: str, weights: Any) -> tuple[Any, str]:
    """(local path, provenance id) for a registered name, a local directory or a hub id."""
    try:
        resolved = weights.resolve("sentiment", model)
    except ModelUnavailableError:
        if "/" not in model or model.startswith((".", "/", "~")):
            raise
        resolved = weights.resolve_hub(model)
    return resolved.path, f"transformers:{resolved.model_id}"
