"""Judges for tests: a tiny causal LM built on the spot (real transformers code, random
weights), a loopback OpenAI-completions server that serves it, and a scripted backend that
implements the JudgeBackend protocol with given answer probabilities and citation text.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qa_pipeline.judge import ChoiceRequest, Generation

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

_CORPUS = [
    "You are a quality-assurance analyst at a contact center. Below is the transcript of one "
    "call. Each utterance is numbered and labelled with the speaker's role.",
    "Transcript: [0] AGENT: hello, thank you for calling. [1] CUSTOMER: my card was charged "
    "twice. [2] AGENT: may I have your date of birth? [3] CUSTOMER: sure.",
    "Question: Did the agent verify the caller's identity? Instructions: date of birth counts.",
    "Answer with exactly one of: yes, no, not applicable. Then list the numbers of the "
    "utterances that support your answer, in square brackets, separated by commas.",
    "Answer: yes Answer: no Answer: not applicable Evidence: [1, 2] [3] [0, 12]",
    "您好，请问有什么可以帮您？ 我的卡被扣了两次钱。 请问您的出生日期是？ 好的，谢谢。",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    # Blank lines, so the vocabulary merges "\n\n" as real ones do.
    "first\n\nsecond\n\nthird\n\n\nfourth\n\n",
]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: the tiny models gain nothing from more, and on a shared
    machine thread oversubscription makes each forward pass many times slower.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_tiny_causal_lm(directory: Path, *, chat_template: str | None = None,
                         seed: int = 0, max_positions: int = 4096) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained here, saved to ``directory``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=max_positions, initializer_range=0.5,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         bos_token_id=None)
    LlamaForCausalLM(config).eval().save_pretrained(str(directory))
    return directory


class CompletionsServer:
    """An OpenAI completions endpoint on 127.0.0.1 serving a local causal LM (``echo`` +
    ``logprobs`` with text offsets, greedy generation with ``stop``), started in a thread.

    ``api_key``: when set, requests without ``Authorization: Bearer <key>`` get 401.
    ``requests`` records every request body.
    """

    def __init__(self, model_dir: Path, api_key: str = "", *,
                 top_format: str = "legacy") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
        self.model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
        self.api_key = api_key
        # How top log-probabilities are listed: "legacy" ({token: logprob} per position, as
        # vLLM's completions API) or "content" (the chat API's list, as llama.cpp answers).
        self.top_format = top_format
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions":
                    return self._reply(404, {"error": "not found"})
                if server.api_key and \
                        self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._reply(401, {"error": "invalid api key"})
                server.requests.append(body)
                with server._lock:
                    choices = server.complete(body)
                return self._reply(200, {"object": "text_completion", "choices": choices})

            def _reply(self, code: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> CompletionsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def complete(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``choices`` of one completions request."""
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        return [self._one(i, p, body) for i, p in enumerate(prompts)]

    def _one(self, index: int, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        torch = self.torch
        enc = self.tokenizer(prompt, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = [start for start, _ in enc["offset_mapping"]]
        tokens = [self.tokenizer.decode([t]) for t in ids]
        token_logprobs: list[float | None] = [None]
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(input_ids=torch.tensor([ids])).logits[0].float(),
                                     dim=-1)
        token_logprobs += [float(logp[k - 1, ids[k]]) for k in range(1, len(ids))]
        stop = (body.get("stop") or [None])[0]
        new: list[int] = []
        text, finish = "", "length"
        gen_logprobs: list[float] = []
        tops: list[list[tuple[str, float]]] = []
        k = int(body.get("logprobs") or 0)
        with torch.inference_mode():
            for _ in range(int(body.get("max_tokens", 16))):
                out = torch.log_softmax(
                    self.model(input_ids=torch.tensor([ids + new])).logits[0, -1].float(), -1)
                token = int(torch.argmax(out))
                if token == self.tokenizer.eos_token_id:
                    finish = "stop"
                    break
                new.append(token)
                gen_logprobs.append(float(out[token]))
                best = torch.topk(out, min(k, out.shape[0])) if k else None
                tops.append([] if best is None else [
                    (self.tokenizer.decode([int(i)]), float(v))
                    for v, i in zip(best.values, best.indices, strict=True)])
                text = self.tokenizer.decode(new)
                if stop and stop in text:
                    text, finish = text[: text.index(stop)], "stop"
                    break
        choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": finish}
        if body.get("logprobs") is not None:
            if body.get("echo"):
                choice["text"] = prompt + text
                choice["logprobs"] = {
                    "tokens": tokens + [self.tokenizer.decode([t]) for t in new],
                    "token_logprobs": token_logprobs + gen_logprobs,
                    "text_offset": offsets + [len(prompt)] * len(new)}
            elif self.top_format == "content":
                choice["logprobs"] = {"content": [
                    {"token": self.tokenizer.decode([t]), "logprob": lp,
                     "top_logprobs": [{"token": w, "logprob": v} for w, v in top]}
                    for t, lp, top in zip(new, gen_logprobs, tops, strict=True)]}
            else:
                choice["logprobs"] = {"tokens": [self.tokenizer.decode([t]) for t in new],
                                      "token_logprobs": gen_logprobs,
                                      "text_offset": [len(prompt)] * len(new),
                                      "top_logprobs": [dict(top) for top in tops]}
        return choice


class ScriptedBackend:
    """A JudgeBackend whose model always gives the answers the probabilities ``yes``, ``no``,
    ``not_applicable`` (renormalised over the allowed ones by the judge) and writes
    ``citation`` after ``Evidence: [`` (``closed``: followed by ``]``). Records every prompt.
    """

    def __init__(self, probabilities: Sequence[float], citation: str = "",
                 closed: bool = True) -> None:
        self.probabilities = dict(zip(("yes", "no", "not applicable"), probabilities,
                                      strict=True))
        self.citation = citation
        self.closed = closed
        self.prompts: list[str] = []

    @property
    def model_id(self) -> str:
        """A fixed id."""
        return "scripted"

    def format_prompt(self, user_text_head: str) -> tuple[str, str]:
        """Plain text."""
        return user_text_head, "\n"

    def score_choices(self, prefix: str, requests: Sequence[ChoiceRequest]
                      ) -> list[tuple[float, ...]]:
        """log p of each scripted answer."""
        self.prompts.extend(prefix + r.context + c for r in requests for c in r.choices)
        return [tuple(math.log(self.probabilities[c.strip()]) if self.probabilities[c.strip()]
                      else -math.inf for c in r.choices) for r in requests]

    def generate(self, prefix: str, contexts: Sequence[str], *, max_new_tokens: int,
                 stop: str) -> list[Generation]:
        """The scripted citation."""
        self.prompts.extend(prefix + c for c in contexts)
        return [Generation(self.citation, self.closed) for _ in contexts]
