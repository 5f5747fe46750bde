"""An OpenAI-compatible completions server as a backend (vLLM; SGLang or any server that
returns log-probs and token ids the same way).

How a user names one: ``--model http://HOST:PORT/v1`` (the server's only model, or
``--served-model NAME`` to pick one), or the single string ``http://HOST:PORT/v1?model=NAME``
(which is also the ``name`` a run records, so that ``resume`` finds the server again).

What goes over the wire (``/v1/completions``, prompts always as token ids):

* ``sample``: one request per call, ``n = k``, ``logprobs = 5`` (the top-5 for the Marco-o1
  confidence), ``return_tokens_as_token_ids`` (tokens come back as ``token_id:N``) and a seed
  drawn from the search's generator. A step (``line``) stops at ``"\\n"`` (the stop string is
  kept in the output); a mini-step (``tokens``) at ``max_tokens``. A rollout asks for one line
  at a time and checks each finished line on this side (a final line, or one
  ``StopRule.rejects`` turns down, ends it), so the server never generates a token that the
  rollout then throws away: every token counted is a token kept. Identical samples are
  merged by token ids, most often drawn first, then most likely, as the HF backend does.
* ``force``: the path + the forced tokens as the prompt with ``prompt_logprobs = 5`` (a vLLM
  extension) and ``max_tokens = 1``; each forced token's log-prob and top-5 come back.
* ``judge``: ``prompt + word`` for each of the two verdict words with ``prompt_logprobs``,
  which gives each word's exact next-token log-prob (not only when it is in the top 5).
* Tokens: the server's ``/tokenize`` and ``/detokenize`` (memoised). The context length is
  ``max_model_len`` from ``/v1/models``.

KV caching is the server's job (``--enable-prefix-caching``): a session keeps nothing per
node (``remember`` does nothing). Token counts come from each response's ``usage``:
``generated`` = completion tokens of samples (a judged prompt counts one, the verdict, as in
the HF backend), ``forwarded`` = prompt + completion tokens of every request less the
prompt tokens the server reports it served from its prefix cache
(``usage.prompt_tokens_details.cached_tokens``, which vLLM sends when started with
``--enable-prompt-tokens-details``); the hits are also kept as ``cached_tokens`` /
``prompt_tokens`` on the session, and ``prefix_cache_counters`` reads the server's own
``/metrics`` counters.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import http.client
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import torch

from engine.backends.protocol import Sample, StopRule, TokenCounter
from engine.core.events import EndReason
from engine.core.rewards import token_confidence
from engine.errors import InputError, MctsLabError, ModelLoadError

TOP_LOGPROBS = 5
DEFAULT_TIMEOUT_S = 120.0
_TOKEN_ID = re.compile(r"^token_id:(-?\d+)$")


class ServerError(MctsLabError):
    """The model server failed a request, timed out, or answered something that contradicts
    what was asked."""


def is_server_spec(name: str | None) -> bool:
    """Whether ``--model`` names a server (an ``http://`` or ``https://`` URL)."""
    return bool(name) and str(name).startswith(("http://", "https://"))


def parse_server_spec(spec: str, served_model: str | None = None) -> tuple[str, str | None]:
    """``(base URL ending in /v1, served model or None)`` from ``http://HOST:PORT/v1`` or
    ``http://HOST:PORT/v1?model=NAME``; ``served_model`` (``--served-model``) wins."""
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--model {spec}: a server is named by its URL, e.g. "
                         "http://127.0.0.1:8000/v1 (optionally ?model=NAME).")
    query = parse_qs(parts.query)
    named = query.get("model", [None])[0]
    path = parts.path.rstrip("/") or "/v1"
    if not path.endswith("/v1"):
        path += "/v1"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return base, served_model or named


@dataclass
class _Usage:
    prompt: int = 0
    completion: int = 0
    cached: int | None = None


class ServerModel:
    """A model served over the OpenAI-compatible completions API (``protocol.Backend``)."""

    def __init__(self, spec: str, served_model: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url, wanted = parse_server_spec(spec, served_model)
        parts = urlsplit(self.base_url)
        self._secure = parts.scheme == "https"
        self._netloc = parts.netloc
        self._root_path = parts.path[: -len("/v1")]
        self.timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "mctslab-http")
        models = self._get_json("/v1/models").get("data")
        if not isinstance(models, list) or not models:
            raise ModelLoadError(f"The server at {self.base_url} lists no models "
                                 "(GET /v1/models).")
        served = {str(m.get("id")): m for m in models if isinstance(m, dict)}
        if wanted is None:
            if len(served) != 1:
                raise ModelLoadError(f"The server at {self.base_url} serves several models "
                                     f"({', '.join(sorted(served))}): pick one with "
                                     "--served-model NAME or ?model=NAME.")
            wanted = next(iter(served))
        if wanted not in served:
            raise ModelLoadError(f"The server at {self.base_url} does not serve {wanted!r}; "
                                 f"it serves: {', '.join(sorted(served))}.")
        self.served_model = wanted
        info = served[wanted]
        self.name = f"{self.base_url}?model={wanted}"
        self.device = f"server {self.base_url}"
        self.context_length = int(info.get("max_model_len") or 2048)
        root = str(info.get("root") or wanted)
        self.fingerprint = "server:" + hashlib.sha256(
            json.dumps([root, wanted, self.context_length]).encode()).hexdigest()[:16]
        self._token_text: dict[int, str] = {}
        self._decoded: dict[tuple[int, ...], str] = {}
        self.eos_ids: set[int] = set()
        """End-of-text tokens, learnt from samples that end with one: the server's
        ``/detokenize`` keeps special tokens, which ``decode`` drops as the HF backend does."""
        self.chat = self._has_chat_template()
        self._check_logprobs()

    # -- HTTP -----------------------------------------------------------------------------

    def set_timeout(self, seconds: float) -> None:
        """Wait at most ``seconds`` for each answer from now on."""
        self.timeout_s = seconds

    def _request(self, method: str, path: str, body: Any = None) -> _Response:
        """One request on the kept-alive connection, waiting at most ``timeout_s`` for the
        whole answer (a worker thread makes it; past the limit its socket is shut)."""
        data = None if body is None else json.dumps(body).encode()
        future = self._worker.submit(self._exchange, method, path, data)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            self._abort()
            raise ServerError(f"The model server at {self.base_url} did not answer "
                              f"{path} within {self.timeout_s:g} s.") from None

    def _abort(self) -> None:
        """Shut the connection a late request is waiting on (its worker then ends)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _exchange(self, method: str, path: str, data: bytes | None) -> _Response:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            connection = self._connection
            reused = connection is not None
            if connection is None:
                kind = (http.client.HTTPSConnection if self._secure
                        else http.client.HTTPConnection)
                connection = kind(self._netloc, timeout=max(self.timeout_s, 1.0) + 5.0)
                self._connection = connection
            try:
                connection.request(method, self._root_path + path, body=data, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(connection)
                if reused and attempt == 0:
                    continue  # the server closed a kept-alive connection: open a new one
                raise ModelLoadError(f"The model server at {self.base_url} closed the "
                                     f"connection during {path} (did it stop?).") from None
            except (OSError, http.client.HTTPException):
                self._drop(connection)
                raise ModelLoadError(f"Cannot reach the model server at {self.base_url}: "
                                     "nothing answers there (is it running?).") from None
            if answer.will_close:
                self._drop(connection)
            return _Response(answer.status, payload.decode("utf-8", errors="replace"))
        raise AssertionError("unreachable")

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if self._connection is connection:
            self._connection = None

    def _get_json(self, path: str) -> Any:
        response = self._request("GET", path)
        return self._decode_json(response, path)

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        response = self._request("POST", path, body)
        return self._decode_json(response, path)

    def _decode_json(self, response: _Response, path: str) -> Any:
        if response.status_code != 200:
            raise ServerError(f"The model server at {self.base_url} refused {path} "
                              f"(HTTP {response.status_code}): {_error_text(response)}")
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"The model server at {self.base_url} answered {path} with "
                              "something that is not JSON.") from None

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``/v1/completions`` for this model; the parsed answer."""
        answer = self._post_json("/v1/completions", {"model": self.served_model, **body})
        if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
            raise ServerError(f"The model server at {self.base_url} answered /v1/completions "
                              "without choices.")
        return answer

    # -- checks at load -------------------------------------------------------------------

    def _has_chat_template(self) -> bool:
        """Whether the server can wrap a user message in a chat template (vLLM's /tokenize
        with ``messages`` fails for a model without one)."""
        response = self._request("POST", "/tokenize", {
            "model": self.served_model, "messages": [{"role": "user", "content": "x"}],
            "add_generation_prompt": True, "add_special_tokens": False})
        return bool(response.status_code == 200)

    def _check_logprobs(self) -> None:
        """The server must return the top-5 log-probs of each token (the confidence reward)
        and prompt log-probs (forced text): one tiny request says whether it does."""
        probe = self.encode_continuation("1")[:1] or [0]
        response = self._request("POST", "/v1/completions", {
            "model": self.served_model, "prompt": probe, "max_tokens": 1,
            "logprobs": TOP_LOGPROBS, "prompt_logprobs": TOP_LOGPROBS, "temperature": 0.0,
            "return_tokens_as_token_ids": True})
        if response.status_code != 200:
            text = _error_text(response)
            if "logprob" in text.lower():
                raise ModelLoadError(
                    f"The server at {self.base_url} caps log-probs below {TOP_LOGPROBS} "
                    f"(start vLLM with --max-logprobs {TOP_LOGPROBS}): {text}")
            raise ModelLoadError(f"The server at {self.base_url} refused a completion "
                                 f"(HTTP {response.status_code}): {text}")
        choice = (response.json().get("choices") or [{}])[0]
        logprobs = choice.get("logprobs") or {}
        top = logprobs.get("top_logprobs") or [None]
        if not logprobs.get("token_logprobs") or not top[0]:
            raise ModelLoadError(f"The server at {self.base_url} returns no log-probs: MCTS "
                                 "Lab needs each token's log-prob and the top "
                                 f"{TOP_LOGPROBS} (e.g. vLLM or SGLang).")
        if len(top[0]) < TOP_LOGPROBS:
            raise ModelLoadError(f"The server at {self.base_url} returns {len(top[0])} top "
                                 f"log-probs a token; MCTS Lab needs {TOP_LOGPROBS}.")
        if "prompt_logprobs" not in choice:
            raise ModelLoadError(f"The server at {self.base_url} does not return prompt "
                                 "log-probs (prompt_logprobs), needed to score forced text.")

    # -- tokens ---------------------------------------------------------------------------

    def _tokenize(self, body: dict[str, Any]) -> list[int]:
        answer = self._post_json("/tokenize", {"model": self.served_model, **body})
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ServerError(f"The model server at {self.base_url} answered /tokenize "
                              "without tokens.")
        return [int(t) for t in tokens]

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of the prompt, wrapped in the chat template for instruct models."""
        if self.chat:
            ids = self._tokenize({"messages": [{"role": "user", "content": prompt}],
                                  "add_generation_prompt": True, "add_special_tokens": False})
        else:
            ids = self._tokenize({"prompt": prompt, "add_special_tokens": True})
        if len(ids) >= self.context_length:
            raise InputError(f"The prompt is {len(ids)} tokens; the model's context is "
                             f"{self.context_length}. Shorten the problem.")
        return ids

    def encode_continuation(self, text: str) -> list[int]:
        return self._tokenize({"prompt": text, "add_special_tokens": False})

    def learn_eos(self, token_id: int) -> None:
        """``token_id`` ended a sample as the end of text: decode drops it from now on."""
        if token_id not in self.eos_ids:
            self.eos_ids.add(token_id)
            self._decoded.clear()
            self._token_text.pop(token_id, None)

    def decode(self, token_ids: Sequence[int]) -> str:
        key = tuple(int(t) for t in token_ids if int(t) not in self.eos_ids)
        if not key:
            return ""
        text = self._decoded.get(key)
        if text is None:
            answer = self._post_json("/detokenize", {"model": self.served_model,
                                                      "tokens": list(key)})
            if not isinstance(answer, dict) or not isinstance(answer.get("prompt"), str):
                raise ServerError(f"The model server at {self.base_url} answered "
                                  "/detokenize without text.")
            text = str(answer["prompt"])
            if len(self._decoded) > 50_000:
                self._decoded.clear()
            self._decoded[key] = text
        return text

    def token_text(self, token_id: int) -> str:
        text = self._token_text.get(token_id)
        if text is None:
            text = self.decode([token_id])
            self._token_text[token_id] = text
        return text

    def prefix_cache_counters(self) -> tuple[float, float] | None:
        """The server's ``(prefix-cache hits, queries)`` counters in tokens, from
        ``/metrics`` (vLLM), or ``None`` where it has none."""
        response = self._request("GET", "/metrics")
        if response.status_code != 200:
            return None
        values: dict[str, float] = {}
        for line in response.text.splitlines():
            for key in ("prefix_cache_hits", "prefix_cache_queries"):
                if line.startswith(f"vllm:{key}") and not line.startswith("#"):
                    values[key] = values.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        if len(values) < 2:
            return None
        return values["prefix_cache_hits"], values["prefix_cache_queries"]

    def new_session(self, reuse: bool = True, budget_bytes: int = 512 << 20) -> ServerSession:
        """A session for one search (``reuse`` is the server's prefix cache: nothing here)."""
        return ServerSession(self)


@dataclass
class _Response:
    """An HTTP answer: status and body."""

    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def _error_text(response: _Response) -> str:
    """The one-line message of an error response."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text).strip().splitlines()[0] if response.text.strip() else "?"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error).splitlines()[0]
        return str(body.get("message") or error).splitlines()[0]
    return str(body).splitlines()[0]


@dataclass
class _Piece:
    """One choice of a completion: its tokens, log-probs, confidences, why it stopped."""

    token_ids: list[int]
    logprobs: list[float]
    confidences: list[float]
    finish: str
    stop_string: bool


@dataclass
class ServerSession:
    """One search's use of a served model (``protocol.BackendSession``)."""

    model: ServerModel
    counter: TokenCounter = field(default_factory=TokenCounter)
    judged: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    """Prompt tokens sent (``usage.prompt_tokens``, summed)."""
    cached_tokens: int = 0
    """Of them, those the server says it served from its prefix cache."""

    def count_unique(self, n: int) -> None:
        self.counter.unique += n

    def remember(self, node_id: int, state: Any) -> None:
        """Nothing: the server keeps its own prefix cache."""

    # -- requests -------------------------------------------------------------------------

    def _complete(self, prompt: list[int], n: int, max_tokens: int, temperature: float,
                  seed: int, stop: list[str] | None) -> list[_Piece]:
        body: dict[str, Any] = {
            "prompt": prompt, "n": n, "max_tokens": max_tokens, "temperature": temperature,
            "logprobs": TOP_LOGPROBS, "return_tokens_as_token_ids": True, "seed": seed,
            "skip_special_tokens": True,
        }
        if stop:
            body.update(stop=stop, include_stop_str_in_output=True)
        answer = self.model.completions(body)
        choices = answer["choices"]
        if len(choices) != n:
            raise self._contradiction(f"{len(choices)} choices for n={n}")
        self._count(answer.get("usage"))
        return [self._piece(c, max_tokens) for c in choices]

    def _count(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            raise self._contradiction("no usage")
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        self.prompt_tokens += prompt
        self.cached_tokens += cached
        self.counter.forwarded += prompt - cached + completion

    def _contradiction(self, what: str) -> ServerError:
        return ServerError(f"The model server at {self.model.base_url} answered a request "
                           f"with {what}, which contradicts the request.")

    def _piece(self, choice: dict[str, Any], max_tokens: int) -> _Piece:
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens")
        lps = logprobs.get("token_logprobs")
        tops = logprobs.get("top_logprobs")
        if not isinstance(tokens, list) or not isinstance(lps, list) \
                or not isinstance(tops, list) or not len(tokens) == len(lps) == len(tops):
            raise self._contradiction("a choice without per-token log-probs")
        if len(tokens) > max_tokens:
            raise self._contradiction(f"{len(tokens)} tokens for max_tokens={max_tokens}")
        ids = [self._token_id(t) for t in tokens]
        confidences = []
        for lp, top in zip(lps, tops, strict=True):
            if not isinstance(top, dict) or not top:
                raise self._contradiction("a token without its top log-probs")
            confidences.append(token_confidence(float(lp), [float(v) for v in top.values()]))
        finish = str(choice.get("finish_reason") or "")
        stop_string = finish == "stop" and isinstance(choice.get("stop_reason"), str)
        if finish == "stop" and not stop_string and ids:
            self.model.learn_eos(ids[-1])  # EOS, or a stop token id of the model's config
        return _Piece(ids, [float(v) for v in lps], confidences, finish, stop_string)

    def _token_id(self, token: Any) -> int:
        match = _TOKEN_ID.match(str(token))
        if match is None:
            raise self._contradiction(f"token {token!r} not given as token_id:N "
                                      "(return_tokens_as_token_ids)")
        return int(match.group(1))

    # -- the protocol ---------------------------------------------------------------------

    def sample(self, path: Sequence[tuple[int, Sequence[int]]], k: int, rule: StopRule,
               temperature: float, generator: torch.Generator) -> list[Sample]:
        """``k`` continuations of ``path``, identical ones merged, most often drawn first,
        then most likely."""
        prompt = [int(t) for _, tokens in path for t in tokens]
        room = self.model.context_length - len(prompt)
        if room < 1:
            raise InputError(f"The path is {len(prompt)} tokens: no room left in the "
                             f"model's context ({self.model.context_length}).")
        if rule.kind == "rollout":
            samples = [self._rollout(prompt, rule, temperature, generator) for _ in range(k)]
        else:
            stop = ["\n"] if rule.kind == "line" else None
            pieces = self._complete(prompt, k, min(rule.max_tokens, room), temperature,
                                    _seed(generator), stop)
            samples = [self._line_sample(prompt, p, rule, temperature, generator)
                       for p in pieces]
        merged: dict[tuple[int, ...], Sample] = {}
        for s in samples:
            key = tuple(s.token_ids)
            if key in merged:
                merged[key].count += s.count
            else:
                merged[key] = s
        done = list(merged.values())
        self.counter.generated += sum(len(s.token_ids) * s.count for s in done)
        self.counter.unique += sum(len(s.token_ids) for s in done)
        done.sort(key=lambda s: (-s.count, -s.logprob))
        return done

    def _ended(self, piece: _Piece, n_tokens: int, rule: StopRule, prompt_len: int
               ) -> EndReason:
        if piece.finish == "stop":
            return "stop" if piece.stop_string else "eos"
        if n_tokens >= rule.max_tokens:
            return "length"
        if prompt_len + n_tokens >= self.model.context_length:
            return "context"
        if piece.finish == "length":
            return "length"
        raise self._contradiction(f"finish_reason {piece.finish!r}")

    def _line_sample(self, prompt: list[int], piece: _Piece, rule: StopRule,
                     temperature: float, generator: torch.Generator) -> Sample:
        """A step or mini-step. A step that stopped at a newline before any other text goes
        on (the HF backend's rule: a step ends at the first newline after some text)."""
        ids, lps, confs = list(piece.token_ids), list(piece.logprobs), list(piece.confidences)
        text = "".join(self.model.token_text(t) for t in ids)
        while (rule.kind == "line" and piece.stop_string and not text.strip()
               and len(ids) < rule.max_tokens
               and len(prompt) + len(ids) < self.model.context_length):
            room = min(rule.max_tokens - len(ids),
                       self.model.context_length - len(prompt) - len(ids))
            piece = self._complete(prompt + ids, 1, room, temperature, _seed(generator),
                                   ["\n"])[0]
            ids += piece.token_ids
            lps += piece.logprobs
            confs += piece.confidences
            text = "".join(self.model.token_text(t) for t in ids)
        ended = self._ended(piece, len(ids), rule, len(prompt))
        if ended == "stop" and rule.kind == "tokens":
            ended = "eos"
        return Sample(ids, lps, confs, text, 1, ended)

    def _rollout(self, prompt: list[int], rule: StopRule, temperature: float,
                 generator: torch.Generator) -> Sample:
        """To a final line, a rejected line, EOS or the limit, one line per request."""
        ids: list[int] = []
        lps: list[float] = []
        confs: list[float] = []
        text = ""
        rejected = None
        while True:
            room = min(rule.max_tokens - len(ids),
                       self.model.context_length - len(prompt) - len(ids))
            piece = self._complete(prompt + ids, 1, room, temperature, _seed(generator),
                                   ["\n"])[0]
            ids += piece.token_ids
            lps += piece.logprobs
            confs += piece.confidences
            text += "".join(self.model.token_text(t) for t in piece.token_ids)
            ended = self._ended(piece, len(ids), rule, len(prompt))
            if ended != "stop":
                break
            line = text.rstrip("\n").rsplit("\n", 1)[-1]
            if rule.is_final_line and rule.is_final_line(line):
                break
            if rule.rejects is not None:
                rejected = rule.rejects(text)
                if rejected is not None:
                    break
            if len(ids) >= rule.max_tokens:
                ended = "length"
                break
            if len(prompt) + len(ids) >= self.model.context_length:
                ended = "context"
                break
        return Sample(ids, lps, confs, text, 1, ended, None, rejected)

    def _prompt_logprobs(self, prompts: list[list[int]]) -> list[list[dict[str, Any]]]:
        """Each prompt's ``prompt_logprobs`` (one ``{token id: {logprob}}`` per position
        after the first), from one request (counted as forwarded from its usage)."""
        answer = self.model.completions({
            "prompt": prompts, "max_tokens": 1, "temperature": 0.0,
            "prompt_logprobs": TOP_LOGPROBS})
        choices = answer["choices"]
        if len(choices) != len(prompts):
            raise self._contradiction(f"{len(choices)} choices for {len(prompts)} prompts")
        self._count(answer.get("usage"))
        result = []
        for choice, prompt in zip(sorted(choices, key=lambda c: int(c.get("index", 0))),
                                  prompts, strict=True):
            positions = choice.get("prompt_logprobs")
            if not isinstance(positions, list) or len(positions) != len(prompt):
                raise self._contradiction("prompt_logprobs that do not match the prompt")
            result.append([p if isinstance(p, dict) else {} for p in positions[1:]])
        return result

    def force(self, path: Sequence[tuple[int, Sequence[int]]], token_ids: Sequence[int]
              ) -> Sample:
        """Score given tokens after ``path`` (a reflection line)."""
        prompt = [int(t) for _, tokens in path for t in tokens]
        forced = [int(t) for t in token_ids]
        positions = self._prompt_logprobs([prompt + forced])[0][len(prompt) - 1:]
        logprobs, confidences = [], []
        for token, position in zip(forced, positions, strict=True):
            entry = position.get(str(token))
            if not isinstance(entry, dict) or "logprob" not in entry:
                raise self._contradiction(f"prompt_logprobs without the forced token {token}")
            lp = float(entry["logprob"])
            top = [float(e["logprob"]) for e in position.values()
                   if isinstance(e, dict) and "logprob" in e]
            logprobs.append(lp)
            confidences.append(token_confidence(lp, top))
        self.counter.unique += len(forced)
        return Sample(forced, logprobs, confidences, self.model.decode(forced), 1, "stop")

    def judge(self, prompts: Sequence[str], words: tuple[str, str]) -> list[float]:
        """For each prompt, P(first word) / (P(first) + P(second)) of the next token (each
        word's first token), exactly: ``prompt + word`` is scored with prompt log-probs.
        Memoised per session; forwarded as the server reports it, and otherwise counted as
        the HF backend counts it (the prompt unique, one token generated: the verdict the
        model would write)."""
        first, second = (self.model.encode_continuation(" " + w)[0] for w in words)
        if first == second:
            raise InputError(f"{self.model.name}: the verdict words {words} start with the "
                             "same token, so the model's next token cannot tell them apart.")
        new = [p for p in dict.fromkeys(prompts) if p not in self.judged]
        if new:
            encoded = [self.model.encode_prompt(p) for p in new]
            asked = [ids + [w] for ids in encoded for w in (first, second)]
            answers = self._prompt_logprobs(asked)
            for i, prompt in enumerate(new):
                a = _logprob_of(answers[2 * i][-1], first)
                b = _logprob_of(answers[2 * i + 1][-1], second)
                if a is None or b is None:
                    raise self._contradiction("prompt_logprobs without the verdict token")
                pair = torch.log_softmax(torch.tensor([a, b], dtype=torch.float64), dim=0)
                self.judged[prompt] = float(pair[0].exp())
            self.counter.unique += sum(len(ids) for ids in encoded)
            self.counter.generated += len(new)
            self.counter.judged += len(new)
        return [self.judged[p] for p in prompts]


def _logprob_of(position: dict[str, Any], token: int) -> float | None:
    entry = position.get(str(token))
    if isinstance(entry, dict) and "logprob" in entry:
        return float(entry["logprob"])
    return None


def _seed(generator: torch.Generator) -> int:
    """A request seed drawn from the search's stream (reproducible where the server
    honours seeds)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
