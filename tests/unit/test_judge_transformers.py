"""The transformers judge backend on a tiny Llama built here (issue 24, scope item 4): choice
scores against a plain full forward pass, batching, prefix reuse, greedy citations against
``model.generate``, chat templates, and the offline error.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qa_pipeline.errors import ModelUnavailableError, UnknownBackendError  # noqa: E402
from qa_pipeline.judge import (  # noqa: E402
    ChoiceRequest,
    Judge,
    JudgeConfig,
    Question,
    load_judge,
    transcript_text,
)
from qa_pipeline.judge.judge import ANSWER_TEXT, question_text  # noqa: E402
from qa_pipeline.judge.transformers_backend import (  # noqa: E402
    TransformersJudge,
    TransformersJudgeOptions,
)
from tests.helpers import make_conversation  # noqa: E402
from tests.judge_helpers import CHATML, build_tiny_causal_lm, one_torch_thread  # noqa: E402

ROWS = [["agent", 0.0, 2.0, "hello, thank you for calling"],
        ["customer", 2.0, 4.0, "my card was charged twice"],
        ["agent", 4.0, 6.0, "may I have your date of birth?"],
        ["customer", 6.0, 8.0, "sure, 1 March 1990"],
        ["agent", 8.0, 10.0, "您好，请问有什么可以帮您？"]]
QUESTIONS = [Question("Did the agent verify the caller's identity?", "date of birth counts"),
             Question("Did the agent greet the caller?"),
             Question("Did the agent promise a refund?", allow_not_applicable=False)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_llm"))


@pytest.fixture(scope="module")
def chat_model_dir(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_chat_llm"), chat_template=CHATML)


def _backend(path, **kw):
    return TransformersJudge(TransformersJudgeOptions(str(path), device="cpu", **kw))


def _requests(backend, conv):
    prefix, tail = backend.format_prompt(transcript_text(conv))
    reqs = [ChoiceRequest(question_text(q) + tail + "Answer:",
                          tuple(ANSWER_TEXT[c] for c in q.choices)) for q in QUESTIONS]
    return prefix, reqs


def _reference_logprob(backend, text, choice):
    """log p(choice | text) from one forward pass over the whole string, no cache."""
    tok, model = backend._tokenizer, backend._model
    ctx = tok(text)["input_ids"]
    full = tok(text + choice)["input_ids"]
    assert full[: len(ctx)] == ctx
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), -1)
    return sum(float(logp[k - 1, full[k]]) for k in range(len(ctx), len(full)))


def test_choice_scores_equal_a_plain_forward_pass(model_dir):
    backend = _backend(model_dir)
    conv = make_conversation(ROWS)
    prefix, reqs = _requests(backend, conv)
    scores = backend.score_choices(prefix, reqs)
    for req, row in zip(reqs, scores, strict=True):
        assert len(row) == len(req.choices)
        for choice, got in zip(req.choices, row, strict=True):
            want = _reference_logprob(backend, prefix + req.context, choice)
            assert got == pytest.approx(want, abs=1e-3)
    # The tiny model is not indifferent: the answers differ, so the comparison means something.
    assert len({round(x, 3) for row in scores for x in row}) > 3


def test_a_choice_right_after_the_prefix_is_scored_from_its_last_logits(model_dir):
    backend = _backend(model_dir)
    prefix = transcript_text(make_conversation(ROWS)) + "\nAnswer:"
    (row,) = backend.score_choices(prefix, [ChoiceRequest("", (" yes", " not applicable"))])
    for choice, got in zip((" yes", " not applicable"), row, strict=True):
        assert got == pytest.approx(_reference_logprob(backend, prefix, choice), abs=1e-3)


def test_prompts_extend_the_transcript_tokens(model_dir):
    """The cached prefix's tokens are a prefix of every prompt's tokens (no whitespace merge
    across the boundary), so the cache is reused without re-encoding the question apart.
    """
    backend = _backend(model_dir)
    tok = backend._tokenizer
    assert len(tok("\n\n", add_special_tokens=False)["input_ids"]) == 1  # merged, as in Qwen
    prefix, reqs = _requests(backend, make_conversation(ROWS))
    head = tok(prefix)["input_ids"]
    for req in reqs:
        assert tok(prefix + req.context)["input_ids"][: len(head)] == head
        for choice in req.choices:
            assert tok(prefix + req.context + choice)["input_ids"][: len(head)] == head


def test_batching_does_not_change_scores(model_dir):
    conv = make_conversation(ROWS)
    one, many = _backend(model_dir, batch_size=1), _backend(model_dir, batch_size=8)
    prefix, reqs = _requests(one, conv)
    for a, b in zip(one.score_choices(prefix, reqs), many.score_choices(prefix, reqs),
                    strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def _count_prefix_passes(backend):
    """Forward passes without a cache: only the transcript prefix is encoded that way."""
    seen = {"n": 0}

    def hook(_module, _args, kwargs):
        if kwargs.get("cache") is None and kwargs.get("past_key_values") is None:
            seen["n"] += 1

    backend._model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_transcript_prefix_is_encoded_once_per_call(model_dir):
    backend = _backend(model_dir, batch_size=2)
    passes = _count_prefix_passes(backend)
    judge = Judge(backend)
    conv = make_conversation(ROWS)
    judge.ask(conv, QUESTIONS)  # 3 questions, 8 choices in 4 batches, 3 citation generations
    judge.ask(conv, [Question("Did the agent apologise?")])  # another criterion, same call
    assert passes["n"] == 1
    judge.ask(make_conversation(ROWS[:3], call_id="c2"), QUESTIONS[:1])
    assert passes["n"] == 2


def test_judge_answer_is_the_normalised_best_choice(model_dir):
    backend = _backend(model_dir)
    conv = make_conversation(ROWS)
    answers = Judge(backend).ask(conv, QUESTIONS)
    prefix, reqs = _requests(backend, conv)
    for q, row, ans in zip(QUESTIONS, backend.score_choices(prefix, reqs), answers,
                           strict=True):
        total = sum(math.exp(x) for x in row)
        want = {c: math.exp(x) / total for c, x in zip(q.choices, row, strict=True)}
        assert dict(ans.probabilities) == pytest.approx(want, abs=1e-6)
        assert ans.answer == max(want, key=lambda c: want[c])
        assert ans.probability == pytest.approx(max(want.values()))
        assert set(dict(ans.probabilities)) == set(q.choices)


def test_citation_generation_equals_greedy_generate(model_dir):
    backend = _backend(model_dir)
    conv = make_conversation(ROWS)
    prefix, reqs = _requests(backend, conv)
    contexts = [r.context + " yes\nEvidence: [" for r in reqs]
    got = backend.generate(prefix, contexts, max_new_tokens=10, stop="]")
    tok, model = backend._tokenizer, backend._model
    for context, gen in zip(contexts, got, strict=True):
        ids = tok(prefix + context, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=10, do_sample=False,
                                 attention_mask=torch.ones_like(ids))
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        if "]" in text:
            assert gen.stopped and gen.text == text[: text.index("]")]
        else:
            assert not gen.stopped and gen.text == text


def test_chat_template_wraps_the_shared_transcript(chat_model_dir):
    backend = _backend(chat_model_dir)
    conv = make_conversation(ROWS)
    head, tail = backend.format_prompt(transcript_text(conv))
    assert head.startswith("<|im_start|>user\n") and head.endswith(transcript_text(conv))
    assert tail == "<|im_end|>\n<|im_start|>assistant\n"
    passes = _count_prefix_passes(backend)
    answers = Judge(backend).ask(conv, QUESTIONS)
    assert passes["n"] == 1 and len(answers) == 3
    prefix, reqs = _requests(backend, conv)
    row = backend.score_choices(prefix, reqs[:1])[0]
    # Chat prompts carry their special tokens as text: encoded without adding more.
    tok, model = backend._tokenizer, backend._model
    ctx = tok(prefix + reqs[0].context, add_special_tokens=False)["input_ids"]
    full = tok(prefix + reqs[0].context + " yes", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), -1)
    want = sum(float(logp[k - 1, full[k]]) for k in range(len(ctx), len(full)))
    assert row[0] == pytest.approx(want, abs=1e-3)
    assert tok.convert_tokens_to_ids("<|im_start|>") in ctx


def test_hub_id_offline_fails_at_once_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelUnavailableError) as e:
        load_judge(JudgeConfig(backend="transformers", model="example-org/judge-7b-instruct"))
    message = str(e.value)
    assert "example-org/judge-7b-instruct" in message
    assert "local directory" in message and "huggingface-cli download" in message


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'vllm'; expected one of: openai_compatible, "
                                         "transformers"):
        JudgeConfig(backend="vllm")
    with pytest.raises(UnknownBackendError) as e:  # a config built without validation
        load_judge(JudgeConfig.model_construct(backend="vllm"))
    assert "openai_compatible, transformers" in str(e.value)


def test_local_model_path_through_the_registry(model_dir):
    judge = load_judge(JudgeConfig(backend="transformers", model=str(model_dir),
                                   device="cpu", batch_size=4))
    assert judge.model_id == f"transformers:{model_dir}"
    (answer,) = judge.ask(make_conversation(ROWS), QUESTIONS[:1])
    assert sum(p for _, p in answer.probabilities) == pytest.approx(1.0)


def test_a_call_longer_than_the_model_context_goes_to_review(tmp_path):
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.registry import parse_rule
    from qa_pipeline.types import Status

    short = build_tiny_causal_lm(tmp_path / "short", max_positions=256)
    judge = Judge(_backend(short))
    long_call = make_conversation([["agent", float(i), i + 1.0, "may I have your date of "
                                    "birth, please?"] for i in range(40)])
    rule = parse_rule({"type": "question", "question": "Did the agent greet the caller?"})
    outcome = rule.evaluate(EvaluationContext(long_call, judges={"default": judge}))
    assert outcome.status is Status.NOT_APPLICABLE
    assert "judge could not answer" in outcome.review_reason
    assert "judge model takes 256" in outcome.review_reason
    (answer,) = judge.ask(make_conversation(ROWS[:1]), QUESTIONS[1:2])  # a short call fits
    assert answer.answer in QUESTIONS[1].choices
