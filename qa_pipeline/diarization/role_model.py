"""Agent / customer roles of mono speakers from a trained utterance model.

Each utterance's sentence embedding (multilingual-e5-small, the embedder the acts and sentiment
share) goes through a logistic head trained on the act corpus's role column: the log-odds that
an agent said it. Per speaker the clipped log-odds are summed; a small calibration (fitted by
``python -m qa_pipeline.diarization.role_train``) weighs that text evidence against who speaks
first, the tenant's greeting / company phrases in the speaker's opening and the hand-written
cue vote of :func:`~qa_pipeline.diarization.roles.speaker_scores`, and gives the log-odds that
this speaker rather than the other is the agent. Its logistic is the assignment's confidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.diarization.roles import UNKNOWN_SPEAKER, RoleAssignment, speaker_scores
from qa_pipeline.errors import ModelIntegrityError, ModelUnavailableError
from qa_pipeline.rubric.embeddings import Embedder, default_embedder
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.types import Role, Utterance

WEIGHTS_PATH = Path(__file__).with_name("weights") / "roles_e5small_head.npz"
MODEL_NAME = "roles-e5small-head"
# One utterance may not outvote a whole call: a single strongly "agent-like" line said by a
# customer (quoting the agent, a polite caller) moves the sum by at most this much.
UTTERANCE_LOGIT_CLIP = 3.0
# Tenant phrases counted in a speaker's opening (first two utterances), at most this many.
OPENING_UTTERANCES = 2
MAX_TENANT_CUES = 3
# A lone speaker's role is a guess from the text alone (as the cue vote's 0.6).
SINGLE_SPEAKER_CONFIDENCE = 0.6
#: Speaker features, in the order of the calibration weights.
FEATURES = ("text_log_odds", "speaks_first", "tenant_opening_cues", "cue_vote")


@dataclass(frozen=True, slots=True)
class RoleHead:
    """The fitted parameters: the utterance head and the speaker-level calibration."""

    weight: np.ndarray  # (embedding dim,)
    bias: float
    calibration: np.ndarray  # (len(FEATURES),) weights of the speaker features

    def __post_init__(self) -> None:
        if self.weight.ndim != 1 or self.calibration.shape != (len(FEATURES),):
            raise ModelIntegrityError(
                f"role head shapes {self.weight.shape}, {self.calibration.shape}; expected "
                f"(dim,), ({len(FEATURES)},)")


def utterance_log_odds(head: RoleHead, vectors: np.ndarray) -> np.ndarray:
    """Per utterance, the log-odds that an agent said it (unclipped).

    Raises:
        ModelIntegrityError: the vectors' width is not the head's.
    """
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[1] != head.weight.shape[0]:
        raise ModelIntegrityError(f"role head expects {head.weight.shape[0]}-dim vectors, "
                                  f"got shape {vectors.shape}")
    out: np.ndarray = np.asarray(vectors, dtype=np.float64) @ head.weight + head.bias
    return out


def tenant_cues(tenant: TenantConfig) -> tuple[str, ...]:
    """The tenant's greeting and company phrases, lower-cased."""
    return tuple(p.lower() for p in (*tenant.greeting_phrases, *tenant.company_names) if p)


def speaker_features(utterances: Sequence[Utterance], log_odds: np.ndarray,
                     tenant: TenantConfig) -> dict[str, np.ndarray]:
    """Per known speaker, the :data:`FEATURES` vector (speakers in order of first word)."""
    cues = tenant_cues(tenant)
    # The hand-written cue vote, without its own first-speaker bonus (a feature of its own).
    votes = speaker_scores(tuple(utterances), tenant, first_speaker_bonus=0.0)
    clipped = np.clip(log_odds, -UTTERANCE_LOGIT_CLIP, UTTERANCE_LOGIT_CLIP)
    rows: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        if u.speaker != UNKNOWN_SPEAKER:
            rows.setdefault(u.speaker, []).append(i)
    out = {}
    for n, (speaker, idx) in enumerate(rows.items()):
        opening = " ".join(utterances[i].text for i in idx[:OPENING_UTTERANCES]).lower()
        n_cues = min(sum(opening.count(c) for c in cues), MAX_TENANT_CUES)
        out[speaker] = np.array([float(clipped[idx].sum()), 1.0 if n == 0 else 0.0,
                                 float(n_cues), votes[speaker]])
    return out


def assign_from_features(features: dict[str, np.ndarray], calibration: np.ndarray
                         ) -> dict[str, RoleAssignment]:
    """Roles from speaker features: the highest calibrated score is the agent, its margin over
    the runner-up the confidence. With more than two speakers only those whose text reads as a
    customer's are labelled customer; the rest stay unknown.
    """
    if not features:
        return {}
    scores = {s: float(f @ calibration) for s, f in features.items()}
    ranked = sorted(scores, key=lambda s: scores[s], reverse=True)
    agent = ranked[0]
    if len(ranked) == 1:
        # Nothing to compare against (the calibration is of differences between speakers):
        # the sign of the text evidence decides, and the confidence stays under review level.
        role = Role.AGENT if features[agent][0] >= 0 else Role.CUSTOMER
        return {agent: RoleAssignment(agent, role, SINGLE_SPEAKER_CONFIDENCE, scores[agent])}
    margin = scores[agent] - scores[ranked[1]]
    confidence = float(1.0 / (1.0 + np.exp(-margin)))
    out = {agent: RoleAssignment(agent, Role.AGENT, confidence, scores[agent])}
    for other in ranked[1:]:
        if len(ranked) == 2 or features[other][0] < 0:
            out[other] = RoleAssignment(other, Role.CUSTOMER, confidence, scores[other])
        else:
            out[other] = RoleAssignment(other, Role.UNKNOWN, 0.0, scores[other])
    return out


class RoleModel:
    """The packaged role head with the embedder it was trained on."""

    def __init__(self, head: RoleHead, *, model_id: str, embedder_id: str,
                 embedder_factory: Callable[[], Embedder] = default_embedder) -> None:
        self.head = head
        self.model_id = model_id
        self.embedder_id = embedder_id
        self._embedder_factory = embedder_factory

    def embed(self, utterances: Sequence[Utterance]) -> np.ndarray:
        """The utterances' vectors from the shared embedder (its cache lets the later acts /
        sentiment pass of the same process reuse them).

        Raises:
            ModelUnavailableError: the embedder is not the one the head was trained on.
        """
        embedder = self._embedder_factory()
        if embedder.model_id != self.embedder_id:
            raise ModelUnavailableError(
                f"role head {self.model_id} was trained on {self.embedder_id}, "
                f"not {embedder.model_id}")
        return embedder.embed([u.text for u in utterances])

    def assign(self, utterances: Sequence[Utterance], tenant: TenantConfig,
               vectors: np.ndarray | None = None) -> dict[str, RoleAssignment]:
        """Roles of the call's speakers (``vectors``: the utterances' embeddings if known)."""
        if not utterances:
            return {}
        if vectors is None:
            vectors = self.embed(utterances)
        log_odds = utterance_log_odds(self.head, vectors)
        return assign_from_features(speaker_features(utterances, log_odds, tenant),
                                    self.head.calibration)


def save_role_head(path: Path, head: RoleHead, embedder_id: str, corpus_sha256: str) -> None:
    """Write the weights file read by :func:`load_role_model`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, weight=head.weight.astype(np.float32),
                        bias=np.array(head.bias, dtype=np.float64),
                        calibration=head.calibration.astype(np.float64),
                        features=np.array(FEATURES), embedder_id=np.array(embedder_id),
                        corpus_sha256=np.array(corpus_sha256))


def load_role_model(path: Path = WEIGHTS_PATH,
                    embedder_factory: Callable[[], Embedder] = default_embedder) -> RoleModel:
    """Load a role head written by ``python -m qa_pipeline.diarization.role_train``.

    Raises:
        ModelUnavailableError: the file is missing or malformed (ModelIntegrityError: wrong
            shapes or features).
    """
    try:
        with np.load(path) as data:
            features = tuple(str(f) for f in data["features"])
            head = RoleHead(weight=data["weight"].astype(np.float64),
                            bias=float(data["bias"]),
                            calibration=data["calibration"].astype(np.float64))
            embedder_id = str(data["embedder_id"])
    except (OSError, KeyError, ValueError) as e:
        raise ModelUnavailableError(
            f"role head {path} is missing or malformed; rebuild it with "
            f"`python -m qa_pipeline.diarization.role_train`") from e
    if features != FEATURES:
        raise ModelIntegrityError(f"role head {path} uses features {features}, "
                                  f"expected {FEATURES}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return RoleModel(head, model_id=f"{MODEL_NAME}@{digest}", embedder_id=embedder_id,
                     embedder_factory=embedder_factory)


@lru_cache(maxsize=1)
def load_embedded_role_model() -> RoleModel:
    """The packaged role model (offline; loaded once per process)."""
    return load_role_model()


def role_model_card(path: Path = WEIGHTS_PATH) -> dict[str, Any]:
    """The training record written next to the weights."""
    card = path.with_suffix(".json")
    data: dict[str, Any] = json.loads(card.read_text(encoding="utf-8")) if card.exists() else {}
    return data
