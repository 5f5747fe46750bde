"""A real vLLM server (the CPU build from ``.venv-vllm``, made by ``make vllm-deps``) with the
bundled demo model, on a free port, for the tests that talk to it over HTTP.

It is started in a process group of its own (``process_group=0``: not a new session, so it
keeps the test run's CPU scheduling group) and the whole group is stopped at the end: the
server spawns EngineCore and Worker children that would otherwise outlive the tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
MODEL_DIR = ROOT / "assets" / "models" / "game24-demo"
SERVED_NAME = "demo"
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VllmServer:
    """``with VllmServer(log) as server: server.url`` is ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, log: Path, max_logprobs: int = 5, max_model_len: int = 384) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.max_logprobs = max_logprobs
        self.max_model_len = max_model_len
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
                "--model", str(MODEL_DIR), "--served-model-name", SERVED_NAME,
                "--max-logprobs", str(self.max_logprobs), "--enable-prefix-caching",
                "--enable-prompt-tokens-details", "--max-model-len", str(self.max_model_len),
                # float32 as the HF backend computes (vLLM's CPU default downcasts to
                # bfloat16); eager mode starts in half the time and the model is tiny.
                "--dtype", "float32", "--enforce-eager",
                "--gpu-memory-utilization", "0.3", "--host", "127.0.0.1",
                "--port", str(self.port)]

    def __enter__(self) -> VllmServer:
        if not VLLM_PYTHON.exists():
            raise RuntimeError(f"{VLLM_PYTHON} is missing: run `make vllm-deps` first")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("PYTHONPATH", None)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.command(), stdout=out,
                                            stderr=subprocess.STDOUT, env=env,
                                            cwd=self.log.parent, process_group=0)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited ({self.process.returncode}) before it was "
                                   f"ready:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"vLLM not ready in {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and every child it spawned (its whole process group)."""
        if self.process is None:
            return
        pgid = self.process.pid
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(pgid):
                break
            time.sleep(1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
