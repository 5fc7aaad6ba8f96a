"""Judge backends by name, and judges configured per tenant or per rubric.

Configuration (YAML, validated here) maps judge names to backends; the ``question`` rule's
``backend`` key names one of them. Judges are built on first use: a worker that scores no
question never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa_pipeline.errors import ConfigError, UnknownBackendError
from qa_pipeline.judge.base import JudgeBackend
from qa_pipeline.judge.judge import Judge, JudgeOptions


class JudgeConfig(BaseModel):
    """One judge as configured in YAML (unknown keys are errors; there is deliberately no
    ``api_key`` key: keys come from ``api_key_env`` or ``api_key_file``).

    Example YAML:
        judges:
          default: {backend: openai_compatible, base_url: "http://gpu-node-1:8000/v1",
                    model: Qwen/Qwen2.5-7B-Instruct}
          local: {backend: transformers, model: /models/Qwen2.5-7B-Instruct}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str
    model: str = ""
    # transformers
    device: str = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    batch_size: int = Field(8, ge=1)
    use_chat_template: bool = True
    # openai_compatible
    base_url: str = ""
    api_key_env: str = "QA_PIPELINE_JUDGE_API_KEY"
    api_key_file: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    max_prompts_per_request: int = Field(16, ge=1)
    scoring: Literal["echo", "first_token"] = "echo"
    top_logprobs: int = Field(20, ge=1)
    prompt_head: str = ""
    prompt_tail: str = "\n"
    # both
    citation_max_new_tokens: int = Field(24, ge=1, le=256)
    max_citations: int = Field(8, ge=1)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in _REGISTRY:
            raise ValueError(f"unknown judge backend {value!r}; expected one of: "
                             f"{', '.join(judge_backends())}")
        return value


def _transformers(config: JudgeConfig) -> JudgeBackend:
    from qa_pipeline.judge.transformers_backend import (
        TransformersJudge,
        TransformersJudgeOptions,
    )

    if not config.model:
        raise ConfigError("the transformers judge needs `model` (local directory or hub id)")
    return TransformersJudge(TransformersJudgeOptions(
        config.model, config.device, config.dtype, config.batch_size,
        config.use_chat_template))


def _openai_compatible(config: JudgeConfig) -> JudgeBackend:
    from qa_pipeline.judge.openai_backend import OpenAICompatibleJudge, OpenAICompatibleOptions

    if not config.base_url:
        raise ConfigError("the openai_compatible judge needs `base_url` (e.g. "
                          "http://gpu-node-1:8000/v1)")
    return OpenAICompatibleJudge(OpenAICompatibleOptions(
        config.base_url, config.model, config.api_key_env, config.api_key_file,
        config.timeout_s, config.max_prompts_per_request, config.scoring,
        config.top_logprobs, config.prompt_head, config.prompt_tail))


_REGISTRY: dict[str, Callable[[JudgeConfig], JudgeBackend]] = {
    "transformers": _transformers,
    "openai_compatible": _openai_compatible,
}


def judge_backends() -> list[str]:
    """Registered judge backend names."""
    return sorted(_REGISTRY)


def load_judge(config: JudgeConfig) -> Judge:
    """Build the judge ``config`` describes.

    Raises:
        UnknownBackendError: the backend name is not registered (the message lists them).
        ModelUnavailableError: the model cannot be found or loaded.
    """
    try:
        factory = _REGISTRY[config.backend]
    except KeyError:
        raise UnknownBackendError("judge", config.backend, judge_backends()) from None
    return Judge(factory(config), JudgeOptions(config.citation_max_new_tokens,
                                               config.max_citations))


def parse_judge_configs(raw: Mapping[str, Any]) -> dict[str, JudgeConfig]:
    """Validate a ``judges:`` mapping (name -> judge block).

    Raises:
        ConfigError: a block is invalid or names an unknown backend (the message lists the
            valid ones).
    """
    out = {}
    for name, block in raw.items():
        try:
            config = JudgeConfig.model_validate(block)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                                 for err in e.errors())
            raise ConfigError(f"judge {name!r}: {problems}") from None
        out[str(name)] = config
    return out


class JudgePool(Mapping[str, Judge]):
    """Judges by name, each built on first use and then kept (one model load per worker).

    ``overrides`` are judges already built (tests, or a site's own backend objects).
    """

    def __init__(self, configs: Mapping[str, JudgeConfig],
                 overrides: Mapping[str, Judge] | None = None) -> None:
        self._configs = dict(configs)
        self._built: dict[str, Judge] = dict(overrides or {})

    def __getitem__(self, name: str) -> Judge:
        judge = self._built.get(name)
        if judge is None:
            if name not in self._configs:
                raise KeyError(name)
            judge = self._built[name] = load_judge(self._configs[name])
        return judge

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._configs, *self._built}))

    def __len__(self) -> int:
        return len({*self._configs, *self._built})
