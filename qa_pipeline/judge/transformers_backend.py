"""A judge model loaded in the worker with transformers (local directory or hub id).

The transcript prefix is encoded once per call: its key/value cache is kept and copied under
every batch of continuations (all the questions on that call, and their answer choices).
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa_pipeline.errors import BackendUnavailableError, ConfigError, ModelUnavailableError
from qa_pipeline.judge.base import ChoiceRequest, Generation, JudgeError

logger = logging.getLogger(__name__)

# Marks where the question goes when the chat template is rendered around the transcript.
_SLOT = "\u2063<<qa-pipeline question>>\u2063"


@dataclass(frozen=True, slots=True)
class TransformersJudgeOptions:
    """``model``: a local directory or a Hugging Face hub id of a causal LM (instruct models
    are prompted through their chat template when ``use_chat_template`` and they have one).
    ``dtype`` ``auto`` is bfloat16 on GPUs that support it, else float16 on CUDA, float32 on
    CPU. ``batch_size`` counts continuations (question x answer choice) per forward pass.
    """

    model: str
    device: str = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    batch_size: int = 8
    use_chat_template: bool = True


@dataclass
class _Prefix:
    text: str
    ids: list[int]
    cache: Any  # the model's key/value cache after the prefix
    last_logprobs: Any  # log-probabilities of the token after the prefix


class TransformersJudge:
    """``AutoModelForCausalLM`` + tokenizer as a :class:`~qa_pipeline.judge.base.JudgeBackend`.

    Raises:
        BackendUnavailableError: torch or transformers is not installed.
        ModelUnavailableError: the model is not a local directory and cannot be fetched
            (offline: the message says how to provide it).
    """

    def __init__(self, options: TransformersJudgeOptions) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise BackendUnavailableError(
                "the transformers judge backend needs `pip install torch transformers`") from e
        self._torch = torch
        self.options = options
        path, self._model_id = _resolve(options.model)
        if options.device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            device = options.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(f"judge device {device!r} requested but CUDA is "
                                          "not available (use device: cpu or auto)")
        dtype = _dtype(torch, options.dtype, device)
        try:
            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path))
            loader: Any = AutoModelForCausalLM
            model = loader.from_pretrained(str(path), **_dtype_kwarg(dtype))
        except (OSError, ValueError) as e:
            raise ModelUnavailableError(
                f"cannot load judge model {options.model!r} from {path}: {e}") from e
        self._model: Any = model.to(device).eval()
        # transformers 5 renamed ``past_key_values`` to ``cache`` (argument and output).
        params = inspect.signature(model.forward).parameters
        self._cache_name = "cache" if "cache" in params else "past_key_values"
        # Only the prefix's last logits are needed: skip the vocabulary projection elsewhere.
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self._device = device
        template = getattr(self._tokenizer, "chat_template", None)
        self._chat = bool(options.use_chat_template and template)
        self._batch_size = max(1, options.batch_size)
        eos = {self._tokenizer.eos_token_id}
        config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos.update(config_eos if isinstance(config_eos, list) else [config_eos])
        self._eos = {e for e in eos if e is not None}
        pad = self._tokenizer.pad_token_id
        self._pad = pad if pad is not None else (min(self._eos) if self._eos else 0)
        self._prefix: _Prefix | None = None

    @property
    def model_id(self) -> str:
        """``transformers:<hub id or path>``."""
        return self._model_id

    def format_prompt(self, user_text_head: str) -> tuple[str, str]:
        """The chat template around the transcript (when the tokenizer has one)."""
        if not self._chat:
            return user_text_head, "\n"
        messages = [{"role": "user", "content": user_text_head + _SLOT}]
        # enable_thinking=False: reasoning models (Qwen3) answer at once; other templates
        # ignore the flag.
        rendered = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
        if not isinstance(rendered, str) or rendered.count(_SLOT) != 1:
            raise JudgeError("the model's chat template does not keep the user's text in one "
                             "piece; set use_chat_template: false for this judge")
        head, tail = rendered.split(_SLOT)
        return head, tail

    def score_choices(self, prefix: str, requests: Sequence[ChoiceRequest]
                      ) -> list[tuple[float, ...]]:
        """Summed log-probabilities of each choice, continuations batched after the cached
        prefix.
        """
        state = self._encode_prefix(prefix)
        items: list[tuple[int, int, list[int], int, int]] = []  # request, choice, seq, start, n
        for r_i, req in enumerate(requests):
            ctx_ids = self._ids(prefix + req.context)
            rest = self._after(state, ctx_ids, req.context)
            for c_i, choice in enumerate(req.choices):
                full = self._ids(prefix + req.context + choice)
                if full[: len(ctx_ids)] == ctx_ids:
                    choice_ids = full[len(ctx_ids):]
                else:  # the choice merged with the prompt's last token: score it on its own
                    choice_ids = self._tokenizer(choice, add_special_tokens=False)["input_ids"]
                if not choice_ids:
                    raise JudgeError(f"the answer {choice!r} encodes to no tokens")
                self._check_length(len(state.ids) + len(rest) + len(choice_ids))
                items.append((r_i, c_i, rest + choice_ids, len(rest), len(choice_ids)))
        scores = [[0.0] * len(req.choices) for req in requests]
        torch = self._torch
        order = sorted(range(len(items)), key=lambda k: len(items[k][2]))
        with torch.inference_mode():
            for b in range(0, len(order), self._batch_size):
                batch = [items[k] for k in order[b:b + self._batch_size]]
                logits = self._forward_after(state, [seq for _, _, seq, _, _ in batch])
                for row, (r_i, c_i, seq, start, n) in enumerate(batch):
                    total, first = 0.0, start
                    if start == 0:  # the choice follows the prefix directly
                        total, first = float(state.last_logprobs[seq[0]]), 1
                    if first < start + n:
                        # Position k - 1 predicts token k: one gather per choice.
                        steps = torch.log_softmax(logits[row, first - 1:start + n - 1].float(),
                                                  dim=-1)
                        want = torch.tensor(seq[first:start + n], device=steps.device)
                        total += float(steps.gather(1, want[:, None]).sum())
                    scores[r_i][c_i] = total
        return [tuple(s) for s in scores]

    def generate(self, prefix: str, contexts: Sequence[str], *, max_new_tokens: int,
                 stop: str) -> list[Generation]:
        """Greedy continuations after the cached prefix, one context at a time."""
        state = self._encode_prefix(prefix)
        torch = self._torch
        out = []
        with torch.inference_mode():
            for context in contexts:
                rest = self._after(state, self._ids(prefix + context), context)
                self._check_length(len(state.ids) + len(rest) + max_new_tokens)
                cache = copy.deepcopy(state.cache)
                if rest:
                    cache, logits = self._step(rest, cache)
                else:
                    logits = state.last_logprobs
                new: list[int] = []
                found: Generation | None = None
                for _ in range(max_new_tokens):
                    token = int(torch.argmax(logits))
                    if token in self._eos:
                        break
                    new.append(token)
                    text = self._tokenizer.decode(new, skip_special_tokens=True)
                    if stop in text:
                        found = Generation(text[: text.index(stop)], True)
                        break
                    cache, logits = self._step([token], cache)
                out.append(found or Generation(
                    self._tokenizer.decode(new, skip_special_tokens=True), False))
        return out

    def _ids(self, text: str) -> list[int]:
        # Chat-templated prompts already hold their special tokens as text.
        ids = self._tokenizer(text, add_special_tokens=not self._chat)["input_ids"]
        return list(ids)

    def _step(self, ids: list[int], cache: Any) -> tuple[Any, Any]:
        """(cache, next-token logits) after feeding ``ids`` to one sequence."""
        result = self._model(input_ids=self._tensor([ids]), use_cache=True,
                             **{self._cache_name: cache})
        return getattr(result, self._cache_name), result.logits[0, -1]

    def _tensor(self, rows: list[list[int]]) -> Any:
        return self._torch.tensor(rows, dtype=self._torch.long, device=self._device)

    def _encode_prefix(self, prefix: str) -> _Prefix:
        """The prefix's key/value cache, computed once per distinct prefix (the last one is
        kept: a worker asks all the questions of one call before the next call).
        """
        if self._prefix is not None and self._prefix.text == prefix:
            return self._prefix
        self._prefix = None  # release the previous call's cache first
        ids = self._ids(prefix)
        if not ids:
            raise JudgeError("the judge prompt encodes to no tokens")
        self._check_length(len(ids))
        torch = self._torch
        with torch.inference_mode():
            result = self._model(input_ids=self._tensor([ids]), use_cache=True,
                                 **self._last_only)
            last = torch.log_softmax(result.logits[0, -1].float(), dim=-1)
        self._prefix = _Prefix(prefix, ids, getattr(result, self._cache_name), last)
        return self._prefix

    def _check_length(self, tokens: int) -> None:
        """Refuse prompts longer than the model's context (it would not see the whole call)."""
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and tokens > limit:
            raise JudgeError(f"the prompt needs {tokens} tokens but the judge model takes "
                             f"{limit}: the call is too long for this judge")

    def _after(self, state: _Prefix, ids: list[int], text: str) -> list[int]:
        """The tokens of ``text`` after the prefix: the joint tokenisation's tail when it
        starts with the prefix's tokens, else ``text`` encoded alone.
        """
        n = len(state.ids)
        if ids[:n] == state.ids:
            return ids[n:]
        logger.debug("prompt tokens merge across the transcript boundary; encoding apart")
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _forward_after(self, state: _Prefix, seqs: list[list[int]]) -> Any:
        """Logits of right-padded ``seqs`` continuing the prefix (a copy of its cache per
        row). Padding sits after every real token, so causal attention never lets it change
        a real position's logits.
        """
        width = max(len(s) for s in seqs)
        rows = [s + [self._pad] * (width - len(s)) for s in seqs]
        cache = copy.deepcopy(state.cache)
        if len(rows) > 1:
            cache.batch_repeat_interleave(len(rows))
        return self._model(input_ids=self._tensor(rows), use_cache=True,
                           **{self._cache_name: cache}).logits


def _dtype(torch: Any, name: str, device: str) -> Any:
    if name == "auto":
        if not device.startswith("cuda"):
            return torch.float32  # no fast half precision on CPU
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bfloat16": torch.bfloat16, "float16": torch.float16,
            "float32": torch.float32}[name]


def _dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """Load weights directly in ``dtype`` (transformers 5 calls the argument ``dtype``)."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return {"dtype": dtype} if major >= 5 else {"torch_dtype": dtype}


def _resolve(model: str) -> tuple[Path, str]:
    """(local directory, provenance id) of a local directory or a hub id."""
    local = Path(model).expanduser()
    if local.is_dir():
        return local, f"transformers:{local}"
    if model.startswith((".", "/", "~")) or "/" not in model:
        raise ConfigError(f"judge model {model!r} is neither a local directory nor a hub id "
                          "(owner/name)")
    from qa_pipeline import weights

    try:
        resolved = weights.resolve_hub(model)
    except ModelUnavailableError as e:
        raise ModelUnavailableError(
            f"judge model {model!r} is not available here: {e} For the judge, set `model:` "
            f"to a local directory holding the model (on a machine with network: "
            f"`huggingface-cli download {model} --local-dir /models/{model.split('/')[-1]}`), "
            "or run the worker where the Hugging Face hub is reachable.") from e
    return resolved.path, f"transformers:{model}"
