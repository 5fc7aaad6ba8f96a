"""Map speakers to agent / customer roles, each with a confidence.

Stereo: the tenant's channel map decides (confidence 1). Mono: the trained role model
(:mod:`qa_pipeline.diarization.role_model`: an utterance head on the shared sentence
embedding, summed per speaker, calibrated with who speaks first, the tenant's opening phrases
and the cue vote below) when it and its embedder load; otherwise the text cues alone vote —
who speaks first, the tenant's greeting and company phrases, agent-style service questions and
customer-style requests. Either way the margin between the two best candidates sets the
confidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qa_pipeline.errors import (
    BackendUnavailableError,
    ModelUnavailableError,
    UnknownBackendError,
)
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.types import Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.diarization.role_model import RoleModel

UNKNOWN_SPEAKER = "unknown"

# Generic cues (lower-cased, matched as substrings). Tenant greeting/company phrases add to
# the agent cues with a higher weight.
AGENT_CUES = (
    "您好", "你好", "很高兴为您服务", "请问", "有什么可以帮", "为您", "帮您", "给您", "请稍等",
    "感谢您的来电", "还有其他", "工号", "客服", "核实", "您看", "您这边", "麻烦您",
    "thank you for calling", "how can i help", "how may i help", "what can i do for you",
    "may i have", "can i have", "could you please", "is there anything else", "anything else",
    "let me check", "please hold", "speaking", "my name is", "i can help", "your account",
    "your order", "for calling", "do you have any", "are you looking for", "would you like",
    "how many", "for you", "options for you", "i have booked", "your reference",
)
CUSTOMER_CUES = (
    "我想", "我要", "我的", "我买", "我在", "我刚", "怎么回事", "为什么", "投诉", "退款", "还没",
    "帮我", "能不能", "i want", "i'd like", "i would like", "i need", "my order", "my account",
    "i'm looking", "i am looking", "can you help me", "i have a problem", "i called",
    "can you book", "can you find", "i hope", "for me", "i'm traveling", "i am traveling",
)
_YOU = re.compile(r"\b(you|your|yours)\b|您")
_I = re.compile(r"\b(i|i'm|my|me|mine)\b|我")


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """The role chosen for one speaker."""

    speaker: str
    role: Role
    confidence: float
    score: float


def _count(text: str, cues: tuple[str, ...]) -> int:
    lowered = text.lower()
    return sum(lowered.count(cue) for cue in cues)


def speaker_scores(utterances: tuple[Utterance, ...], tenant: TenantConfig,
                   first_speaker_bonus: float = 0.5) -> dict[str, float]:
    """Agent-likeness score per speaker (higher: more agent-like).

    Cues: the tenant's greeting and company phrases in the speaker's first utterances, service
    phrases versus request phrases, how much the speaker addresses the other party ("you",
    您) rather than themselves ("I", 我), how often they ask questions, and who speaks first.
    """
    scores: dict[str, float] = {}
    tenant_cues = tuple(p.lower() for p in (*tenant.greeting_phrases, *tenant.company_names) if p)
    per_speaker: dict[str, list[Utterance]] = {}
    for u in utterances:
        if u.speaker != UNKNOWN_SPEAKER:
            per_speaker.setdefault(u.speaker, []).append(u)
    for speaker, utts in per_speaker.items():
        text = " ".join(u.text for u in utts)
        lowered = text.lower()
        opening = " ".join(u.text for u in utts[:2])
        score = 2.0 * _count(opening, tenant_cues)
        score += 0.5 * min(_count(text, AGENT_CUES), 10)
        score -= 0.5 * min(_count(text, CUSTOMER_CUES), 10)
        n_you, n_i = len(_YOU.findall(lowered)), len(_I.findall(lowered))
        score += 2.0 * (n_you - n_i) / (n_you + n_i + 2)
        questions = sum(1 for u in utts if u.text.rstrip().endswith(("?", "？", "吗", "呢")))
        score += 1.0 * questions / len(utts)
        scores[speaker] = score
    first = next(iter(per_speaker), None)
    if first is not None:
        scores[first] += first_speaker_bonus  # inbound calls: the agent usually answers first
    return scores


#: Provenance of the cue vote (``Provenance.role_method``).
CUES_METHOD = "text_cues(greeting, service_phrases, pronouns, questions)"
#: How the mono role step is done: the trained model (cues if it cannot load) or cues only.
MONO_ROLE_METHODS = ("model", "cues")


@dataclass(frozen=True, slots=True)
class MonoRoles:
    """The mono role step's result: the assignment, how it was made, and why a fallback."""

    roles: dict[str, RoleAssignment]
    method: str
    notes: tuple[str, ...] = ()


def assign_roles_mono(utterances: tuple[Utterance, ...], tenant: TenantConfig
                      ) -> dict[str, RoleAssignment]:
    """Roles for diarized mono speakers from text cues."""
    scores = speaker_scores(utterances, tenant)
    if not scores:
        return {}
    ranked = sorted(scores, key=lambda s: scores[s], reverse=True)
    agent = ranked[0]
    margin = scores[agent] - (scores[ranked[1]] if len(ranked) > 1 else 0.0)
    confidence = 1.0 / (1.0 + math.exp(-1.5 * margin)) if len(ranked) > 1 else 0.6
    out = {agent: RoleAssignment(agent, Role.AGENT, confidence, scores[agent])}
    for other in ranked[1:]:
        # With more than two speakers only the clearly customer-like ones are labelled.
        if len(ranked) == 2 or scores[other] < 0:
            out[other] = RoleAssignment(other, Role.CUSTOMER, confidence, scores[other])
        else:
            out[other] = RoleAssignment(other, Role.UNKNOWN, 0.0, scores[other])
    return out


def roles_for_mono(utterances: tuple[Utterance, ...], tenant: TenantConfig, *,
                   method: str = "model", model: RoleModel | None = None) -> MonoRoles:
    """Roles for diarized mono speakers by the named method.

    ``model`` uses the trained role model (``model``: one already loaded; default the packaged
    one). When its weights or its embedder are unavailable the cue vote decides and a note
    says why, so the call is still scored and the provenance names the method used.

    Raises:
        UnknownBackendError: ``method`` is not one of :data:`MONO_ROLE_METHODS`.
    """
    if method not in MONO_ROLE_METHODS:
        raise UnknownBackendError("mono role method", method, MONO_ROLE_METHODS)
    if method == "model":
        try:
            if model is None:
                from qa_pipeline.diarization.role_model import load_embedded_role_model

                model = load_embedded_role_model()
            return MonoRoles(model.assign(utterances, tenant), model.model_id)
        except (ModelUnavailableError, BackendUnavailableError) as e:
            return MonoRoles(assign_roles_mono(utterances, tenant), CUES_METHOD,
                             (f"role model unavailable, text cues used: {e}",))
    return MonoRoles(assign_roles_mono(utterances, tenant), CUES_METHOD)


def assign_roles_channels(speakers: list[str], agent_channel: int) -> dict[str, RoleAssignment]:
    """Roles for channel speakers ``ch0``/``ch1`` from the tenant's channel map."""
    out = {}
    for speaker in speakers:
        if speaker == UNKNOWN_SPEAKER:
            continue
        channel = int(speaker.removeprefix("ch"))
        role = Role.AGENT if channel == agent_channel else Role.CUSTOMER
        out[speaker] = RoleAssignment(speaker, role, 1.0, 0.0)
    return out


def apply_roles(utterances: tuple[Utterance, ...], roles: dict[str, RoleAssignment]
                ) -> tuple[Utterance, ...]:
    """New utterances with roles filled in (UNKNOWN with confidence 0 when unmapped)."""
    out = []
    for u in utterances:
        ra = roles.get(u.speaker)
        if ra is None:
            out.append(replace(u, role=Role.UNKNOWN, role_confidence=0.0))
        else:
            out.append(replace(u, role=ra.role, role_confidence=ra.confidence))
    return tuple(out)
