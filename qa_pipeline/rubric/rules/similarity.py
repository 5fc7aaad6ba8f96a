"""similarity: an utterance must (or must not) mean the same as example sentences."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.matching import check_budget
from qa_pipeline.rubric.registry import RuleSpec, register_rule
from qa_pipeline.rubric.rules.conditions import Scope, evidence_for, require_or_forbid
from qa_pipeline.types import MatchHit, RuleOutcome, Status

# Utterances embedded per call of the embedder between two time-budget checks.
_EMBED_BATCH = 32


class SimilaritySpec(RuleSpec, Scope):
    """YAML block of a similarity rule."""

    type: Literal["similarity"]
    examples: tuple[str, ...] = Field(..., min_length=1)
    counter_examples: tuple[str, ...] = Field(
        (), description="sentences that must NOT count (sharpens compressed similarities)")
    threshold: float = Field(0.9, ge=0.0, le=1.0, description="cosine similarity to an example")
    margin: float = Field(0.02, ge=0.0, le=1.0,
                          description="how much closer to an example than to a counter-example")
    mode: Literal["require", "forbid"] = "require"


@register_rule("similarity", spec=SimilaritySpec)
def similarity(spec: SimilaritySpec, ctx: EvaluationContext) -> RuleOutcome:
    """Semantic match against example sentences with a sentence-embedding model.

    An utterance matches when its cosine similarity to the closest example is at least
    ``threshold`` and, with counter-examples, exceeds the closest counter-example by
    ``margin`` (embedding similarities are compressed, so margins are more reliable than raw
    thresholds).
    Passes when: ``require`` and an utterance in scope matches, or ``forbid`` and none does.
    Fails when: the opposite.
    Not applicable when: there is no utterance by ``role`` in scope.

    Example YAML:
        rule: {type: similarity, role: agent, examples: ["非常抱歉给您带来不便"], threshold: 0.9}
    """
    if not ctx.utterances(spec.role_filter):
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in the call")
    scope = spec.select(ctx)
    if not scope:
        return RuleOutcome(Status.NOT_APPLICABLE, message=f"no {spec.role} speech in scope")
    embedder = ctx.embedder
    # Embedding is the slow step: in batches, with the rubric's time budget checked between
    # them, so a long call stops part-way when the budget runs out.
    texts = [u.text for u in scope]
    batches = []
    for k in range(0, len(texts), _EMBED_BATCH):
        check_budget()
        batches.append(embedder.embed(texts[k:k + _EMBED_BATCH]))
    utt_vecs = np.concatenate(batches)
    check_budget()
    pos = embedder.embed(list(spec.examples))
    pos_sim = utt_vecs @ pos.T
    neg_best = (utt_vecs @ embedder.embed(list(spec.counter_examples)).T).max(axis=1) \
        if spec.counter_examples else np.full(len(scope), -1.0)
    evidence = []
    for i, u in enumerate(scope):
        check_budget()
        j = int(np.argmax(pos_sim[i]))
        score = float(pos_sim[i, j])
        if score >= spec.threshold and score - float(neg_best[i]) >= spec.margin:
            hit = MatchHit(spec.examples[j], "similarity", score, u.text)
            evidence.append(evidence_for(ctx, u, hit))
    considered = ctx.indices(scope)
    status, message = require_or_forbid(spec.mode, bool(evidence), "utterance similar to the "
                                        "examples")
    best_first = sorted(evidence, key=lambda e: -(e.match.score if e.match else 0.0))
    return RuleOutcome(status, tuple(best_first[:5]), message, considered)
