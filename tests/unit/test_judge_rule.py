"""The question rule in the rubric engine (issue 24, scope item 4): only the call reaches the
judge's prompt, uncertain or badly cited answers go to review with the rule's verdict kept as
provisional, and judges are configured by name.
"""

from __future__ import annotations

import dataclasses

import pytest

from qa_pipeline.conversation.metrics import compute_metrics
from qa_pipeline.errors import ConfigError
from qa_pipeline.judge import Judge, JudgePool, parse_citations, parse_judge_configs
from qa_pipeline.pipeline import CallAnalyzers, analyzers_for, score_conversation
from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import evaluate
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.tenants import TenantConfig
from qa_pipeline.types import Provenance, Status
from tests.helpers import make_conversation
from tests.judge_helpers import ScriptedBackend

RUBRIC = """
id: judge_test
version: 1
sections:
  - id: compliance
    weight: 100
    criteria:
      - id: verified_identity
        severity: fatal
        rule: {type: question, question: "Did the agent verify the caller's identity?",
               instructions: "Date of birth or a one-time code counts.", pass_on: yes,
               uncertain_band: [0.0, 0.8]}
      - id: polite_and_verified
        points: 10
        rule:
          type: all
          rules:
            - {type: required_phrase, role: agent, phrases: [hello]}
            - {type: question, question: "Was the agent polite?", backend: second}
"""

ROWS = [["agent", 0.0, 2.0, "hello, this is Anna, how can I help?"],
        ["customer", 2.0, 4.0, "my card was charged twice"],
        ["agent", 4.0, 6.0, "may I have your date of birth?"]]


def _conversation():
    conv = make_conversation(ROWS, call_id="call-AGT4417-zhangwei-20261201",
                             tenant_id="team-blue-shanghai")
    utts = tuple(dataclasses.replace(u, speaker="agent_zhang_wei_4417" if u.role.value ==
                                     "agent" else "caller_138000") for u in conv.utterances)
    prov = Provenance("whisper", "large-v3", "pyannote", "seg-3.0", "channel", "v9")
    return dataclasses.replace(conv, utterances=utts, provenance=prov,
                               source_path="/recordings/zhang.wei/AGT4417/2026-12-01.wav",
                               sha256="9f86d081884c7d65")


def _evaluate(conv, judges):
    rubric = load_rubric_text(RUBRIC)
    return {r.criterion_id: r for r in
            evaluate(rubric, EvaluationContext(conv, compute_metrics(conv), judges=judges)
                     ).results}


def test_only_the_call_reaches_the_prompt():
    first, second = ScriptedBackend([0.9, 0.1, 0.0], "2"), ScriptedBackend([0.9, 0.1, 0.0], "0")
    _evaluate(_conversation(), {"default": Judge(first), "second": Judge(second)})
    prompts = first.prompts + second.prompts
    assert prompts
    for metadata in ("AGT4417", "zhangwei", "zhang_wei", "zhang.wei", "team-blue", "shanghai",
                     "caller_138000", "9f86d081", "recordings", "large-v3", "pyannote",
                     "call-", "judge_test", "verified_identity", "compliance"):
        assert all(metadata not in p for p in prompts), metadata
    for i, (role, *_rest, text) in enumerate(ROWS):
        assert all(f"[{i}] {role.upper()}: {text}" in p for p in prompts)
    assert all("Date of birth or a one-time code counts." in p for p in first.prompts)


def test_uncertain_answer_is_reviewed_with_the_verdict_kept():
    results = _evaluate(_conversation(), {
        "default": Judge(ScriptedBackend([0.3, 0.7, 0.0], "1")),
        "second": Judge(ScriptedBackend([0.95, 0.05, 0.0], "0"))})
    r = results["verified_identity"]
    assert r.status is Status.NEEDS_REVIEW and r.provisional_status is Status.FAIL
    assert "uncertain band" in r.review_reason and r.value == pytest.approx(0.7)
    (e,) = r.evidence
    assert (e.utterance_index, e.quote, e.role.value, e.start_s, e.end_s) == (
        1, ROWS[1][3], "customer", 2.0, 4.0)
    assert e.match is not None and e.match.method == "judge"
    assert results["polite_and_verified"].status is Status.PASS


def test_review_reason_of_a_question_inside_a_composition_is_kept():
    results = _evaluate(_conversation(), {
        "default": Judge(ScriptedBackend([0.99, 0.01, 0.0], "2")),
        "second": Judge(ScriptedBackend([0.99, 0.01, 0.0], "5"))})
    assert results["verified_identity"].status is Status.PASS
    composite = results["polite_and_verified"]
    assert composite.status is Status.NEEDS_REVIEW
    assert composite.provisional_status is Status.PASS
    assert "do not exist: [5]" in composite.review_reason


def test_a_question_without_its_judge_is_a_configuration_error():
    with pytest.raises(ConfigError, match="no judge 'second'.*configured: default"):
        _evaluate(_conversation(), {"default": Judge(ScriptedBackend([0.9, 0.1, 0.0], "0"))})


def test_judges_are_configured_by_name_and_built_on_first_use():
    configs = parse_judge_configs({
        "default": {"backend": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"},
        "local": {"backend": "transformers", "model": "/nonexistent/judge"}})
    pool = JudgePool(configs)
    assert sorted(pool) == ["default", "local"] and len(pool) == 2
    assert pool["default"] is pool["default"]  # built once
    assert pool["default"].model_id == "openai:default@http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match="neither a local directory nor a hub id"):
        pool["local"]
    with pytest.raises(KeyError):
        pool["missing"]
    with pytest.raises(ConfigError, match="judge 'x'.*openai_compatible, transformers"):
        parse_judge_configs({"x": {"backend": "vllm"}})
    with pytest.raises(ConfigError, match="judge 'y'.*api_key"):
        parse_judge_configs({"y": {"backend": "openai_compatible", "api_key": "sk-1"}})


@pytest.mark.parametrize(("text", "stopped", "cited", "problem"), [
    ("3, 1, 3", True, (3, 1), ""),
    (" 0 ", True, (0,), ""),
    ("", True, (), ""),
    ("1, 4", True, (), "do not exist: [4]"),
    ("1 and 2", True, (), "not a list"),
    ("-1", True, (), "not a list"),
    ("\u0661, \uff13", True, (), "not a list"),  # Arabic-Indic and full-width digits
    ("1,\n2", True, (), "not a list"),
    ("1, 2", False, (), "did not close"),
])
def test_citations_are_parsed_strictly(text, stopped, cited, problem):
    got, why = parse_citations(text, stopped, 4)
    assert got == cited
    assert (problem in why) if problem else why == ""


def test_tenant_judges_reach_the_scorecard():
    tenant = TenantConfig.model_validate({
        "id": "acme", "call_reasons": None,
        "judges": {"default": {"backend": "openai_compatible",
                               "base_url": "http://127.0.0.1:9/v1", "model": "qwen"}}})
    an = analyzers_for(tenant, sentiment_backend="none")
    assert isinstance(an.judges, JudgePool) and list(an.judges) == ["default"]
    with pytest.raises(ValueError, match="unknown judge backend"):
        TenantConfig.model_validate({"id": "acme", "judges": {"default": {"backend": "gpt"}}})
    judges = JudgePool({}, {"default": Judge(ScriptedBackend([0.1, 0.9, 0.0], "1")),
                            "second": Judge(ScriptedBackend([0.9, 0.1, 0.0], "0"))})
    card = score_conversation(_conversation(), load_rubric_text(RUBRIC),
                              analyzers=CallAnalyzers(judges=judges))
    row = next(r for r in card.to_dict()["items"] if r["criterion_id"] == "verified_identity")
    assert (row["status"], row["rule_type"]) == ("fail", "question")
    assert [e["utterance_index"] for e in row["evidence"]] == [1]
    assert "judge scripted answered no" in row["message"]


def test_changing_a_judge_rescores_without_asr():
    from qa_pipeline.runner.keys import config_key, frontend_key

    plain = TenantConfig.model_validate({"id": "acme"})
    judged = TenantConfig.model_validate({"id": "acme", "judges": {
        "default": {"backend": "openai_compatible", "base_url": "http://gpu-1:8000/v1"}}})
    assert frontend_key(plain) == frontend_key(judged)
    assert config_key(plain, "f", rubric_refs=["r@1"]) != \
        config_key(judged, "f", rubric_refs=["r@1"])


def test_the_deployment_guide_examples_load():
    import re
    from pathlib import Path

    import yaml

    from qa_pipeline.rubric.registry import parse_rule

    text = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text("utf-8")
    section = text[text.index("## Evaluation questions on GPU nodes"):]
    criterion_block, judges_block = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    (criterion,) = yaml.safe_load(criterion_block)
    spec = parse_rule(criterion["rule"]).spec
    assert spec.pass_on == "yes" and spec.uncertain_band == (0.0, 0.8)
    configs = parse_judge_configs(yaml.safe_load(judges_block)["judges"])
    assert {n: c.backend for n, c in configs.items()} == {
        "default": "openai_compatible", "local": "transformers"}


def test_a_question_asked_twice_on_a_call_is_answered_once():
    from qa_pipeline.judge import Question

    backend = ScriptedBackend([0.9, 0.1, 0.0], "0")
    judge = Judge(backend)
    conv = _conversation()
    q, other = Question("Did the agent greet?"), Question("Was the agent polite?")
    first = judge.ask(conv, [q, q])
    asked = len(backend.prompts)
    assert asked == 4 and first[0] is first[1]  # 3 choices + 1 citation, once
    assert judge.ask(conv, [q])[0] is first[0] and len(backend.prompts) == asked
    judge.ask(conv, [q, other])
    assert len(backend.prompts) == asked + 4  # only the new question
    judge.ask(make_conversation(ROWS[:2]), [q])  # another call: asked again
    assert len(backend.prompts) == asked + 8
