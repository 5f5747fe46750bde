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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from engine.errors import InputError, MctsLabError, ModelLoadError

if TYPE_CHECKING:
    from engine.backends.server_session import ServerSession

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
        from engine.backends.server_session import ServerSession

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
