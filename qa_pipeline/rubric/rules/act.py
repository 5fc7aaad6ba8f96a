"""act: a speaker must (or must not) perform a dialogue act, such as a verification request or
an insult; and the act operands that ``before``, ``follows``, ``required_phrase`` and
``forbidden_phrase`` share.

An operand may name ``acts`` and/or ``phrases`` (and ``patterns``): an utterance is a hit when
it carries one of the acts (its probability at least ``min_probability``, by default the act
model's own threshold for that act) or matches a phrase. Phrases stay as optional extra
evidence beside the acts. An act hit is recorded as a match with method ``act``, the act id as
its pattern and the act's probability as its score; its matched text is the sentence or clause
of the utterance that carried the act (the whole utterance when that carried it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qa_pipeline.acts.track import Repeated
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.conditions import (
    Condition,
    Matching,
    Scope,
    evidence_for,
    first_hit,
    require_or_forbid,
)
from qa_pipeline.sentiment.base import Label, labelled_among
from qa_pipeline.text import is_chinese, normalize, text_units
from qa_pipeline.types import Evidence, MatchHit, RuleOutcome, Status, Utterance

ActId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Hit = tuple[Utterance, MatchHit]


class RepeatedSpec(BaseModel):
    """YAML block of an operand's ``repeated`` evidence (see :class:`Repeated`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acts: tuple[ActId, ...] = Field(..., min_length=1)
    min_probability: float = Field(..., ge=0.0, le=1.0)
    min_count: int = Field(2, ge=2, description="how many utterances must carry it")

    @property
    def value(self) -> Repeated:
        """The track's form of this block."""
        return Repeated(self.acts, self.min_probability, self.min_count)


class ActOperand(BaseModel):
    """Dialogue acts to look for, beside or instead of phrases."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acts: tuple[ActId, ...] = Field((), description="dialogue act ids (built-in or the "
                                    "rubric's own acts); an utterance carrying any one is a hit")
    min_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="lowest act probability that counts (default: the act model's threshold "
                    "for each act)")

    repeated: RepeatedSpec | None = Field(
        None, description="weaker evidence that counts when it recurs: utterances carrying one "
                          "of its acts at its min_probability count when min_count of the "
                          "utterances in scope do")
    sentiment_labels: tuple[Label, ...] = Field(
        (), description="acts count only on utterances that the call's sentiment model labels "
                        "one of these (a complaint voices dissatisfaction: [negative]); "
                        "without a sentiment track every utterance counts; phrases are not "
                        "filtered")

    def act_hits(self, utterances: Sequence[Utterance], ctx: EvaluationContext) -> list[Hit]:
        """(utterance, act hit) for each of ``utterances`` that carries one of the acts (or,
        with ``repeated``, one of its acts, recurring), among those whose sentiment label is
        one of ``sentiment_labels`` when that is set.
        """
        if not self.acts:
            return []
        if self.sentiment_labels and ctx.sentiment is not None:
            # Filtered before the count, so a repeated act recurs on lines that qualify; an
            # utterance the sentiment model did not score counts.
            kept = set(labelled_among([u.index for u in utterances], ctx.sentiment.labels(),
                                      self.sentiment_labels))
            utterances = [u for u in utterances if u.index in kept]
        track = ctx.acts
        by_index = {u.index: u for u in utterances}
        found = []
        for i, act, p in track.carriers(list(by_index), self.acts, self.min_probability,
                                        self.repeated.value if self.repeated else None):
            u = by_index[i]
            # The sentence or clause that carried the act, when one did.
            quote = track.quote(i, act) or u.text
            found.append((u, MatchHit(act, "act", p, quote)))
        return found


def has_phrases(spec: Matching) -> bool:
    """Whether a matching block names any phrase or pattern."""
    return bool(spec.phrases or spec.patterns)


def operand_hits(spec: Matching, utterances: tuple[Utterance, ...], ctx: EvaluationContext
                 ) -> list[Hit]:
    """Hits of phrases (and patterns) or acts among ``utterances``, one per utterance, in call
    order. Where both hit, the act is quoted: it is what the rubric is about; the phrase is
    extra evidence for the same utterance.
    """
    acts: list[Hit] = spec.act_hits(utterances, ctx) if isinstance(spec, ActOperand) else []
    if not has_phrases(spec):
        return acts
    phrase_hits = spec.hits(utterances, ctx)
    if not acts:
        return phrase_hits
    by_index = {u.index: (u, h) for u, h in phrase_hits}
    by_index.update({u.index: (u, h) for u, h in acts})
    return [by_index[i] for i in sorted(by_index)]


class Operand(Condition, ActOperand):
    """A scope plus the phrases, patterns or acts to look for (order and anchor rules)."""

    def has_matcher(self) -> bool:
        """Whether any phrase, pattern or act is configured."""
        return bool(self.phrases or self.patterns or self.acts)


def first_operand_hit(cond: Operand, ctx: EvaluationContext,
                      utterances: Sequence[Utterance] | None = None,
                      accept: Callable[[Utterance, MatchHit], bool] | None = None
                      ) -> Hit | None:
    """The first hit of an operand in call order (among ``utterances`` when given, else the
    operand's scope) that ``accept`` approves, or None.
    """
    if not cond.acts:  # phrases only: the matcher's own first-hit search (matches less)
        return first_hit(cond, ctx, utterances, accept)
    scope = cond.select(ctx) if utterances is None else tuple(utterances)
    return next((pair for pair in operand_hits(cond, tuple(scope), ctx)
                 if accept is None or accept(*pair)), None)


def find_operand_hits(cond: Operand, ctx: EvaluationContext) -> list[Hit]:
    """All hits of an operand in its scope, in call order."""
    return operand_hits(cond, cond.select(ctx), ctx)


def negated(text: str, matched: str, cues: Sequence[str], window_units: int) -> bool:
    """Whether the phrase hit ``matched`` (normalised text) in ``text`` follows one of ``cues``
    within ``window_units`` units (CJK characters and other words) of the same clause (see
    :func:`act_clauses`): a negation in an earlier clause ("不能改，不过我保证……", "I can't do
    that but I guarantee") does not reach it.
    """
    for clause in act_clauses(text):
        norm = normalize(clause)
        at = norm.find(matched) if norm else -1
        if at < 0:
            continue
        tail = text_units(norm[:at])[-window_units:]
        joined = " ".join(tail)
        compact = "".join(tail)
        for cue in cues:
            c = normalize(cue)
            if not c:
                continue
            if is_chinese(c):
                if c.replace(" ", "") in compact:
                    return True
            elif re.search(rf"(?<![\w']){re.escape(c)}(?![\w'])", joined):
                return True
        return False
    return False


# Clause ends: punctuation, and a space between two CJK characters (ASR text without commas).
_CLAUSE_SPLIT = re.compile(r"[，。！？；：、,.!?;:…]+|(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
# A contrast starts a clause of its own ("I can't promise that, but I will call you back"):
# the negation before it does not reach past it.
_CONTRAST = re.compile(r"\b(?:but|however)\b|但是|不过|可是", re.IGNORECASE)


def act_clauses(text: str) -> list[str]:
    """The clauses of ``text`` a negation can govern: split at punctuation, at a space between
    two CJK characters and before a contrast (but, however, 但是, 不过, 可是).
    """
    out = []
    for clause in _CLAUSE_SPLIT.split(text):
        at = 0
        for m in _CONTRAST.finditer(clause):
            out.append(clause[at:m.start()])
            at = m.start()
        out.append(clause[at:])
    return [c.strip() for c in out if normalize(c)]


def _cue_span(units: Sequence[str], cues: Sequence[str]) -> tuple[int, int] | None:
    """(start, end) in ``units`` of the first negation cue among them, or None."""
    found: tuple[int, int] | None = None
    for cue in cues:
        c = text_units(normalize(cue))
        if not c:
            continue
        for i in range(len(units) - len(c) + 1):
            if list(units[i:i + len(c)]) == c:
                if found is None or i < found[0]:
                    found = (i, i + len(c))
                break
    return found


def act_negated(utterance: Utterance, hit: MatchHit, cut: float, cues: Sequence[str],
                window_units: int, ctx: EvaluationContext) -> bool:
    """Whether an act hit is negated: every clause of the text that carried it (see
    :func:`act_clauses`) in which the act lives is governed by one of ``cues``.

    The act lives in the clauses whose own probability reaches ``cut`` (the most likely one
    when none does alone; a one-clause text is that clause). A cue governs a clause when the
    clause up to ``window_units`` units past the cue carries the act and the part before the
    cue does not: "我不能保证退款" and "I can't guarantee the refund" are no promises, while
    "I promise it's fixed, it cannot fail again" is one. A cue in another clause does not
    reach it ("不用担心，我保证明天给您退款"). When the track has no model (given as labels),
    every clause with a cue is governed and the act is negated only when all clauses are.
    """
    parts = act_clauses(hit.matched_text)
    units = [text_units(normalize(p)) for p in parts]
    spans = [_cue_span(u, cues) for u in units]
    if not any(spans):
        return False
    track, role = ctx.acts, utterance.role.value
    joiner = "" if is_chinese(hit.matched_text) else " "
    asked: list[str] = list(parts) if len(parts) > 1 else []
    probes: list[tuple[str, str] | None] = []
    for u, span in zip(units, spans, strict=True):
        if span is None:
            probes.append(None)
            continue
        before, through = joiner.join(u[:span[0]]), joiner.join(u[:span[1] + window_units])
        probes.append((before, through))
        asked += [t for t in (before, through) if t]
    probs = track.tag_texts(asked, role, hit.pattern) if asked else []
    if probs is None:  # labels: which clause carries the act is unknown
        return all(spans)
    p_of = dict(zip(asked, probs, strict=True))
    if len(parts) > 1:
        own = [p_of[p] for p in parts]
        living = [i for i, p in enumerate(own) if p >= cut] or [int(np.argmax(own))]
    else:
        living = [0]
    for i in living:
        probe = probes[i]
        if probe is None:
            return False
        before, through = probe
        governed = p_of.get(through, 0.0) >= cut and p_of.get(before, 0.0) < cut
        if not governed:
            return False
    return True


# A neighbour read with a fragment has at least this many units (CJK characters, other
# words): "No." or "Okay." beside a sentence says too little to change its reading.
CONTEXT_MIN_UNITS = 3


def _units(text: str) -> int:
    return len(text_units(normalize(text)))


# A period that ends no clause: after a title ("Dr. Khan") or between digits ("10.40").
_TITLE_BEFORE = re.compile(r"\b(?:dr|mr|mrs|ms|mx|st|prof|no)$", re.IGNORECASE)


def _mid_clause(text: str, m: re.Match[str]) -> bool:
    if m.group().strip() != ".":
        return False
    before, after = text[:m.start()], text[m.end():]
    return bool(_TITLE_BEFORE.search(before)) or (
        before[-1:].isdigit() and after[:1].isdigit())


def context_windows(text: str, part: str) -> list[str]:
    """``part`` of ``text`` read with its neighbours: once with the nearest whole clauses
    before it, once with those after it (each side at least :data:`CONTEXT_MIN_UNITS` units,
    else all of that side); a side without words gives no window. None when ``part`` is not
    in ``text`` or is all of it.
    """
    at = text.find(part) if part else -1
    if at < 0 or not _units(text[:at]) and not _units(text[at + len(part):]):
        return []
    end = at + len(part)
    bounds = [m.end() for m in _CLAUSE_SPLIT.finditer(text) if not _mid_clause(text, m)]
    out = []
    if _units(text[:at]):
        start = next((b for b in reversed(bounds) if b < at
                      and _units(text[b:at]) >= CONTEXT_MIN_UNITS), 0)
        out.append(text[start:end].strip())
    if _units(text[end:]):
        stop = next((b for b in bounds if b > end and _units(text[end:b]) >= CONTEXT_MIN_UNITS),
                    len(text))
        out.append(text[at:stop].strip())
    return out


def context_probability(utterance: Utterance, hit: MatchHit, ctx: EvaluationContext
                        ) -> float | None:
    """How likely an act hit's sentence or clause carries the act in context: the act's
    probability for the whole utterance, or where higher, the lowest for the part read with
    its neighbours (see :func:`context_windows`). An act that only a fragment carries, gone
    as soon as the words next to it are read too, may be a sentence cut from its context or
    the other speaker's words merged into the line. None when the whole utterance carried the
    act, for a phrase hit, or when the track has no model (given as labels).
    """
    if hit.method != "act":
        return None
    windows = context_windows(utterance.text, hit.matched_text)
    if not windows:
        return None
    probs = ctx.acts.tag_texts([utterance.text, *windows], utterance.role.value, hit.pattern)
    return None if probs is None else max(probs[0], min(probs[1:]))


def acts_note(label: str, hit: MatchHit) -> str:
    """An evidence note: ``label`` (may be empty), plus the act and its probability for an act
    hit.
    """
    if hit.method != "act":
        return label
    act = f"act {hit.pattern} (p={hit.score:.2f})"
    return f"{label}: {act}" if label else act


class ActSpec(RuleSpec, Scope, Matching, ActOperand):
    """YAML block of an ``act`` rule."""

    type: Literal["act"]
    mode: Literal["require", "forbid"] = "require"
    min_count: int = Field(1, ge=1, description="require: how many utterances must carry an act")
    review_min_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="forbid: an act at least this likely but below the cut (min_probability, "
                    "else the act's threshold) sends a passing verdict to review")
    min_evidence_word_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="forbid: a hit whose quoted words were transcribed with a lower mean "
                    "probability does not fail the call; it sends a passing verdict to review")
    min_role_confidence: float | None = Field(
        None, ge=0.0, le=1.0,
        description="forbid: a hit on an utterance whose speaker role is less certain does "
                    "not fail the call; it sends a passing verdict to review")
    min_context_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="forbid: an act hit carried by one sentence or clause of its utterance, "
                    "not the whole, fails the call only when the act is at least this likely "
                    "in context (the whole utterance, or the part read with the words next to "
                    "it on each side); else it sends a passing verdict to review")
    outranked_by: tuple[str, ...] = Field(
        (), description="forbid: an act hit on an utterance that one of these acts carries "
                        "more surely (a curt \"don't know\" more a refusal than an insult) "
                        "fails the call only where a phrase of the rule matched it too; else "
                        "it sends a passing verdict to review")
    negations: tuple[str, ...] = Field(
        (), description="a phrase or pattern hit preceded, within negation_window_units, by "
                        "one of these cues does not count (我没法跟您保证, can't guarantee); "
                        "nor does an act hit whose clause such a cue governs")
    negation_window_units: int = Field(
        6, ge=1, description="how many units (CJK characters, other words) before a phrase "
                             "hit a negation cue is looked for; for an act, how many units "
                             "after the cue the act must show")

    @model_validator(mode="after")
    def _needs_acts(self) -> ActSpec:
        if not self.acts:
            raise ValueError("an act rule needs acts (phrases are optional extra evidence)")
        # A band at or above the cut is empty, not an error: `rubric tune` moves
        # min_probability and must not produce an invalid rule.
        if self.review_min_probability is not None and self.mode != "forbid":
            raise ValueError("review_min_probability needs mode: forbid")
        if self.mode != "forbid" and (self.min_evidence_word_probability is not None
                                      or self.min_role_confidence is not None
                                      or self.min_context_probability is not None
                                      or self.outranked_by):
            raise ValueError("min_evidence_word_probability, min_role_confidence, "
                             "min_context_probability and outranked_by need mode: forbid")
        return self

    def act_cut(self, act: str, ctx: EvaluationContext) -> float:
        """The probability at which ``act`` counts: ``min_probability``, else the act's
        threshold.
        """
        return self.min_probability if self.min_probability is not None \
            else ctx.acts.threshold(act)

    def cut(self, hit: MatchHit, ctx: EvaluationContext) -> float:
        """The probability at which ``hit``'s act counts (:meth:`act_cut`; lower for a hit
        that counted as ``repeated`` evidence: its own).
        """
        return min(self.act_cut(hit.pattern, ctx), hit.score)

    @property
    def doubts_hits(self) -> bool:
        """Whether any option may find a forbid hit too uncertain to fail the call."""
        return (self.min_evidence_word_probability is not None
                or self.min_role_confidence is not None
                or self.min_context_probability is not None
                or bool(self.outranked_by))

    @property
    def phrase_vouches(self) -> bool:
        """Whether a phrase of the rule matching an act hit's utterance clears the doubts that
        read the act model again (context, a rival act).
        """
        return has_phrases(self) and (self.min_context_probability is not None
                                      or bool(self.outranked_by))

    def doubt(self, utterance: Utterance, hit: MatchHit, evidence: Evidence,
              ctx: EvaluationContext, phrase_hit: bool = False) -> str:
        """Why a forbid hit is too uncertain to fail the call ('' when it is not): its words
        were misheard too likely (a garbled line that happens to sound like an insult), the
        line may be the other speaker's, or only a fragment of it carries the act (unless a
        phrase of the rule matches the utterance too: ``phrase_hit``).
        """
        reasons = []
        if self.outranked_by and not phrase_hit and hit.method == "act":
            rival = ctx.acts.best(utterance.index, self.outranked_by, 0.0)
            if rival is not None and rival[1] > hit.score:
                reasons.append(f"more {rival[0]} (p={rival[1]:.2f}) than {hit.pattern}")
        if self.min_context_probability is not None and not phrase_hit:
            p = context_probability(utterance, hit, ctx)
            if p is not None and p < min(self.min_context_probability, self.cut(hit, ctx)):
                reasons.append(f"act only out of context (p={p:.2f} with the words around it)")
        if (self.min_evidence_word_probability is not None
                and evidence.word_probability < self.min_evidence_word_probability):
            reasons.append(f"low ASR confidence ({evidence.word_probability:.2f})")
        if (self.min_role_confidence is not None
                and utterance.role_confidence < self.min_role_confidence):
            reasons.append(f"uncertain speaker role ({utterance.role_confidence:.2f})")
        return ", ".join(reasons)


@register_rule("act", spec=ActSpec)
def act(spec: ActSpec, ctx: EvaluationContext) -> RuleOutcome:
    """A speaker must (``mode: require``) or must not (``mode: forbid``) perform a dialogue act.

    An utterance counts when the act model gives one of ``acts`` at least ``min_probability``
    (default: the model's threshold for that act), or when it matches one of the optional
    ``phrases`` / ``patterns``.
    Passes when: require: at least ``min_count`` utterances by ``role`` in scope (``within_s``
    / ``last_s``) count; forbid: none does.
    Fails when: the opposite (forbid quotes every offending utterance with the act and its
    probability).
    Not applicable when: require: the call has no utterance by ``role`` at all; forbid: none in
    scope.
    Review (forbid, with ``review_min_probability``): no utterance counts but one carries an
    act at least ``review_min_probability`` likely (below the cut): ``pass`` provisionally, a
    human confirms. Likewise (forbid, with ``min_evidence_word_probability`` /
    ``min_role_confidence`` / ``min_context_probability``) when every hit is too uncertain to fail
    the call: its quoted words were transcribed below that probability, its speaker role is
    less certain, or the sentence or clause that carried the act is below that probability
    in context; or (``outranked_by``) the utterance carries one of those acts more surely.

    Example YAML:
        rule: {type: act, role: agent, acts: [insult], mode: forbid}
    """
    if spec.mode == "require" and not ctx.utterances(spec.role_filter):
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in the call")
    scope = spec.select(ctx)
    if spec.mode == "forbid" and not scope:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in scope")
    hits = operand_hits(spec, scope, ctx)
    if spec.negations:
        hits = [(u, h) for u, h in hits if not (
            act_negated(u, h, spec.cut(h, ctx), spec.negations, spec.negation_window_units, ctx)
            if h.method == "act"
            else negated(u.text, h.matched_text, spec.negations, spec.negation_window_units))]
    considered = ctx.indices(scope)
    what = "/".join(spec.acts)
    if spec.mode == "require":
        found = len(hits) >= spec.min_count
        status, message = require_or_forbid("require", found, what)
        shown = hits[:5]
        if not found:
            where = f" in the first {spec.within_s:g} s" if spec.within_s else (
                f" in the last {spec.last_s:g} s" if spec.last_s else "")
            message = f"{spec.role} did not perform {what}{where}"
    else:
        unsure_hits: list[tuple[Utterance, MatchHit, str]] = []
        if spec.doubts_hits:
            # An act quoted where a phrase matched too (operand_hits quotes the act) stands on
            # the phrase (not negated) whatever its context.
            phrased = {u.index for u, h in spec.hits(scope, ctx) if not (
                spec.negations and negated(u.text, h.matched_text, spec.negations,
                                           spec.negation_window_units))
                       } if spec.phrase_vouches else set()
            kept = []
            for u, h in hits:
                why = spec.doubt(u, h, evidence_for(ctx, u, h), ctx, u.index in phrased)
                if why:
                    unsure_hits.append((u, h, why))
                else:
                    kept.append((u, h))
            hits = kept
        status, message = require_or_forbid("forbid", bool(hits), what)
        shown = hits
        if not hits and unsure_hits:
            reason = "uncertain evidence: " + "; ".join(
                f"#{u.index} {h.pattern}: {why}" for u, h, why in unsure_hits)
            evidence = tuple(evidence_for(ctx, u, h, acts_note(f"uncertain, {why}", h))
                             for u, h, why in unsure_hits)
            return RuleOutcome(status, evidence, message, considered, review_reason=reason)
        if hits:
            said = ", ".join(sorted({h.pattern for _, h in hits}))
            message = f"{spec.role} performed: {said}"
        elif spec.review_min_probability is not None:
            # below the cut (min_probability, else each act's threshold) but in the band
            unsure = spec.model_copy(update={"min_probability": spec.review_min_probability})
            doubts = [(u, h) for u, h in unsure.act_hits(scope, ctx)
                      if h.score < spec.act_cut(h.pattern, ctx)]
            if doubts:
                reason = "uncertain " + "; ".join(f"#{u.index} {h.pattern} (p={h.score:.2f})"
                                                  for u, h in doubts)
                evidence = tuple(evidence_for(ctx, u, h, acts_note("uncertain", h))
                                 for u, h in doubts)
                return RuleOutcome(status, evidence, message, considered, review_reason=reason)
    evidence = tuple(evidence_for(ctx, u, h, acts_note("", h)) for u, h in shown)
    return RuleOutcome(status, evidence, message, considered)
