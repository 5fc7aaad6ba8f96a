"""The customer-service dialogue-act taxonomy (issue 24) and the act corpus file format.

Act ids are stable: rubrics, evidence records and the shipped weights refer to them by name.
An utterance may carry none, one or several acts (multi-label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_pipeline.errors import ConfigError


@dataclass(frozen=True)
class ActInfo:
    """One act of the taxonomy: its id, meaning and the role that usually performs it."""

    id: str
    meaning: str
    typical_role: str  # "agent", "customer" or "both"


TAXONOMY: tuple[ActInfo, ...] = (
    ActInfo("greeting", "greeting that gives the company or the agent's identity", "agent"),
    ActInfo("verification_request", "asks the caller to verify their identity", "agent"),
    ActInfo("verification_confirmed", "states that verification succeeded", "agent"),
    ActInfo("account_disclosure", "discloses account or personal details", "agent"),
    ActInfo("hold_announcement", "announces a hold or asks the caller to wait while checking",
            "agent"),
    ActInfo("hold_return", "returns from hold", "agent"),
    ActInfo("apology_empathy", "apology or empathy", "agent"),
    ActInfo("complaint", "the customer complains or voices dissatisfaction", "customer"),
    ActInfo("escalation_threat", "threat to complain, escalate, report or sue, or a demand for "
            "a supervisor", "customer"),
    ActInfo("insult", "insult, abuse, mockery or contempt toward the other party", "both"),
    ActInfo("refusal_deflection", "curt refusal or deflection of responsibility", "agent"),
    ActInfo("promise", "promise of compensation, refund, money or a guaranteed date or outcome",
            "agent"),
    ActInfo("next_step", "states the next step or resolution", "agent"),
    ActInfo("anything_else", "asks whether the customer needs anything else", "agent"),
    ActInfo("thanks_farewell", "thanks and/or farewell", "both"),
    ActInfo("recording_disclosure", "mandatory disclosure, e.g. the call is recorded", "agent"),
)

ACTS: tuple[str, ...] = tuple(info.id for info in TAXONOMY)
ROLES: tuple[str, ...] = ("agent", "customer")
LANGUAGES: tuple[str, ...] = ("zh", "en")
CORPUS_HEADER = ("lang", "role", "acts", "text")


@dataclass(frozen=True)
class ActExample:
    """One labelled utterance of an act corpus file."""

    lang: str
    role: str
    acts: tuple[str, ...]
    text: str


def parse_act_list(field: str, known: Sequence[str] = ACTS) -> tuple[str, ...]:
    """Split a comma-separated act list, rejecting ids outside ``known``."""
    acts = tuple(a.strip() for a in field.split(",") if a.strip())
    unknown = [a for a in acts if a not in known]
    if unknown:
        raise ConfigError(f"unknown act(s) {unknown}; valid: {', '.join(known)}")
    return acts


def read_act_corpus(path: Path) -> list[ActExample]:
    """Read a ``lang<TAB>role<TAB>acts<TAB>text`` corpus file (UTF-8, header line).

    Raises:
        ConfigError: a malformed line, an unknown language, role or act id (with its line number).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != CORPUS_HEADER:
        raise ConfigError(f"{path}: the first line must be {'<TAB>'.join(CORPUS_HEADER)}")
    examples = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[3].strip():
            raise ConfigError(f"{path}:{number}: expected 4 tab-separated fields and a text")
        lang, role, acts, text = fields
        if lang not in LANGUAGES or role not in ROLES:
            raise ConfigError(f"{path}:{number}: lang must be one of {LANGUAGES} and role one of "
                              f"{ROLES}, got {lang!r}, {role!r}")
        try:
            parsed = parse_act_list(acts)
        except ConfigError as e:
            raise ConfigError(f"{path}:{number}: {e}") from e
        examples.append(ActExample(lang, role, parsed, text.strip()))
    return examples
