"""Act tracks in scoring: tagged lazily and once per call, from the call's one embedding pass
(shared with sentiment and call reason), with a rubric's own few-shot acts; and the one notion
of a complaint across the complaint flag, emotion and call reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from qa_pipeline.acts.track import (
    ActTrack,
    TagOptions,
    clauses,
    parts_to_tag,
    sentences,
    tag_conversation,
    track_from_labels,
)
from qa_pipeline.call_reason import CallReasonClassifier
from qa_pipeline.call_reason.taxonomy import Taxonomy
from qa_pipeline.errors import RubricError, RubricValidationError
from qa_pipeline.pipeline import CallAnalyzers, score_conversation
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.embeddings import CallEmbeddings, CharNgramEmbedder
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.sentiment import LABELS, ClassifierScorer
from qa_pipeline.types import Conversation, Provenance, Role, Utterance, Word
from tests.helpers import make_conversation


class CountingEmbedder(CharNgramEmbedder):
    """Character n-gram embedder that records every text it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed(texts)


class PrototypeActs:
    """Test act model: P(act) = cosine similarity to the act's example (char n-grams), with
    few-shot tenant acts fitted the same way. Records how it was asked.
    """

    embedder_id = CharNgramEmbedder.model_id

    def __init__(self, examples: Mapping[str, str], model_id: str = "proto@1") -> None:
        self.examples = dict(examples)
        self.model_id = model_id
        self.calls: list[str] = []
        self.fits: list[tuple[str, ...]] = []
        self._emb = CharNgramEmbedder()

    @property
    def acts(self) -> tuple[str, ...]:
        return tuple(self.examples)

    def predict_embeddings(self, emb: np.ndarray, roles: Sequence[str] | None = None,
                           texts: Sequence[str] | None = None) -> np.ndarray:
        self.calls.append("embeddings")
        protos = self._emb.embed(list(self.examples.values()))
        out: np.ndarray = np.clip(emb @ protos.T, 0.0, 1.0)
        return out

    def predict_texts(self, texts: Sequence[str], roles: Sequence[str] | None = None
                      ) -> np.ndarray:
        self.calls.append("texts")
        return self.predict_embeddings(self._emb.embed(list(texts)), roles)

    def threshold(self, act: str) -> float:
        return 0.75

    def with_tenant_acts(self, defs: Mapping[str, Any]) -> PrototypeActs:
        self.fits.append(tuple(defs))
        extra = {k: d.positives[0] for k, d in defs.items()}
        return PrototypeActs({**self.examples, **extra}, f"{self.model_id}+tenant")


class EmbeddingSentiment:
    """Sentiment classifier over char n-gram embeddings (always negative, so that a complaint
    act counts as one: see ``COMPLAINT_SENTIMENT``); counts its inputs."""

    model_id = "test-sentiment"
    embedder_id = CharNgramEmbedder.model_id

    def __init__(self) -> None:
        self.from_texts = 0

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.from_texts += 1
        return self.predict_embeddings(np.zeros((len(texts), 1)))

    def predict_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        out = np.zeros((len(vectors), len(LABELS)))
        out[:, LABELS.index("negative")] = 1.0
        return out


ACTS = {"greeting": "thanks for calling acme this is dana",
        "complaint": "this is ridiculous i am fed up with your service",
        "apology_empathy": "i am so sorry about that",
        "escalation_threat": "put your manager on the phone or i report you",
        "insult": "you are an idiot"}

RUBRIC = """
id: t
version: 1
sections:
  - id: s
    weight: 1
    criteria:
{criteria}
"""
PHRASE_ONLY = """      - id: hello
        points: 1
        rule: {type: required_phrase, role: agent, phrases: [thanks for calling]}
"""
WITH_ACTS = PHRASE_ONLY + """      - id: greeting
        points: 1
        rule: {type: act, role: agent, acts: [greeting], within_s: 15}
      - id: complaint
        kind: flag
        rule: {type: act, role: customer, acts: [complaint], mode: forbid}
"""


def _call():
    return make_conversation([
        ["agent", 0.0, 3.0, "thanks for calling acme this is dana"],
        ["customer", 3.0, 6.0, "this is ridiculous i am fed up with your service"],
        ["agent", 6.0, 8.0, "i am so sorry about that"],
    ], language="en")


def _statuses(card):
    return {i.result.criterion_id: i.result.status.value for i in card.items}


def test_a_rubric_without_act_rules_never_tags():
    def no_acts() -> ActTrack:
        raise AssertionError("acts were tagged for a rubric without act rules")

    rubric = load_rubric_text(RUBRIC.format(criteria=PHRASE_ONLY))
    ctx = EvaluationContext(_call(), act_track_factory=no_acts)
    evaluate(rubric, ctx)
    assert ctx.act_track is None


def test_acts_are_tagged_once_per_call_from_the_shared_embedding_pass():
    embedder = CountingEmbedder()
    model = PrototypeActs(ACTS)
    sentiment = EmbeddingSentiment()
    taxonomy = Taxonomy.model_validate({
        "id": "r", "classes": [
            {"id": "complaint", "acts": ["complaint"], "examples": ["your service is awful"]},
            {"id": "lookup", "keywords": ["balance"], "examples": ["check my balance"]},
            {"id": "other"}]})
    reasons = CallReasonClassifier(taxonomy, embedder_factory=lambda: embedder)
    an = CallAnalyzers(ClassifierScorer(sentiment), reasons, None, acts=model)
    conv = _call()
    card = score_conversation(conv, load_rubric_text(RUBRIC.format(criteria=WITH_ACTS)),
                              analyzers=an, embedder_factory=lambda: embedder)
    texts = [u.text for u in conv.utterances]
    # Each utterance embedded once, for sentiment, call reason and acts together.
    assert sorted(t for t in embedder.seen if t in texts) == sorted(texts)
    assert sentiment.from_texts == 0
    assert model.calls == ["embeddings"]
    assert _statuses(card)["greeting"] == "pass"
    assert _statuses(card)["complaint"] == "fail"
    assert card.provenance["models"]["acts"] == "proto@1"
    # Call reason reads the same complaint act (the taxonomy lists no complaint keyword).
    assert card.call_reason is not None and card.call_reason["label"] == "complaint"
    # Emotion's complaint intent is the complaint act too.
    assert card.emotion is not None and card.emotion["complaint_intent"]["detected"]
    assert card.emotion["complaint_intent"]["utterance_indices"] == [1]


def test_without_shared_embeddings_of_its_encoder_the_model_embeds_itself():
    conv = _call()
    model = PrototypeActs(ACTS)
    other = CallEmbeddings([u.text for u in conv.utterances], CountingEmbedder)
    model.embedder_id = "another-encoder"
    track = tag_conversation(conv, model, other)
    assert model.calls[0] == "texts" and not other.computed
    assert track.best(0, ("greeting",)) is not None
    assert track.best(1, ("greeting",)) is None


def test_track_rejects_unknown_acts_and_bad_shapes():
    conv = _call()
    track = track_from_labels(conv, {0: {"greeting": 0.9}}, ("greeting", "insult"))
    assert track.probability(0, "greeting") == 0.9 and track.threshold("insult") == 0.5
    with pytest.raises(RubricError, match="known acts: greeting, insult"):
        track.column("refund_quote")
    with pytest.raises(ValueError):
        ActTrack("m", ("a", "b"), ((0.1,),), (0.5, 0.5))


TENANT = """
id: t
version: 1
acts:
  claim_promise:
    examples: [your claim will definitely be approved, we will surely pay the claim]
    counter_examples: [i cannot say whether the claim will be approved]
    role: agent
    description: promises the outcome of an insurance claim
sections:
  - id: s
    weight: 1
    criteria:
      - id: no_claim_promise
        severity: fatal
        points: 1
        rule: {type: act, role: agent, acts: [claim_promise], mode: forbid}
"""


def test_a_rubric_defines_its_own_act_by_examples():
    pytest.importorskip("qa_pipeline.acts.model")
    rubric = load_rubric_text(TENANT)
    base = PrototypeActs(ACTS)
    conv = make_conversation([["agent", 0, 3, "your claim will definitely be approved"],
                              ["agent", 3, 6, "anything else"]], language="en")
    card = score_conversation(conv, rubric, analyzers=CallAnalyzers(acts=base))
    assert _statuses(card)["no_claim_promise"] == "fail"
    assert card.provenance["models"]["acts"] == "proto@1+tenant"
    evidence = card.items[0].result.evidence[0]
    assert evidence.utterance_index == 0 and evidence.match is not None
    assert evidence.match.method == "act" and evidence.match.pattern == "claim_promise"
    # Fitted once per rubric and base model, not once per call.
    score_conversation(conv, rubric, analyzers=CallAnalyzers(acts=base))
    assert base.fits == [("claim_promise",)]


def test_rubric_act_definitions_are_validated():
    pytest.importorskip("qa_pipeline.acts.model")
    with pytest.raises(RubricValidationError, match="examples"):
        load_rubric_text(TENANT.replace(
            "[your claim will definitely be approved, we will surely pay the claim]",
            "[just one]"))
    with pytest.raises(RubricValidationError, match="act id"):
        load_rubric_text(TENANT.replace("  claim_promise:\n", "  Claim-Promise:\n"))


def test_rules_may_name_only_known_acts():
    pytest.importorskip("qa_pipeline.acts.model")
    with pytest.raises(RubricValidationError, match="unknown act 'claim_promis'"):
        load_rubric_text(TENANT.replace("acts: [claim_promise]", "acts: [claim_promis]"))
    with pytest.raises(RubricValidationError, match="built in"):
        load_rubric_text(TENANT.replace("  claim_promise:\n", "  insult:\n"))
    load_rubric_text(RUBRIC.format(criteria=WITH_ACTS))  # built-in acts need no definition


def test_each_sentence_of_a_longer_utterance_is_tagged_too():
    conv = make_conversation([
        ["agent", 0, 6, "You are an idiot. Please hold the line while I look at the account."],
        ["agent", 6, 8, "Okay. Sure."],
    ], language="en")
    model = PrototypeActs(ACTS)
    whole = tag_conversation(conv, model, options=TagOptions(split_sentences=False,
                                                               split_clauses=False))
    assert whole.best(0, ("insult",)) is None
    split = tag_conversation(conv, model)
    found = split.best(0, ("insult",))
    assert found is not None and found[1] > 0.99
    # Too short to tag alone, so only the utterance's own probabilities count.
    assert sentences("Okay. Sure.") == []
    assert sentences("Okay. You are an idiot") == ["You are an idiot"]
    assert split.probabilities[1] == whole.probabilities[1]
    assert sentences("非常抱歉让您久等了。您的地址是文三路88号。") == [
        "非常抱歉让您久等了。", "您的地址是文三路88号。"]


def test_scoring_without_act_rules_sentiment_or_call_reason_never_tags():
    class Unusable(PrototypeActs):
        def predict_embeddings(self, emb: np.ndarray, roles: Sequence[str] | None = None,
                               texts: Sequence[str] | None = None) -> np.ndarray:
            raise AssertionError("tagged")

    rubric = load_rubric_text(RUBRIC.format(criteria=PHRASE_ONLY))
    card = score_conversation(_call(), rubric, analyzers=CallAnalyzers(acts=Unusable(ACTS)),
                              embedder_factory=CountingEmbedder)
    assert _statuses(card)["hello"] == "pass" and "acts" not in card.provenance["models"]


def test_fragments_of_two_words_are_not_tagged_on_their_own():
    """A contraction is one word: "You're verified." is a two-word fragment, too short to
    tag alone (it read as an insult on the en_good_mono_8k sample).
    """
    from qa_pipeline.acts.track import sentences

    parts = sentences("Thank you. You're verified. Your order was shipped yesterday.")
    assert "You're verified." not in parts
    assert "Your order was shipped yesterday." in parts
    assert "Are you deaf?" in sentences("Sure. Are you deaf? Read the letter.")


def _timed(role: str, words: Sequence[tuple[float, float, str]], language: str) -> Conversation:
    """One utterance from (start_s, end_s, text) words, its text joined as the front end does."""
    from qa_pipeline.alignment.speakers import join_words

    ws = tuple(Word(a, b, t, 0.9) for a, b, t in words)
    utt = Utterance(0, "S1", Role(role), 1.0, ws[0].start_s, ws[-1].end_s,
                    join_words(ws, language), language, ws)
    return Conversation("c1", "default", ws[-1].end_s + 1.0, language, (utt,),
                        Provenance("test", "hand", "hand", "hand", "hand", "hand"))


def _spaced(text: str, start_s: float, step_s: float = 0.2) -> list[tuple[float, float, str]]:
    """Words of ``text`` (characters in Chinese, else whitespace-separated), back to back."""
    tokens = list(text) if any("\u4e00" <= ch <= "\u9fff" for ch in text) else text.split()
    return [(start_s + k * step_s, start_s + (k + 1) * step_s, t) for k, t in enumerate(tokens)]


def test_a_pause_inside_a_long_unpunctuated_utterance_ends_a_clause():
    """ASR joins lines said back to back into one utterance without punctuation: the pause
    between them is what is left of the boundary, and each clause is tagged on its own.
    """
    first = "please hold the line while I look at the account and the order history"
    conv = _timed("agent", _spaced(first, 0.0) + _spaced("you are an idiot", 3.4), "en")
    assert sentences(conv.utterances[0].text) == []  # no sentence punctuation at all
    assert clauses(conv.utterances[0]) == [first, "you are an idiot"]
    model = PrototypeActs(ACTS)
    found = tag_conversation(conv, model).best(0, ("insult",))
    assert found is not None and found[1] > 0.99
    assert tag_conversation(conv, model, options=TagOptions(split_clauses=False)
                            ).best(0, ("insult",)) is None
    # A pause shorter than clause_gap_s is no boundary.
    assert clauses(conv.utterances[0], TagOptions(clause_gap_s=0.7)) == []


def test_chinese_clauses_are_joined_without_spaces_and_short_ones_join_the_next():
    words = (_spaced("您好请问还有什么可以帮您", 0.0) + _spaced("嗯", 3.0)
             + _spaced("我们保证给您全额退款", 3.6))
    conv = _timed("agent", words, "zh")
    assert clauses(conv.utterances[0]) == ["您好请问还有什么可以帮您", "嗯我们保证给您全额退款"]
    assert clauses(conv.utterances[0], TagOptions(min_clause_units=20)) == []


def test_commas_end_clauses_of_long_utterances_only():
    line = ("I understand how you feel, but there is nothing I can do about it, "
            "you are an idiot")
    longer = line + ", and I have had enough of this call, goodbye now and do not call us again"
    conv = make_conversation([["agent", 0, 9, line], ["agent", 9, 18, longer]], language="en")
    ordinary, long = conv.utterances
    # Off by default, and below comma_min_utterance_units a comma joins two halves of one act
    # (the words are evenly timed: no pauses).
    assert clauses(long) == [] and clauses(ordinary) == []
    opts = TagOptions(comma_min_utterance_units=30)
    assert clauses(ordinary, opts) == []
    assert clauses(long, opts) == ["I understand how you feel,",
                                   "but there is nothing I can do about it,", "you are an idiot,",
                                   "and I have had enough of this call,",
                                   "goodbye now and do not call us again"]
    assert clauses(ordinary, TagOptions(comma_min_utterance_units=15))[-1] == "you are an idiot"


def test_text_not_spelled_by_its_words_is_cut_at_its_own_commas():
    conv = make_conversation([["agent", 0, 9, "placeholder words for the timing only here"]],
                             language="zh")
    utt = conv.utterances[0]
    edited = Utterance(utt.index, utt.speaker, utt.role, utt.role_confidence, utt.start_s,
                       utt.end_s, "好的，您的问题我已经记下了，我们保证三天内给您退款", "zh",
                       utt.words)
    opts = TagOptions(comma_min_utterance_units=20)
    assert clauses(edited, opts) == ["好的，您的问题我已经记下了，", "我们保证三天内给您退款"]
    assert clauses(edited) == []  # commas are not cut by default


def test_the_track_quotes_the_part_that_carried_an_act():
    first = "please hold the line while I look at the account and the order history"
    conv = _timed("agent", _spaced(first, 0.0) + _spaced("you are an idiot", 3.4), "en")
    track = tag_conversation(conv, PrototypeActs(ACTS))
    assert track.quote(0, "insult") == "you are an idiot"
    whole = tag_conversation(conv, PrototypeActs(ACTS),
                             options=TagOptions(split_sentences=False, split_clauses=False))
    assert whole.quote(0, "insult") is None and whole.quotes == ()
    # Every quote is a tagged part, and a part is quoted only where it beat the utterance.
    parts = parts_to_tag(conv.utterances[0])
    assert all(track.quote(0, a) in (None, *parts) for a in ACTS)
    with pytest.raises(ValueError, match="quotes"):
        ActTrack("m", ("a",), ((0.5,),), (0.5,), ((None,), (None,)))


def test_scoring_tags_with_the_analyzers_tag_options():
    criteria = """      - id: no_insult
        points: 1
        rule: {type: act, role: agent, acts: [insult], mode: forbid}
"""
    rubric = load_rubric_text(RUBRIC.format(criteria=criteria))
    first = "please hold the line while I look at the account and the order history"
    conv = _timed("agent", _spaced(first, 0.0) + _spaced("you are an idiot", 3.4), "en")
    split = score_conversation(conv, rubric, analyzers=CallAnalyzers(acts=PrototypeActs(ACTS)),
                               embedder_factory=CountingEmbedder)
    assert _statuses(split)["no_insult"] == "fail"
    # The evidence quotes the utterance, and its match names the clause that carried the act.
    (ev,) = next(i.result.evidence for i in split.items if i.result.criterion_id == "no_insult")
    assert ev.quote == conv.utterances[0].text
    assert ev.match is not None and ev.match.matched_text == "you are an idiot"
    whole = score_conversation(conv, rubric, analyzers=CallAnalyzers(
        acts=PrototypeActs(ACTS), tag_options=TagOptions(split_clauses=False)),
        embedder_factory=CountingEmbedder)
    assert _statuses(whole)["no_insult"] == "pass"
