"""The openai_compatible judge backend against a loopback completions server that serves the
tiny test model (issue 24, scope item 4): the same answers as the transformers backend, one
identical transcript prefix in every prompt, the API key from the environment or a file and
never shown, bounded timeouts.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from qa_pipeline.errors import BackendUnavailableError, ConfigError  # noqa: E402
from qa_pipeline.judge import (  # noqa: E402
    Judge,
    JudgeConfig,
    JudgeError,
    Question,
    load_judge,
    transcript_text,
)
from qa_pipeline.judge.judge import ANSWER_TEXT, question_text  # noqa: E402
from qa_pipeline.judge.openai_backend import (  # noqa: E402
    OpenAICompatibleJudge,
    OpenAICompatibleOptions,
)
from qa_pipeline.judge.transformers_backend import (  # noqa: E402
    TransformersJudge,
    TransformersJudgeOptions,
)
from tests.helpers import make_conversation  # noqa: E402
from tests.judge_helpers import CompletionsServer, build_tiny_causal_lm, one_torch_thread  # noqa: E402
from tests.unit.test_judge_transformers import QUESTIONS, ROWS  # noqa: E402

SECRET = "sk-test-1f2e3d4c"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_llm_http"))


@pytest.fixture(scope="module")
def server(model_dir):
    with CompletionsServer(model_dir, api_key=SECRET) as s:
        yield s


def _http_judge(server, monkeypatch, **kw):
    monkeypatch.setenv("QA_PIPELINE_JUDGE_API_KEY", SECRET)
    return load_judge(JudgeConfig(backend="openai_compatible", base_url=server.base_url,
                                  model="tiny", timeout_s=30, **kw))


def test_http_answers_equal_the_transformers_backend(server, model_dir, monkeypatch):
    conv = make_conversation(ROWS)
    over_http = _http_judge(server, monkeypatch).ask(conv, QUESTIONS)
    local = Judge(TransformersJudge(TransformersJudgeOptions(str(model_dir), device="cpu"))
                  ).ask(conv, QUESTIONS)
    for a, b in zip(over_http, local, strict=True):
        assert a.answer == b.answer
        assert dict(a.probabilities) == pytest.approx(dict(b.probabilities), abs=1e-3)
        assert (a.raw_citation, a.cited, a.citation_problem) == \
            (b.raw_citation, b.cited, b.citation_problem)


def test_every_prompt_starts_with_the_same_transcript(server, monkeypatch):
    server.requests.clear()
    conv = make_conversation(ROWS)
    judge = _http_judge(server, monkeypatch, max_prompts_per_request=4)
    judge.ask(conv, QUESTIONS)
    judge.ask(conv, [Question("Did the agent apologise?")])  # another criterion, same call
    prompts = [p for body in server.requests for p in body["prompt"]]
    # 3 + 3 + 2 choices, 3 citations; then 3 choices, 1 citation.
    assert len(prompts) == 15
    assert any(len(body["prompt"]) == 4 for body in server.requests)
    lines = [f"[{i}] {r[0].upper()}: {r[3]}" for i, r in enumerate(ROWS)]
    head = prompts[0][: prompts[0].index(lines[-1]) + len(lines[-1])]
    assert all(p.startswith(head) for p in prompts)
    scoring = [b for b in server.requests if b.get("echo")]
    assert scoring and all(b["logprobs"] and b["temperature"] == 0 for b in scoring)


def test_api_key_comes_from_a_file_and_is_never_shown(server, tmp_path, monkeypatch):
    monkeypatch.delenv("QA_PIPELINE_JUDGE_API_KEY", raising=False)
    key_file = tmp_path / "judge.key"
    key_file.write_text(SECRET + "\n", encoding="utf-8")
    judge = load_judge(JudgeConfig(backend="openai_compatible", base_url=server.base_url,
                                   api_key_file=str(key_file), timeout_s=30))
    (answer,) = judge.ask(make_conversation(ROWS), QUESTIONS[:1])
    assert sum(p for _, p in answer.probabilities) == pytest.approx(1.0)
    assert SECRET not in repr(judge.backend) and SECRET not in judge.model_id


def test_wrong_key_is_refused_without_showing_it(server, monkeypatch):
    monkeypatch.setenv("OTHER_KEY", "sk-wrong-999")
    judge = load_judge(JudgeConfig(backend="openai_compatible", base_url=server.base_url,
                                   api_key_env="OTHER_KEY", timeout_s=30))
    with pytest.raises(JudgeError) as e:
        judge.ask(make_conversation(ROWS), QUESTIONS[:1])
    assert "401" in str(e.value) and "$OTHER_KEY" in str(e.value)
    assert "sk-wrong-999" not in str(e.value)


def test_api_key_is_not_a_configuration_key():
    with pytest.raises(Exception, match="api_key"):
        JudgeConfig.model_validate({"backend": "openai_compatible", "base_url": "http://x",
                                    "api_key": SECRET})


def test_unreachable_server_fails_with_the_fix():
    import socket

    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAICompatibleJudge(OpenAICompatibleOptions(f"http://127.0.0.1:{port}/v1",
                                                            timeout_s=5))
    with pytest.raises(BackendUnavailableError, match="cannot be reached"):
        Judge(backend).ask(make_conversation(ROWS), QUESTIONS[:1])


def test_server_without_prompt_logprobs_is_an_error(server, monkeypatch):
    """A server that ignores ``echo`` returns only the generated token's log-probability:
    the answer cannot be scored from it.
    """
    original = server.complete

    def no_echo(body):
        return original({**body, "echo": False})

    monkeypatch.setattr(server, "complete", no_echo)
    with pytest.raises(JudgeError, match="ignores `echo`"):
        _http_judge(server, monkeypatch).ask(make_conversation(ROWS), QUESTIONS[:1])


def test_base_url_must_be_http():
    with pytest.raises(ConfigError, match="http"):
        load_judge(JudgeConfig(backend="openai_compatible", base_url="gpu-node-1:8000"))


@pytest.mark.parametrize("top_format", ["legacy", "content"])
def test_first_token_scoring_for_servers_without_echo(model_dir, top_format, monkeypatch):
    """llama.cpp's server ignores ``echo``: each answer is scored by its first token among
    the top log-probabilities of the token generated after the prompt.
    """
    import torch

    local = TransformersJudge(TransformersJudgeOptions(str(model_dir), device="cpu"))
    conv = make_conversation(ROWS)
    with CompletionsServer(model_dir, top_format=top_format) as plain:
        judge = load_judge(JudgeConfig(backend="openai_compatible", base_url=plain.base_url,
                                       scoring="first_token", top_logprobs=1000, timeout_s=30))
        answers = judge.ask(conv, QUESTIONS)
        assert all(not b.get("echo") for b in plain.requests)
    tok, model = local._tokenizer, local._model
    prefix, tail = local.format_prompt(transcript_text(conv))
    for q, ans in zip(QUESTIONS, answers, strict=True):
        context = prefix + question_text(q) + tail + "Answer:"
        ids = tok(context)["input_ids"]
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1], -1)
        firsts = [tok(context + ANSWER_TEXT[c])["input_ids"][len(ids)] for c in q.choices]
        assert len(set(firsts)) == len(firsts)
        weights = [math.exp(float(logp[t])) for t in firsts]
        want = {c: w / sum(weights) for c, w in zip(q.choices, weights, strict=True)}
        assert dict(ans.probabilities) == pytest.approx(want, abs=1e-3)


def test_first_token_missing_from_the_list_counts_as_the_least_listed():
    from qa_pipeline.judge.openai_backend import _first_token_logprobs

    reply = {"logprobs": {"top_logprobs": [{" yes": -0.2, " maybe": -1.5, " the": -3.0}]}}
    assert _first_token_logprobs(reply, (" yes", " no", " not applicable")) == \
        (-0.2, -3.0, -3.0)
    # " no" is the answer "no", never the start of " not applicable".
    assert _first_token_logprobs({"logprobs": {"top_logprobs": [{" no": -0.5, " yes": -1.0}]}},
                                 (" yes", " no", " not applicable")) == (-1.0, -0.5, -1.0)
    with pytest.raises(JudgeError, match="share their first token"):
        _first_token_logprobs({"logprobs": {"top_logprobs": [{" n": -1.0}]}},
                              (" no", " not applicable"))
    with pytest.raises(JudgeError, match="no top log-probabilities"):
        _first_token_logprobs({"logprobs": None}, (" yes", " no"))
