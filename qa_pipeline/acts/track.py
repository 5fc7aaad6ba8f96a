"""Dialogue acts of one call: every utterance's calibrated probability for every act.

The track is what act rules read (``qa_pipeline.rubric.rules.act``). It is computed once per
call, from the call's shared utterance embeddings when the act model was trained on the same
embedder, and only when a rule asks for it (:class:`EvaluationContext` builds it lazily).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa_pipeline.alignment.speakers import join_words
from qa_pipeline.errors import RubricError
from qa_pipeline.text import text_units
from qa_pipeline.types import Conversation, Utterance, Word

if TYPE_CHECKING:
    from qa_pipeline.rubric.embeddings import CallEmbeddings


class ActTagger(Protocol):
    """What the rules need of an act model (``qa_pipeline.acts.ActModel`` implements it)."""

    model_id: str
    embedder_id: str  # the model_id of the embedder whose vectors predict_embeddings reads

    @property
    def acts(self) -> tuple[str, ...]:
        """Act ids, the columns of the predictions."""
        ...

    def predict_texts(self, texts: Sequence[str], roles: Sequence[str] | None = None
                      ) -> np.ndarray:
        """``(len(texts), len(acts))`` calibrated probabilities."""
        ...

    def predict_embeddings(self, emb: np.ndarray, roles: Sequence[str] | None = None,
                           texts: Sequence[str] | None = None) -> np.ndarray:
        """The same, from the texts' embeddings (``texts``: the embedded texts, which a model
        with a lexical head also reads).
        """
        ...

    def threshold(self, act: str) -> float:
        """Decision threshold on the calibrated probability of ``act``."""
        ...

    def with_tenant_acts(self, defs: Mapping[str, Any]) -> ActTagger:
        """The model plus few-shot acts (act id -> ``TenantActExamples``)."""
        ...


@dataclass(frozen=True, slots=True)
class Repeated:
    """Weaker evidence that counts when it recurs: an utterance that carries one of ``acts``
    at ``min_probability`` or more (below the act's own threshold) counts when at least
    ``min_count`` such utterances are among those looked at (a customer who states the same
    grievance twice, each time garbled by ASR or worded mildly).
    """

    acts: tuple[str, ...]
    min_probability: float
    min_count: int = 2


@dataclass(frozen=True, slots=True)
class ActTrack:
    """Per-utterance act probabilities of one call, from one model.

    Attributes:
        model_id: the act model (with its tenant acts) that produced the track.
        acts: act ids, the columns of ``probabilities``.
        probabilities: per utterance (in call order), the probability of each act.
        thresholds: per act, the model's decision threshold.
        quotes: per utterance, per act, the sentence or clause of the utterance whose own
            probability is the utterance's (above the whole utterance's), or None where the
            whole utterance carries it; empty when no part was tagged.
        tagger: the model that made the track, as ``(texts, roles) -> probabilities``, for
            the parts of an utterance a rule asks about (which clause carries an act next to
            a negation); None for a track given as labels.
    """

    model_id: str
    acts: tuple[str, ...]
    probabilities: tuple[tuple[float, ...], ...]
    thresholds: tuple[float, ...]
    quotes: tuple[tuple[str | None, ...], ...] = ()
    tagger: Callable[[Sequence[str], Sequence[str]], np.ndarray] | None = field(
        default=None, repr=False, compare=False)
    _column: dict[str, int] = field(init=False, repr=False, compare=False)
    # (text, role) -> its row of probabilities, for the texts tag_texts was asked about.
    _tagged: dict[tuple[str, str], tuple[float, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.thresholds) != len(self.acts):
            raise ValueError("one threshold per act")
        if any(len(row) != len(self.acts) for row in self.probabilities):
            raise ValueError("every utterance needs a probability per act")
        if self.quotes and (len(self.quotes) != len(self.probabilities)
                            or any(len(row) != len(self.acts) for row in self.quotes)):
            raise ValueError("quotes need one entry per utterance and act")
        object.__setattr__(self, "_column", {a: i for i, a in enumerate(self.acts)})
        object.__setattr__(self, "_tagged", {})

    def tag_texts(self, texts: Sequence[str], role: str, act: str) -> list[float] | None:
        """P(``act``) of each of ``texts`` (parts of an utterance by ``role``) by the model that
        made the track, each text tagged once per call; None when the track has no model
        (given as labels).
        """
        if self.tagger is None:
            return None
        column = self.column(act)
        todo = [t for t in dict.fromkeys(texts) if (t, role) not in self._tagged]
        if todo:
            rows = np.asarray(self.tagger(todo, [role] * len(todo)), dtype=np.float64)
            for text, row in zip(todo, rows, strict=True):
                self._tagged[(text, role)] = tuple(float(p) for p in row)
        return [self._tagged[(t, role)][column] for t in texts]

    def column(self, act: str) -> int:
        """The column of ``act``.

        Raises:
            RubricError: the model does not know ``act`` (the message lists those it knows).
        """
        try:
            return self._column[act]
        except KeyError:
            raise RubricError(f"unknown act {act!r} for act model {self.model_id}; known acts: "
                              f"{', '.join(self.acts)}") from None

    def probability(self, utterance_index: int, act: str) -> float:
        """P(``act``) of one utterance."""
        return self.probabilities[utterance_index][self.column(act)]

    def threshold(self, act: str) -> float:
        """The model's decision threshold for ``act``."""
        return self.thresholds[self.column(act)]

    def quote(self, utterance_index: int, act: str) -> str | None:
        """The part of utterance ``utterance_index`` (a sentence or clause) that carried
        ``act``'s probability, or None when the whole utterance did (quote the utterance).
        """
        column = self.column(act)
        return self.quotes[utterance_index][column] if self.quotes else None

    def best(self, utterance_index: int, acts: Sequence[str],
             min_probability: float | None = None) -> tuple[str, float] | None:
        """Of ``acts``, the one ``utterance_index`` carries most surely, with its probability,
        when it reaches ``min_probability`` (default: that act's own threshold); else None.
        """
        row = self.probabilities[utterance_index]
        found: tuple[str, float] | None = None
        for act in acts:
            c = self.column(act)
            p = row[c]
            if p >= (self.thresholds[c] if min_probability is None else min_probability) \
                    and (found is None or p > found[1]):
                found = (act, p)
        return found

    def carriers(self, indices: Sequence[int], acts: Sequence[str],
                 min_probability: float | None = None, repeated: Repeated | None = None
                 ) -> list[tuple[int, str, float]]:
        """(index, act, probability) of each of ``indices`` that carries one of ``acts`` (see
        :meth:`best`), in the order of ``indices``; with ``repeated``, also the others that carry
        one of its acts at its ``min_probability``, when ``min_count`` of them do.
        """
        found = {i: b for i in indices if (b := self.best(i, acts, min_probability)) is not None}
        if repeated is not None:
            weak = {i: b for i in indices if i not in found
                    and (b := self.best(i, repeated.acts, repeated.min_probability)) is not None}
            if len(weak) >= repeated.min_count:
                found.update(weak)
        return [(i, *found[i]) for i in indices if i in found]

    def to_dict(self, min_probability: float = 0.2) -> dict[str, Any]:
        """JSON form: per utterance, the acts at or above ``min_probability``."""
        return {"model_id": self.model_id,
                "utterances": [{a: round(p, 3) for a, p in zip(self.acts, row, strict=True)
                                if p >= min_probability} for row in self.probabilities]}


@dataclass(frozen=True, slots=True)
class TagOptions:
    """How utterances are tagged.

    One utterance often holds several sentences with different acts ("I'm sorry about that.
    I see the card ending 2290 was charged ..."), and one embedding of the whole blends them.
    So each sentence of a longer utterance is tagged too, and the utterance carries an act with
    the highest probability that it, or one of its sentences, has.

    Speech recognition often gives no sentence punctuation (zh especially), and lines said back
    to back come out as one long utterance. So a long utterance is also cut into clauses where
    the speaker paused between two words (and, if asked, at commas); each clause is tagged as
    well, and the track records which sentence or clause carried each act.

    Attributes:
        split_sentences: tag the sentences of multi-sentence utterances as well.
        min_sentence_units: shorter sentences (CJK characters plus other words) are not tagged
            alone: "Thanks." or "再见。" says too little out of context.
        split_clauses: tag the clauses of long utterances as well.
        clause_min_utterance_units: only utterances of at least this many units are cut into
            clauses (a short utterance is one act, and its clauses say too little).
        clause_gap_s: a pause between two words at least this long ends a clause.
        comma_min_utterance_units: utterances of at least this many units are also cut after
            commas and sentence punctuation (, ， 、 ; ；); None: never. Off by default: a
            comma mostly joins two halves of one act ("I can't promise it'll be refunded,
            that's up to ..."), and a clause cut from its other half reads as another act.
        min_clause_units: a shorter clause is joined to the one after it (the one before,
            at the end of the utterance).
    """

    split_sentences: bool = True
    min_sentence_units: int = 3
    split_clauses: bool = True
    clause_min_utterance_units: int = 12
    clause_gap_s: float = 0.25
    comma_min_utterance_units: int | None = None
    min_clause_units: int = 4


# A sentence ends at 。！？； (no space follows in Chinese) or at . ! ? ; before a space.
_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])\s+")


def sentences(text: str, options: TagOptions | None = None) -> list[str]:
    """The sentences of ``text`` worth tagging on their own (none when it is one sentence)."""
    opts = options or TagOptions()
    if not opts.split_sentences:
        return []
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    if len(parts) < 2:
        return []
    return [p for p in parts if units(p) >= opts.min_sentence_units]


# Clause-ending punctuation: commas and semicolons, and sentence ends (CJK and ASCII).
_CLAUSE_END = re.compile(r"[,，、;；:：。！？.!?…]+[\"'”’)）]*$")
_TEXT_CLAUSE_END = re.compile(r"(?<=[，、；。！？])|(?<=[,;.!?])\s+")


def units(text: str) -> int:
    """Length in tagging units: CJK characters plus other words."""
    return len(text_units(text))


def clauses(utterance: Utterance, options: TagOptions | None = None) -> list[str]:
    """The clauses of a long utterance worth tagging on their own (none when it is short or
    one clause).

    With word timing, a clause ends at a pause of at least ``clause_gap_s`` between two words,
    and in utterances of at least ``comma_min_utterance_units`` after a word that ends in a
    comma or sentence punctuation; the clause's text is its words joined as the utterance's
    text is. When the words do not spell the utterance's text (a conversation edited by hand,
    or no words), only such a long text is cut, at its punctuation.
    Clauses shorter than ``min_clause_units`` join the next one.
    """
    opts = options or TagOptions()
    text = utterance.text
    length = units(text)
    if not opts.split_clauses or length < opts.clause_min_utterance_units:
        return []
    at_commas = opts.comma_min_utterance_units is not None \
        and length >= opts.comma_min_utterance_units
    words = [w for w in utterance.words if w.text.strip()]
    pieces: list[str]
    if words and join_words(words, utterance.language) == text:
        runs: list[list[Word]] = [[words[0]]]
        for prev, word in zip(words, words[1:], strict=False):
            if word.start_s - prev.end_s >= opts.clause_gap_s \
                    or (at_commas and _CLAUSE_END.search(prev.text.strip())):
                runs.append([])
            runs[-1].append(word)
        pieces = [join_words(run, utterance.language) for run in runs]
    elif at_commas:
        pieces = [p.strip() for p in _TEXT_CLAUSE_END.split(text) if p and p.strip()]
    else:
        return []
    merged: list[str] = []
    pending = ""
    for piece in pieces:
        pending = _join(pending, piece, utterance.language)
        if units(pending) >= opts.min_clause_units:
            merged.append(pending)
            pending = ""
    if pending:
        if merged:
            merged[-1] = _join(merged[-1], pending, utterance.language)
        else:
            merged.append(pending)
    return merged if len(merged) >= 2 else []


def _join(left: str, right: str, language: str) -> str:
    """Two pieces of one utterance as one text (no space between CJK characters)."""
    if not left:
        return right
    tight = language.startswith("zh") and bool(re.match(r"[\u3400-\u9fff\d]", right)) \
        and bool(re.search(r"[\u3400-\u9fff\d，、；。！？]$", left))
    return left + right if tight else f"{left} {right}"


def parts_to_tag(utterance: Utterance, options: TagOptions | None = None) -> list[str]:
    """The sentences and clauses of ``utterance`` tagged beside it, each once, in order
    (never the whole text again).
    """
    out: list[str] = []
    for part in (*sentences(utterance.text, options), *clauses(utterance, options)):
        if part != utterance.text and part not in out:
            out.append(part)
    return out


def tag_conversation(conversation: Conversation, model: ActTagger,
                     embeddings: CallEmbeddings | None = None,
                     options: TagOptions | None = None) -> ActTrack:
    """The act track of a call.

    Args:
        conversation: the call.
        model: the act model (with tenant acts, if any).
        embeddings: the call's shared utterance embeddings; used when they come from the
            embedder the act model reads (its sentences are embedded by the same embedder),
            else the model embeds the texts itself.
        options: how utterances are tagged (see :class:`TagOptions`).
    """
    utts = conversation.utterances
    roles = [u.role.value for u in utts]
    parts = [(k, s) for k, u in enumerate(utts) for s in parts_to_tag(u, options)]
    part_roles = [roles[k] for k, _ in parts]
    if not utts:
        probs = np.zeros((0, len(model.acts)), dtype=np.float32)
    elif embeddings is not None and embeddings.model_id == model.embedder_id:
        # The shared embeddings are of the utterances' texts, in order.
        probs = model.predict_embeddings(embeddings.vectors, roles, [u.text for u in utts])
        if parts:
            part_texts = [s for _, s in parts]
            part_probs = model.predict_embeddings(
                embeddings.embedder.embed(part_texts), part_roles, part_texts)
    else:
        probs = model.predict_texts([u.text for u in utts], roles)
        if parts:
            part_probs = model.predict_texts([s for _, s in parts], part_roles)
    probs = np.array(probs, dtype=np.float64)
    if probs.shape != (len(utts), len(model.acts)):
        raise ValueError(f"act model {model.model_id} returned shape {probs.shape}, expected "
                         f"{(len(utts), len(model.acts))}")
    quotes: list[list[str | None]] = [[None] * len(model.acts) for _ in utts] if parts else []
    for (k, text), row in zip(parts, np.asarray(part_probs, dtype=np.float64) if parts else (),
                              strict=True):
        for c in np.flatnonzero(row > probs[k]):
            quotes[k][c] = text
        np.maximum(probs[k], row, out=probs[k])
    return ActTrack(model.model_id, tuple(model.acts),
                    tuple(tuple(float(p) for p in row) for row in probs),
                    tuple(float(model.threshold(a)) for a in model.acts),
                    tuple(tuple(q) for q in quotes), tagger=model.predict_texts)


def track_from_labels(conversation: Conversation, labels: Mapping[int, Mapping[str, float]],
                      acts: Sequence[str], model_id: str = "labels",
                      threshold: float = 0.5) -> ActTrack:
    """A track from given probabilities (utterance index -> act -> P; unnamed acts are 0):
    for re-scoring with acts reviewed by a person, and for tests.
    """
    acts = tuple(acts)
    rows = tuple(tuple(float(labels.get(u.index, {}).get(a, 0.0)) for a in acts)
                 for u in conversation.utterances)
    return ActTrack(model_id, acts, rows, (threshold,) * len(acts))
