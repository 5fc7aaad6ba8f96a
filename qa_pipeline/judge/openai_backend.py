"""A judge model served over HTTP with the OpenAI completions API (vLLM, llama.cpp's
``llama-server``): how a multi-node site serves one model to many workers.

Choices are scored with ``echo`` + ``logprobs`` (the server returns the log-probability of
every prompt token; the answer's tokens are picked out by their text offsets). Servers that
ignore ``echo`` (llama.cpp's ``llama-server``) are scored by ``first_token``: the top
log-probabilities of the one token generated after the prompt, read for each answer's first
token (the answers start with different words, so their first tokens differ). Every prompt
of a call starts with the identical transcript text, so the server's prefix cache (vLLM
automatic prefix caching, llama.cpp ``cache_prompt``) computes it once.

The API key comes from an environment variable or a file, never from configuration text, and
is never logged or shown in errors.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa_pipeline.errors import BackendUnavailableError, ConfigError
from qa_pipeline.judge.base import ChoiceRequest, Generation, JudgeError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenAICompatibleOptions:
    """``base_url``: the server's API root (``http://gpu-node-3:8000/v1``); ``model``: the
    name the server serves the model under. The API key (optional: local servers often have
    none) is read from the environment variable ``api_key_env`` or, when set, the file
    ``api_key_file``. ``timeout_s`` bounds each request; ``max_prompts_per_request`` bounds
    how many prompts one request carries.
    """

    base_url: str
    model: str = ""
    api_key_env: str = "QA_PIPELINE_JUDGE_API_KEY"
    api_key_file: str | None = None
    timeout_s: float = 60.0
    max_prompts_per_request: int = 16
    scoring: Literal["echo", "first_token"] = "echo"
    top_logprobs: int = 20
    # Chat-template wrapping is the server's job only in the chat API; the completions API
    # takes text, so a site that wants the template gives it here as (head, tail) markers.
    prompt_head: str = ""
    prompt_tail: str = "\n"
    extra_body: dict[str, Any] = field(default_factory=dict)


class OpenAICompatibleJudge:
    """A completions endpoint as a :class:`~qa_pipeline.judge.base.JudgeBackend`.

    Raises:
        ConfigError: the base URL is not http(s), or the key file cannot be read.
    """

    def __init__(self, options: OpenAICompatibleOptions) -> None:
        if not options.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"judge base_url must start with http:// or https://, got "
                              f"{options.base_url!r}")
        self.options = options
        self._url = options.base_url.rstrip("/") + "/completions"
        self.__key = _read_key(options)

    def __repr__(self) -> str:
        return f"OpenAICompatibleJudge({self.options.base_url!r}, model={self.options.model!r})"

    @property
    def model_id(self) -> str:
        """``openai:<model>@<base url>``."""
        return f"openai:{self.options.model or 'default'}@{self.options.base_url}"

    def format_prompt(self, user_text_head: str) -> tuple[str, str]:
        """The configured text around the transcript and question."""
        return self.options.prompt_head + user_text_head, self.options.prompt_tail

    def score_choices(self, prefix: str, requests: Sequence[ChoiceRequest]
                      ) -> list[tuple[float, ...]]:
        """One prompt per (question, choice), echoed with log-probabilities; or, with
        ``first_token``, one prompt per question and its first token's top log-probabilities.
        """
        if self.options.scoring == "first_token":
            body = {"max_tokens": 1, "temperature": 0.0, "logprobs": self.options.top_logprobs}
            replies = self._complete([prefix + r.context for r in requests], body)
            return [_first_token_logprobs(r, req.choices)
                    for r, req in zip(replies, requests, strict=True)]
        prompts: list[str] = []
        bounds: list[int] = []  # where each prompt's answer text starts
        for req in requests:
            for choice in req.choices:
                context = prefix + req.context
                prompts.append(context + choice)
                bounds.append(len(context))
        body = {"max_tokens": 1, "temperature": 0.0, "logprobs": 1, "echo": True}
        results = self._complete(prompts, body)
        flat = [_answer_logprob(r, start, len(p))
                for r, start, p in zip(results, bounds, prompts, strict=True)]
        out, k = [], 0
        for req in requests:
            out.append(tuple(flat[k:k + len(req.choices)]))
            k += len(req.choices)
        return out

    def generate(self, prefix: str, contexts: Sequence[str], *, max_new_tokens: int,
                 stop: str) -> list[Generation]:
        """Greedy completions up to ``stop``."""
        body = {"max_tokens": max_new_tokens, "temperature": 0.0, "stop": [stop]}
        results = self._complete([prefix + c for c in contexts], body)
        return [Generation(str(r.get("text", "")), r.get("finish_reason") == "stop")
                for r in results]

    def _complete(self, prompts: list[str], body: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``choices`` of completions of ``prompts``, in prompt order."""
        out: list[dict[str, Any]] = []
        step = max(1, self.options.max_prompts_per_request)
        for start in range(0, len(prompts), step):
            chunk = prompts[start:start + step]
            payload = {**self.options.extra_body, **body, "prompt": chunk}
            if self.options.model:
                payload["model"] = self.options.model
            reply = self._post(payload)
            choices = reply.get("choices")
            if not isinstance(choices, list) or len(choices) != len(chunk):
                raise JudgeError(f"{self.options.base_url}: expected {len(chunk)} completions, "
                                 f"got {len(choices) if isinstance(choices, list) else 'none'}")
            out.extend(sorted(choices, key=lambda c: int(c.get("index", 0))))
        return out

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        request = urllib.request.Request(self._url, json.dumps(payload).encode("utf-8"),
                                         headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                data = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            hint = (f" (check the API key in ${self.options.api_key_env} or "
                    "api_key_file)") if e.code in (401, 403) else ""
            raise JudgeError(f"{self._url}: HTTP {e.code}{hint}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise BackendUnavailableError(
                f"judge server {self._url} cannot be reached ({e}); start the vLLM or "
                "llama.cpp server on the node or fix base_url") from e
        except ValueError as e:
            raise JudgeError(f"{self._url}: the reply is not JSON") from e
        if not isinstance(data, dict):
            raise JudgeError(f"{self._url}: the reply is not a JSON object")
        return data


def _read_key(options: OpenAICompatibleOptions) -> str:
    if options.api_key_file:
        try:
            return Path(options.api_key_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"cannot read the judge API key file {options.api_key_file}: "
                              f"{e.strerror}") from None
    from qa_pipeline.settings import get_settings

    key = get_settings().secret_env(options.api_key_env)
    return key.get_secret_value() if key is not None else ""


def _answer_logprob(result: dict[str, Any], start: int, end: int) -> float:
    """Sum of the echoed log-probabilities of the prompt tokens in ``[start, end)``."""
    logprobs = result.get("logprobs")
    if not isinstance(logprobs, dict):
        raise JudgeError("the server returned no logprobs (it must support `echo` with "
                         "`logprobs` on the completions API, as vLLM does)")
    offsets = logprobs.get("text_offset") or []
    values = logprobs.get("token_logprobs") or []
    if len(offsets) != len(values):
        raise JudgeError("the server's logprobs and text offsets differ in length (it may "
                         "ignore `echo`): use vLLM, or set `scoring: first_token`")
    picked = [(o, v) for o, v in zip(offsets, values, strict=True) if start <= o < end]
    if not picked:
        raise JudgeError("the server returned no log-probabilities for the prompt's tokens "
                         "(it ignores `echo`, as llama.cpp's llama-server does): use vLLM, or "
                         "set `scoring: first_token` for this judge")
    if picked[0][0] != start:
        raise JudgeError("the server's tokens do not start where the answer starts (the "
                         "answer merged with the prompt's last token)")
    if any(v is None for _, v in picked):
        raise JudgeError("the server returned no log-probability for an answer token")
    return float(sum(v for _, v in picked))


def _top_of_first_token(result: dict[str, Any]) -> dict[str, float]:
    """Token text -> log-probability among the top candidates for the first generated token,
    from the legacy completions form (``top_logprobs: [{token: logprob}]``) or the chat form
    (``content: [{top_logprobs: [{token, logprob}]}]``).
    """
    logprobs = result.get("logprobs")
    if isinstance(logprobs, dict):
        legacy = logprobs.get("top_logprobs")
        if isinstance(legacy, list) and legacy and isinstance(legacy[0], dict):
            return {str(t): float(v) for t, v in legacy[0].items() if v is not None}
        content = logprobs.get("content")
        if isinstance(content, list) and content and isinstance(content[0], dict):
            tops = content[0].get("top_logprobs") or []
            return {str(e["token"]): float(e["logprob"]) for e in tops
                    if isinstance(e, dict) and "token" in e and e.get("logprob") is not None}
    raise JudgeError("the server returned no top log-probabilities for the generated token "
                     "(send `logprobs` > 0; llama.cpp needs a build with logprobs support)")


def _first_token_logprobs(result: dict[str, Any], choices: tuple[str, ...]
                          ) -> tuple[float, ...]:
    """Per choice, the log-probability of the longest listed token that starts it. A choice
    whose first token is not among the listed ones gets the smallest listed log-probability:
    an upper bound, so an unlisted answer makes the verdict less certain, never more.
    """
    top = _top_of_first_token(result)
    if not top:
        raise JudgeError("the server listed no candidate tokens")
    floor = min(top.values())
    picked: list[str | None] = []
    for choice in choices:
        # A token that is another answer in full (" no") is that answer's, not the first
        # piece of a longer one (" not applicable"): tokenizers keep " not" whole.
        starts = [t for t in top if t.strip() and choice.startswith(t)
                  and (t == choice or t not in choices)]
        picked.append(max(starts, key=len) if starts else None)
    named = [t for t in picked if t is not None]
    if len(set(named)) != len(named):
        raise JudgeError(f"answers {list(choices)} share their first token; use echo scoring")
    return tuple(top[t] if t is not None else floor for t in picked)
