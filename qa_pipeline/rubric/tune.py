"""Rubrics that learn from QA reviews: refit a rubric's tunable values on reviewed calls.

A completed review is a labelled example: for each criterion of a call, the QA monitor's
final verdict. The reviewed calls are split by call id into a *tune* part and a held-out
*test* part (:func:`split_calls`); :func:`tune_rubric` chooses, on the tune part only,

- the ``min_probability`` of every act operand (``act`` rules and the act operands of order,
  phrase and composition rules), one operand at a time;
- the rubric's own acts' few-shot examples: evidence utterances of reviewed items whose
  criterion rests on one such act become examples (the reviewer found the act there) or
  counter-examples (not), redacted of personal data first; the utterances a reviewer pointed
  at (what the rules missed, or a quoted line that is not the act) stand in for the rules'
  quotes of that item, and win over the same line quoted by the rules on the other side; on a
  failed ``before`` rule whose target names one act, the pointed lines are that act's examples;
- the same for a criterion that rests on one built-in act: its examples and counter-examples
  go under the rubric's ``acts:`` with ``refit: true``, which refits the built-in head for
  the rubric (a residual fitted on them, see :mod:`qa_pipeline.acts.model`);
- the ``uncertain_band`` of ``question`` rules: the narrowest band above which the judge's
  automatic answers agree with the reviewers at least ``review_target_agreement``,

and :func:`compare_rubrics` measures the current and the candidate rubric per criterion on
the test part. Criteria with fewer than ``min_examples`` reviewed items on the tune part are
left as they are, with the reason in the result.

Only criteria that hold an act operand are evaluated again (from the stored conversation,
with the act model); every other criterion, ``question`` rules included (their answer does
not depend on a tunable value), and any that also rests on sentiment, emotion or a judge,
keeps the verdict stored on the reviewed scorecard.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from qa_pipeline.errors import QAPipelineError, RubricError
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate_criterion
from qa_pipeline.rubric.registry import parse_rule
from qa_pipeline.rubric.schema import Criterion, Rubric, Section
from qa_pipeline.types import Conversation

if TYPE_CHECKING:
    from qa_pipeline.acts.track import ActTagger

SitePath = tuple[str | int, ...]
Change = Literal["improved", "regressed", "same"]
LABELS = ("pass", "fail", "not_applicable")


@dataclass(frozen=True, slots=True)
class TuneOptions:
    """How a rubric is tuned on reviews.

    Attributes:
        holdout_share: share of reviewed calls held out for the test part (by call id hash).
        seed: salt of the split (another seed, another split).
        min_examples: fewest reviewed items of a criterion on the tune part to tune it.
        probability_grid: ``min_probability`` values tried for each act operand (besides
            the current one and the act model's own thresholds).
        review_target_agreement: a question's band is the narrowest one above which the
            judge's answers agree with the reviewers at least this often.
        max_new_examples: most examples (and counter-examples) added to one act per tuning.
    """

    holdout_share: float = 0.3
    seed: int = 0
    min_examples: int = 10
    probability_grid: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
    review_target_agreement: float = 0.95
    max_new_examples: int = 20

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_share < 1.0:
            raise RubricError(f"holdout share must be between 0 and 1, got {self.holdout_share}")
        if self.min_examples < 1:
            raise RubricError("min_examples must be at least 1")


@dataclass(frozen=True, slots=True)
class ReviewedCall:
    """One call whose review is complete, with what the tuner needs of its scorecard.

    Attributes:
        call_id: the call.
        conversation: the stored conversation (re-evaluated under each rubric variant).
        labels: criterion id -> the reviewer's final verdict (pass / fail / not_applicable).
        automated: criterion id -> the rules' own verdict on the stored card.
        values: criterion id -> the item's value (a judge's answer probability), if any.
        evidence: criterion id -> utterance indices the automated verdict quoted.
        rubric_ref: ``id@version`` the card was scored under.
        pointed: criterion id -> utterance indices the reviewer pointed at as the evidence
            of their verdict (what the automation missed, or a quoted line that is not the
            act); they outrank ``evidence`` as examples.
    """

    call_id: str
    conversation: Conversation
    labels: Mapping[str, str]
    automated: Mapping[str, str]
    values: Mapping[str, float | None]
    evidence: Mapping[str, tuple[int, ...]]
    rubric_ref: str
    pointed: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def from_card(cls, card: Mapping[str, Any], conversation: Conversation) -> ReviewedCall:
        """From a stored scorecard document with reviews applied (``review`` on its items)."""
        labels: dict[str, str] = {}
        automated: dict[str, str] = {}
        values: dict[str, float | None] = {}
        evidence: dict[str, tuple[int, ...]] = {}
        pointed: dict[str, tuple[int, ...]] = {}
        for item in card["items"]:
            review = item.get("review")
            if not review or review.get("status") not in LABELS:
                continue
            cid = str(item["criterion_id"])
            labels[cid] = str(review["status"])
            auto = item.get("automated_provisional_status") or item.get("provisional_status") \
                or item["status"]
            automated[cid] = str(auto)
            value = item.get("value")
            values[cid] = None if value is None else float(value)
            # A reviewed item keeps the rules' evidence (what the automated verdict quoted).
            evidence[cid] = tuple(int(e["utterance_index"]) for e in item.get("evidence") or ()
                                  if int(e.get("utterance_index", -1)) >= 0)
            if review.get("utterances"):
                pointed[cid] = tuple(int(i) for i in review["utterances"])
        return cls(str(card["call_id"]), conversation, labels, automated, values, evidence,
                   f"{card['rubric_id']}@{card['rubric_version']}", pointed)


def split_calls(call_ids: Iterable[str], holdout_share: float, seed: int
                ) -> tuple[frozenset[str], frozenset[str]]:
    """``(tune, test)`` call ids: a call is held out when the hash of ``seed:call_id`` falls
    below ``holdout_share``, so a call never lands in both parts and the split does not move
    when other calls are added.
    """
    tune: set[str] = set()
    test: set[str] = set()
    for cid in call_ids:
        digest = hashlib.sha256(f"{seed}:{cid}".encode()).digest()
        (test if int.from_bytes(digest[:8], "big") / 2 ** 64 < holdout_share else tune).add(cid)
    return frozenset(tune), frozenset(test)


# --- act operands -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActSite:
    """An act operand inside a rule block: where it is, its acts and its min_probability."""

    path: SitePath
    acts: tuple[str, ...]
    min_probability: float | None

    @property
    def label(self) -> str:
        """The operand's key path in the rule (``rule`` for the rule itself)."""
        return ".".join(["rule", *(str(p) for p in self.path)])


def act_sites(rule: Any, path: SitePath = ()) -> list[ActSite]:
    """Every act operand of a raw rule block, in file order."""
    found: list[ActSite] = []
    if isinstance(rule, dict):
        acts = rule.get("acts")
        if isinstance(acts, list | tuple) and acts:
            p = rule.get("min_probability")
            found.append(ActSite(path, tuple(str(a) for a in acts),
                                 None if p is None else float(p)))
        for key, value in rule.items():
            if key != "acts":
                found.extend(act_sites(value, (*path, key)))
    elif isinstance(rule, list | tuple):
        for i, item in enumerate(rule):
            found.extend(act_sites(item, (*path, i)))
    return found


# Rule types whose outcome rests on an analysis the tuner does not recompute from the stored
# conversation (sentiment, emotion, an LLM judge).
STORED_ONLY_TYPES = frozenset({"sentiment", "emotion", "question"})


def rule_types_in(rule: Any) -> set[str]:
    """Every rule ``type`` named anywhere in a raw rule block."""
    found: set[str] = set()
    if isinstance(rule, dict):
        if isinstance(rule.get("type"), str):
            found.add(rule["type"])
        for value in rule.values():
            found |= rule_types_in(value)
    elif isinstance(rule, list | tuple):
        for item in rule:
            found |= rule_types_in(item)
    return found


def reevaluable(rule: Any) -> bool:
    """Whether a criterion is evaluated again under a variant: it holds an act operand and
    rests on nothing the tuner cannot recompute from the stored conversation.
    """
    return bool(act_sites(rule)) and not rule_types_in(rule) & STORED_ONLY_TYPES


def with_min_probability(rule: dict[str, Any], path: SitePath, value: float | None
                         ) -> dict[str, Any]:
    """A copy of ``rule`` with the operand at ``path`` given ``value`` (None: the act
    model's own thresholds).
    """
    out = copy.deepcopy(rule)
    node: Any = out
    for key in path:
        node = node[key]
    if value is None:
        node.pop("min_probability", None)
    else:
        node["min_probability"] = value
    return out


def _with_rule(criterion: Criterion, rule: dict[str, Any]) -> Criterion:
    changed = criterion.model_copy(update={"rule": rule})
    changed._parsed = parse_rule(rule)
    return changed


def subject_act(rule: Mapping[str, Any]) -> tuple[str, str] | None:
    """The one act a criterion judges, and its mode (``require`` / ``forbid``): an ``act``
    rule naming one act, or an ``all`` composition with exactly one such ``act`` rule among
    its direct sub-rules (the others add failures of other kinds, as a reaction to abuse
    does). None otherwise (under ``any`` a pass says nothing about one sub-rule's act).
    """
    def single(r: Any) -> tuple[str, str] | None:
        if not isinstance(r, Mapping) or r.get("type") != "act":
            return None
        acts = r.get("acts") or []
        return (str(acts[0]), str(r.get("mode", "require"))) if len(acts) == 1 else None

    found = single(rule)
    if found is not None:
        return found
    if rule.get("type") == "all":
        subs = [x for x in (single(r) for r in rule.get("rules") or ()) if x is not None]
        if len(subs) == 1:
            return subs[0]
    return None


def pointed_target_act(rule: Mapping[str, Any]) -> tuple[str, str] | None:
    """For a ``before`` rule whose target names one act: that act, read as forbidden.

    A ``before`` rule fails when its target (an account disclosure) comes with no anchor
    (verification) before it, so the line a reviewer points at on a failed item is the target:
    an example of its act. Nothing else of such a rule says which act a line is (a pass quotes
    anchor and target; a pointed line on a pass may be either), so only those lines are read.
    """
    if rule.get("type") != "before":
        return None
    target = rule.get("target")
    acts = target.get("acts") if isinstance(target, Mapping) else None
    if not acts or len(acts) != 1:
        return None
    return str(acts[0]), "forbid"


# --- verdicts of rubric variants --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counts:
    """Agreement of automated with human verdicts of one criterion over ``n`` items, and the
    confusion counts of "fail" (the positive class: an error found).
    """

    n: int
    agreed: int
    tp: int
    fp: int
    fn: int

    @property
    def agreement(self) -> float:
        """Share of items where the rules and the reviewer agree (1.0 when n is 0)."""
        return self.agreed / self.n if self.n else 1.0

    @property
    def fail_precision(self) -> float | None:
        """Of the rules' fails, the share the reviewer confirmed (None when no fail)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def fail_recall(self) -> float | None:
        """Of the reviewer's fails, the share the rules found (None when no fail)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)
        return {"n": self.n, "agreed": self.agreed, "agreement": r(self.agreement),
                "fail_precision": r(self.fail_precision), "fail_recall": r(self.fail_recall),
                "tp": self.tp, "fp": self.fp, "fn": self.fn}


def counts(pairs: Iterable[tuple[str, str]]) -> Counts:
    """:class:`Counts` of ``(automated, human)`` verdict pairs."""
    n = agreed = tp = fp = fn = 0
    for auto, human in pairs:
        n += 1
        agreed += auto == human
        tp += auto == "fail" and human == "fail"
        fp += auto == "fail" and human != "fail"
        fn += auto != "fail" and human == "fail"
    return Counts(n, agreed, tp, fp, fn)


class Verdicts:
    """The rules' verdicts of rubric variants on reviewed calls.

    Criteria with an act operand are evaluated on the stored conversations, each call tagged
    once per act model; the others give the verdict stored on the reviewed card. Every
    variant evaluated is kept alive for the session: an evaluation context caches results
    per rule object.
    """

    def __init__(self, calls: Sequence[ReviewedCall], base_model: ActTagger) -> None:
        self.calls = {c.call_id: c for c in calls}
        self.base_model = base_model
        self._contexts: dict[tuple[str, str], EvaluationContext] = {}
        self._kept: list[Any] = []

    def _context(self, model: ActTagger, call: ReviewedCall) -> EvaluationContext:
        key = (model.model_id, call.call_id)
        ctx = self._contexts.get(key)
        if ctx is None:
            from qa_pipeline.acts.track import tag_conversation
            from qa_pipeline.conversation.metrics import compute_metrics

            conv = call.conversation
            ctx = self._contexts[key] = EvaluationContext(
                conv, compute_metrics(conv), act_track=tag_conversation(conv, model))
        return ctx

    def of(self, rubric: Rubric, section: Section, criterion: Criterion,
           call_ids: Iterable[str]) -> dict[str, str]:
        """Call id -> the rules' own verdict of ``criterion`` (for calls that reviewed it).

        Raises:
            QAPipelineError: the criterion cannot be evaluated from the stored call.
        """
        ids = [c for c in call_ids if criterion.id in self.calls[c].labels]
        if not reevaluable(criterion.rule):
            return {c: self.calls[c].automated[criterion.id] for c in ids}
        self._kept.append((rubric, criterion))
        model = rubric.act_model(self.base_model)
        thresholds = criterion.review or rubric.review.for_severity(criterion.severity)
        out = {}
        for c in ids:
            ctx = self._context(model, self.calls[c])
            result = evaluate_criterion(section, criterion, criterion.parsed_rule, thresholds,
                                        ctx)
            out[c] = result.provisional_status.value
        return out

    def counts(self, rubric: Rubric, section: Section, criterion: Criterion,
               call_ids: Iterable[str]) -> Counts:
        """Agreement of ``criterion`` with the reviewers on ``call_ids``."""
        verdicts = self.of(rubric, section, criterion, call_ids)
        return counts((v, self.calls[c].labels[criterion.id]) for c, v in verdicts.items())


# --- tuning -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CriterionTuning:
    """What tuning did to one criterion (or why it left it alone).

    Attributes:
        criterion_id: the criterion.
        what: ``min_probability``, ``examples``, ``refit`` or ``uncertain_band``; empty when
            unchanged.
        where: the operand (``rule.then``) or act the change applies to.
        before: the old value (JSON form).
        after: the new value (JSON form).
        tune_before: agreement on the tune part before the change.
        tune_after: agreement on the tune part after it.
        n_tune: reviewed items of the criterion on the tune part.
        reason: why nothing changed (empty when something did).
    """

    criterion_id: str
    what: str
    where: str
    before: Any
    after: Any
    tune_before: float | None
    tune_after: float | None
    n_tune: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)
        return {"criterion_id": self.criterion_id, "what": self.what, "where": self.where,
                "before": self.before, "after": self.after, "tune_before": r(self.tune_before),
                "tune_after": r(self.tune_after), "n_tune": self.n_tune, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TuningResult:
    """A candidate rubric (raw YAML data, not yet versioned) and what changed."""

    data: dict[str, Any]
    rubric: Rubric
    changes: tuple[CriterionTuning, ...]
    unchanged: tuple[CriterionTuning, ...]
    tune_calls: tuple[str, ...]
    test_calls: tuple[str, ...]


def _locate(data: dict[str, Any], criterion_id: str) -> dict[str, Any]:
    for section in data["sections"]:
        for c in section["criteria"]:
            if c["id"] == criterion_id:
                found: dict[str, Any] = c
                return found
    raise RubricError(f"criterion {criterion_id!r} is not in the rubric data")


def dump_rubric(data: Mapping[str, Any], like: str | None = None) -> str:
    """Rubric data as YAML the loader accepts (no anchors or aliases, which it refuses).

    Args:
        data: the rubric's data.
        like: the YAML text ``data`` was tuned from. Its comments, key order and list styles
            are kept wherever the data still has the same keys: a QA lead's notes on why a
            criterion reads as it does outlive the tuning that changed a threshold.
    """
    if like is not None:
        return _dump_like(data, like)
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(dict(data), Dumper=_NoAliases, allow_unicode=True, sort_keys=False,
                     width=100)


def _dump_like(data: Mapping[str, Any], like: str) -> str:
    import io

    try:
        from ruamel.yaml import YAML
    except ImportError as e:  # a declared dependency; chained for a broken install
        raise RubricError("ruamel.yaml is needed to keep a tuned rubric's comments") from e

    yml = YAML(typ="rt")
    yml.width = 100
    yml.allow_unicode = True
    yml.indent(mapping=2, sequence=4, offset=2)  # the layout of the shipped rubrics
    # The same list object under two keys must not become an anchor and an alias.
    yml.representer.ignore_aliases = lambda _data: True
    doc = yml.load(like)
    out = io.StringIO()
    yml.dump(_merged(doc, data), out)
    return out.getvalue()


def _merged(old: Any, new: Any) -> Any:
    """``new``, written into the round-trip node ``old`` where their shapes agree, so that
    the comments and styles attached to ``old`` stay.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merged(old[key], value) if key in old else value
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        if len(old) == len(new):
            for i, value in enumerate(new):
                old[i] = _merged(old[i], value)
            return old
        seq = CommentedSeq(new)
        if old.fa.flow_style():
            seq.fa.set_flow_style()
        return seq
    if type(old) is type(new) and old == new:
        return old  # keeps a scalar's quoting style
    return new


def _load_data(data: dict[str, Any], source: str) -> Rubric:
    from qa_pipeline.rubric.loader import load_rubric_text

    return load_rubric_text(dump_rubric(data), source)


class _Tuner:
    def __init__(self, data: dict[str, Any], rubric: Rubric, verdicts: Verdicts,
                 tune: Sequence[str], options: TuneOptions,
                 redact: Callable[[str], str]) -> None:
        self.data = copy.deepcopy(data)
        self.rubric = rubric
        self.verdicts = verdicts
        self.tune = tune
        self.options = options
        self.redact = redact
        self.changes: list[CriterionTuning] = []
        self.unchanged: dict[str, CriterionTuning] = {}

    def n_tune(self, criterion_id: str) -> int:
        return sum(criterion_id in self.verdicts.calls[c].labels for c in self.tune)

    def agreed(self, rubric: Rubric, section: Section, criterion: Criterion) -> Counts:
        return self.verdicts.counts(rubric, section, criterion, self.tune)

    def current(self, criterion_id: str) -> tuple[Section, Criterion]:
        """A criterion of the candidate as it stands now."""
        return next((s, c) for s, c in self.rubric.criteria() if c.id == criterion_id)

    def reload(self) -> None:
        self.rubric = _load_data(self.data, f"{self.rubric.id} (candidate)")

    def skip(self, criterion_id: str, reason: str) -> None:
        self.unchanged.setdefault(criterion_id, CriterionTuning(
            criterion_id, "", "", None, None, None, None, self.n_tune(criterion_id), reason))

    # Few-shot examples of the rubric's own acts, and refits of built-in act heads ---------
    def examples(self) -> None:
        from qa_pipeline.acts import ACTS

        for criterion_id in [c.id for _, c in self.rubric.criteria()]:
            section, criterion = self.current(criterion_id)
            subject = subject_act(criterion.rule)
            pointed_only = False
            if subject is None:
                subject = pointed_target_act(criterion.rule)
                pointed_only = True
            if subject is None:
                continue
            act, mode = subject
            own = self.rubric.acts.get(act)
            # A tenant's act (not built in, not the rubric's) keeps its examples in the
            # tenant's YAML, which tuning a rubric does not rewrite.
            if own is None and act not in ACTS:
                continue
            n = self.n_tune(criterion.id)
            if n < self.options.min_examples:
                continue  # its thresholds step says why
            positives, negatives = self._evidence_examples(criterion, act, mode, pointed_only)
            if not positives and not negatives:
                continue
            refit = own is None or own.refit
            before = self.agreed(self.rubric, section, criterion)
            defined = self.data.setdefault("acts", {})
            saved = copy.deepcopy(defined.get(act))
            raw = defined.setdefault(act, {"refit": True})
            old = (list(raw.get("examples") or []), list(raw.get("counter_examples") or []))
            raw["examples"] = old[0] + positives
            raw["counter_examples"] = old[1] + negatives
            candidate = _load_data(self.data, f"{self.rubric.id} (candidate)")
            after = self.agreed(candidate, *next((s, c) for s, c in candidate.criteria()
                                                 if c.id == criterion.id))
            # Every criterion that names the act hears of the new examples: none may lose.
            others = [cid for _, c in self.rubric.criteria() if c.id != criterion.id
                      and reevaluable(c.rule)
                      and any(act in site.acts for site in act_sites(c.rule))
                      for cid in (c.id,)]
            worse = [cid for cid in others if self.agreed(
                candidate, *next((s, c) for s, c in candidate.criteria() if c.id == cid)
            ).agreed < self.agreed(self.rubric, *self.current(cid)).agreed]
            # A refit changes the shipped model for this rubric: it must earn its place on the
            # tune part. New examples of the rubric's own act only need to lose nothing.
            if after.agreed < before.agreed + (1 if refit else 0) or worse:
                if saved is None:
                    del defined[act]
                    if not defined:
                        del self.data["acts"]
                else:
                    defined[act] = saved
                lost = ([criterion.id] if after.agreed < before.agreed else []) + worse
                self.skip(criterion.id, f"examples from reviews of act {act} lowered "
                          f"agreement on the tune part ({', '.join(lost)})" if lost else
                          f"a refit of act {act} on examples from reviews did not raise "
                          "agreement on the tune part")
                continue
            self.rubric = candidate
            self.changes.append(CriterionTuning(
                criterion.id, "refit" if refit else "examples", f"act {act}",
                {"examples": len(old[0]), "counter_examples": len(old[1])},
                {"examples": len(raw["examples"]),
                 "counter_examples": len(raw["counter_examples"])},
                before.agreement, after.agreement, n))

    def _evidence_examples(self, criterion: Criterion, act: str, mode: str,
                           pointed_fails_only: bool = False) -> tuple[list[str], list[str]]:
        """Examples and counter-examples of ``act`` from the reviewed items of ``criterion``.

        Where the reviewer pointed at utterances, those are the item's evidence (the rules'
        quotes are not used); otherwise the rules' quotes are. The act was there when a
        require rule passed or a forbid rule failed in the reviewer's verdict: its evidence
        lines are examples, else counter-examples (a false alarm's quoted line). A line that
        lands on both sides is dropped, unless only one side comes from a reviewer's pointing,
        which then wins. Pointed lines come first, so the cap keeps them.
        With ``pointed_fails_only`` (see :func:`pointed_target_act`) only the lines a reviewer
        pointed at on a failed item are read.
        """
        defined = self.rubric.acts.get(act)
        known = (set(defined.examples) | set(defined.counter_examples)) if defined else set()
        # text -> whether a reviewer pointed at it (on that side)
        positives: dict[str, bool] = {}
        negatives: dict[str, bool] = {}
        for by_person in (True, False):
            for cid in sorted(self.tune):
                call = self.verdicts.calls[cid]
                label = call.labels.get(criterion.id)
                if label not in ("pass", "fail"):
                    continue
                pointed = call.pointed.get(criterion.id, ())
                if by_person != bool(pointed):
                    continue
                if pointed_fails_only and not (pointed and label == "fail"):
                    continue
                indices = pointed or call.evidence.get(criterion.id, ())
                present = (label == "pass") == (mode == "require")
                side = positives if present else negatives
                utterances = call.conversation.utterances
                for i in indices:
                    if 0 <= i < len(utterances):
                        text = self.redact(utterances[i].text).strip()
                        if text and text not in known:
                            side[text] = side.get(text, False) or by_person
        cap = self.options.max_new_examples

        def kept(side: dict[str, bool], other: dict[str, bool]) -> list[str]:
            return [t for t, person in side.items()
                    if t not in other or (person and not other[t])][:cap]

        return kept(positives, negatives), kept(negatives, positives)

    # Act probability thresholds -----------------------------------------------------------
    def thresholds(self) -> None:
        for criterion_id in [c.id for _, c in self.rubric.criteria()]:
            section, criterion = self.current(criterion_id)
            sites = act_sites(criterion.rule)
            if not sites:
                continue
            n = self.n_tune(criterion.id)
            if n < self.options.min_examples:
                self.skip(criterion.id, f"only {n} reviewed items on the tune part (at least "
                          f"{self.options.min_examples} needed)")
                continue
            if not reevaluable(criterion.rule):
                used = ", ".join(sorted(rule_types_in(criterion.rule) & STORED_ONLY_TYPES))
                self.skip(criterion.id, f"rests on {used} analysis, which tuning does not "
                          "recompute")
                continue
            try:
                self._tune_sites(section, criterion, sites)
            except QAPipelineError as e:
                self.skip(criterion.id, f"cannot be evaluated from the stored calls: {e}")

    def _tune_sites(self, section: Section, criterion: Criterion, sites: list[ActSite]) -> None:
        rule = copy.deepcopy(criterion.rule)
        start = self.agreed(self.rubric, section, criterion)
        best = start
        for _round in range(2):  # coordinate ascent: operands interact through the rule
            moved = False
            for site in sites:
                node: Any = rule
                for key in site.path:
                    node = node[key]
                current = node.get("min_probability")
                values: list[float | None] = [current, None, *self.options.probability_grid]
                for value in dict.fromkeys(values):
                    if value == current:
                        continue
                    variant = with_min_probability(rule, site.path, value)
                    got = self.agreed(self.rubric, section, _with_rule(criterion, variant))
                    # Strictly better only: on ties the current value stays.
                    if got.agreed > best.agreed:
                        best, rule, moved = got, variant, True
                        current = value
            if not moved:
                break
        if best.agreed <= start.agreed:
            self.skip(criterion.id, "no act threshold agrees better with the reviews on the "
                      "tune part")
            return
        for site, new in zip(sites, act_sites(rule), strict=True):
            if site.min_probability != new.min_probability:
                self.changes.append(CriterionTuning(
                    criterion.id, "min_probability", site.label, site.min_probability,
                    new.min_probability, start.agreement, best.agreement, start.n))
        _locate(self.data, criterion.id)["rule"] = rule
        self.reload()

    # Question review bands ----------------------------------------------------------------
    def bands(self) -> None:
        target = self.options.review_target_agreement
        for _, criterion in self.rubric.criteria():
            rule = criterion.rule
            if rule.get("type") != "question":
                continue
            rows = [(call.values.get(criterion.id), call.automated[criterion.id],
                     call.labels[criterion.id])
                    for c in self.tune for call in (self.verdicts.calls[c],)
                    if criterion.id in call.labels]
            scored = [(p, a, h) for p, a, h in rows if p is not None]
            if len(scored) < self.options.min_examples:
                self.skip(criterion.id, f"only {len(scored)} reviewed judge answers on the tune "
                          f"part (at least {self.options.min_examples} needed)")
                continue
            low, high = (float(x) for x in rule.get("uncertain_band", (0.0, 0.8)))
            chosen = None
            for h in sorted({*self.options.probability_grid, high}):
                if h < low:
                    continue
                auto = [(a, hu) for p, a, hu in scored if not low <= p <= h]
                if auto and counts(auto).agreement >= target:
                    chosen = h
                    break
            if chosen is None:
                self.skip(criterion.id, f"no band leaves automatic answers that agree with "
                          f"the reviews {target:.0%} of the time on the tune part")
                continue
            if chosen == high:
                self.skip(criterion.id, "the current uncertain band already fits the reviews")
                continue
            self.changes.append(CriterionTuning(
                criterion.id, "uncertain_band", "rule.uncertain_band", [low, high],
                [low, chosen], _automatic_agreement(scored, low, high),
                _automatic_agreement(scored, low, chosen), len(scored)))
            _locate(self.data, criterion.id)["rule"] = {**rule, "uncertain_band": [low, chosen]}
            self.reload()


def _automatic_agreement(scored: Sequence[tuple[float, str, str]], low: float, high: float
                         ) -> float:
    """Agreement of the judge's answers outside the band ``[low, high]`` with the reviews."""
    auto = [(a, h) for p, a, h in scored if not low <= p <= high]
    return counts(auto).agreement if auto else 1.0


def tune_rubric(data: Mapping[str, Any], rubric: Rubric, calls: Sequence[ReviewedCall],
                base_model: ActTagger, options: TuneOptions | None = None,
                redact: Callable[[str], str] | None = None) -> TuningResult:
    """Refit ``rubric``'s tunable values on the tune part of ``calls``.

    Args:
        data: the rubric file's raw YAML data (the candidate keeps everything else as is).
        rubric: the same rubric, loaded.
        calls: reviewed calls scored under this rubric id (any version).
        base_model: the act model the pipeline scores with (the rubric's own acts are added).
        options: split and search settings.
        redact: applied to every utterance that becomes a few-shot example (default: remove
            phone numbers, IDs, cards and emails with :func:`qa_pipeline.privacy.redact_text`).
    """
    opts = options or TuneOptions()
    tune, test = split_calls((c.call_id for c in calls), opts.holdout_share, opts.seed)
    if redact is None:
        from qa_pipeline.privacy import redact_text

        def redact(text: str) -> str:
            return redact_text(text)[0]
    tuner = _Tuner(dict(data), rubric, Verdicts(calls, base_model), sorted(tune), opts, redact)
    tuner.examples()
    tuner.thresholds()
    tuner.bands()
    changed = {c.criterion_id for c in tuner.changes}
    unchanged = tuple(u for cid, u in tuner.unchanged.items() if cid not in changed)
    return TuningResult(tuner.data, tuner.rubric, tuple(tuner.changes), unchanged,
                        tuple(sorted(tune)), tuple(sorted(test)))


# --- comparison on held-out reviews -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One criterion, current vs candidate, on the test part."""

    criterion_id: str
    current: Counts
    candidate: Counts

    @property
    def change(self) -> Change:
        """Improved, regressed or the same, by agreed items (ties are the same)."""
        if self.candidate.agreed > self.current.agreed:
            return "improved"
        if self.candidate.agreed < self.current.agreed:
            return "regressed"
        return "same"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"criterion_id": self.criterion_id, "n": self.current.n,
                "current": self.current.to_dict(), "candidate": self.candidate.to_dict(),
                "change": self.change}


@dataclass(frozen=True, slots=True)
class Comparison:
    """Per-criterion comparison of two versions of a rubric on held-out reviews."""

    current_ref: str
    candidate_ref: str
    test_calls: int
    rows: tuple[ComparisonRow, ...] = field(default=())

    @property
    def regressed(self) -> tuple[str, ...]:
        """Criteria that agree less with the reviewers under the candidate."""
        return tuple(r.criterion_id for r in self.rows if r.change == "regressed")

    @property
    def improved(self) -> tuple[str, ...]:
        """Criteria that agree more with the reviewers under the candidate."""
        return tuple(r.criterion_id for r in self.rows if r.change == "improved")

    @property
    def publishable(self) -> bool:
        """No criterion regresses and at least one improves."""
        return not self.regressed and bool(self.improved)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"current": self.current_ref, "candidate": self.candidate_ref,
                "test_calls": self.test_calls, "rows": [r.to_dict() for r in self.rows],
                "improved": list(self.improved), "regressed": list(self.regressed),
                "publishable": self.publishable}


def compare_rubrics(current: Rubric, candidate: Rubric, calls: Sequence[ReviewedCall],
                    test: Iterable[str], base_model: ActTagger) -> Comparison:
    """Current vs candidate per criterion (those in both, in the candidate's order) on the
    test calls.
    """
    test_ids = sorted(set(test) & {c.call_id for c in calls})
    verdicts = Verdicts(calls, base_model)
    old = {c.id: (s, c) for s, c in current.criteria()}
    rows = []
    for section, criterion in candidate.criteria():
        if criterion.id not in old:
            continue
        before = verdicts.counts(current, *old[criterion.id], test_ids)
        after = verdicts.counts(candidate, section, criterion, test_ids)
        if before.n:
            rows.append(ComparisonRow(criterion.id, before, after))
    return Comparison(current.ref, candidate.ref, len(test_ids), tuple(rows))


def base_act_model() -> ActTagger:
    """The act model rubrics are scored with (the packaged one)."""
    from qa_pipeline.acts import load_embedded_act_model

    return load_embedded_act_model()
