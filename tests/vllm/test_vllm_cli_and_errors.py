"""`mctslab search / eval / bench / resume --model <server>` against the real vLLM server, and
every one-line error: a server not reachable (a stopped one: a free port), a model name not
served, log-probs capped below what is needed, no log-probs, a timeout, and a response that
contradicts the request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from vllm_server import free_port

from app.cli import main
from engine.backends import openai_server
from engine.backends.openai_server import ServerError, ServerModel
from engine.backends.protocol import StopRule
from engine.errors import ModelLoadError

PUZZLES = Path(__file__).resolve().parents[2] / "assets" / "data" / "game24_tot_901_1000.txt"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("mctslab: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_vllm_cli_search_then_resume(vllm_url: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.db")
    code, out, _ = _run(capsys, "search", "4 5 6 10", "--model", vllm_url, "--served-model",
                        "demo", "--iterations", "6", "--db", db, "--json")
    assert code == 0
    first = json.loads(out)
    # The run records the server as one string, so resume finds the server by itself.
    code, out, _ = _run(capsys, "runs", "--db", db, "--json")
    assert json.loads(out)[0]["model"] == f"{vllm_url}?model=demo"
    code, out, _ = _run(capsys, "resume", str(first["run_id"]), "--iterations", "4",
                        "--db", db, "--json")
    assert code == 0
    assert json.loads(out)["iterations"] == 10


def test_vllm_cli_eval(vllm_url: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "eval.json"
    code, out, _ = _run(capsys, "eval", "--model", vllm_url, "--puzzles", str(PUZZLES),
                        "--limit", "2", "--token-budget", "400", "--strategies",
                        "greedy,mcts", "--out", str(out_file), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["model"] == f"{vllm_url}?model=demo"
    assert len(report["rows"]) == 4
    assert all(row["tokens_generated"] > 0 for row in report["rows"])
    assert out_file.exists()


def test_vllm_cli_bench_tokens_per_s_and_prefix_cache_hit_rate(
        vllm_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "bench", "--model", vllm_url, "--iterations", "20", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["mcts_tokens_per_s"] > 0
    long_prefix = report["workloads"]["long_prefix"]
    assert long_prefix["prompt_tokens"] > 256  # more than two 128-token CPU cache blocks
    assert long_prefix["prefix_cache_hit_rate"] >= 0.8
    assert report["met"]["long_prefix_hit_rate"] is True
    # The server's /metrics and the responses' usage agree on the hits.
    assert long_prefix["usage_cached_tokens"] == long_prefix["prefix_cache_hits"]


def test_vllm_error_server_not_reachable(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, _, err = _run(capsys, "search", "4 5 6 10", "--model", url, "--iterations", "1",
                        "--db", str(tmp_path / "runs.db"))
    assert code == 2
    assert _one_line_error(err) == (f"mctslab: error: Cannot reach the model server at {url}: "
                                    "nothing answers there (is it running?).")


def test_vllm_error_model_not_served_lists_served_names(
        vllm_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "search", "4 5 6 10", "--model", f"{vllm_url}?model=gpt-9",
                        "--iterations", "1", "--db", str(tmp_path / "runs.db"))
    assert code == 2
    assert _one_line_error(err) == (f"mctslab: error: The server at {vllm_url} does not serve "
                                    "'gpt-9'; it serves: demo.")


def test_vllm_error_logprobs_capped_below_what_is_needed(
        vllm_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server runs with --max-logprobs 5: asking it for 6 is what a server started with
    # a cap below 5 answers to our 5.
    monkeypatch.setattr(openai_server, "TOP_LOGPROBS", 6)
    with pytest.raises(ModelLoadError, match=f"server at {vllm_url} caps log-probs below 6 "
                       r"\(start vLLM with --max-logprobs 6\)") as caught:
        ServerModel(vllm_url)
    assert "\n" not in str(caught.value)


def test_vllm_error_timeout(vllm_url: str) -> None:
    model = ServerModel(vllm_url)
    prompt = model.encode_prompt("Input: 4 5 6 10\n")
    # A request that takes the server seconds (8 prompts x 16 samples x 360 tokens; one
    # prompt x 16 took 0.2 to 1.5 s here, depending on the load), against a 0.2 s limit.
    model.set_timeout(0.2)
    with pytest.raises(ServerError, match=f"server at {vllm_url} did not answer "
                       "/v1/completions within 0.2 s"):
        model.completions({"prompt": [prompt] * 8, "n": 16, "max_tokens": 360,
                           "ignore_eos": True})
    model.set_timeout(60)
    # The connection is opened again: the next request is answered.
    assert model.encode_continuation("Step:") == model.encode_continuation("Step:")


def test_vllm_error_response_contradicts_request(vllm_model: ServerModel,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = ServerModel.completions

    def one_choice_short(self: ServerModel, body: dict[str, Any]) -> dict[str, Any]:
        answer = real(self, body)
        answer["choices"] = answer["choices"][:-1]
        return answer

    monkeypatch.setattr(ServerModel, "completions", one_choice_short)
    prompt = vllm_model.encode_prompt("Input: 4 5 6 10\n")
    with pytest.raises(ServerError, match="answered a request with 3 choices for n=4, which "
                       "contradicts the request"):
        vllm_model.new_session().sample([(0, prompt)], 4, StopRule("line", 64), 1.0,
                                        torch.Generator().manual_seed(0))


class _NoLogprobs(BaseHTTPRequestHandler):
    """A completions server that answers without log-probs (as some servers do)."""

    def _send(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._send({"data": [{"id": "plain", "max_model_len": 512}]})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/tokenize":
            self._send({"tokens": [5]})
        else:
            self._send({"choices": [{"index": 0, "text": "x", "logprobs": None,
                                     "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def no_logprobs_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoLogprobs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_vllm_error_server_without_logprobs(no_logprobs_url: str) -> None:
    with pytest.raises(ModelLoadError, match=f"The server at {no_logprobs_url} returns no "
                       "log-probs"):
        ServerModel(no_logprobs_url)
