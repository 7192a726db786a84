"""``python -m registry_mcp.deploy.kubernetes.probe``: is this pod's TorchServe healthy?

The readiness and liveness probe of the TorchServe containers. With token authorization on,
``/ping`` needs the inference token, which expires after ``token_expiration_min``; an expired
one is renewed first with the API key (management ``GET /token?type=inference`` rewrites the
key file), as our client does. Without a key file (the rendered cluster config turns token
authorization off, and TorchServe then writes none) ``/ping`` is asked without a token: a
TorchServe that wants one, or is still starting, fails that. Exit 0: healthy; 1: not (the
reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

from serving.errors import ServingError
from serving.keyfile import read_keys

KEY_FILE = "/srv/torchserve/key_file.json"
INFERENCE = "http://127.0.0.1:8080"
MANAGEMENT = "http://127.0.0.1:8081"


def _get(url: str, key: str | None, timeout_s: float) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:  # an answer, not a transport failure
        exc.close()
        return int(exc.code)


def check(key_file: Path, inference: str, management: str, timeout_s: float = 4.0) -> str | None:
    """None when /ping answers 200 with a valid token, else why not."""
    try:
        keys = read_keys(key_file)
        if keys is None:
            status = _get(f"{inference}/ping", None, timeout_s)
            if status == 200:
                return None  # token authorization is off
            return (
                f"/ping without a token answered HTTP {status} and {key_file} does not exist "
                "(TorchServe is starting, or wants a token)"
            )
        token = keys.get("inference")
        if token is None or token.expired():
            api = keys.get("API")
            if api is None:
                return f"{key_file} holds no API key to renew the inference token"
            renewal = _get(f"{management}/token?type=inference", api.key, timeout_s)
            if renewal != 200:
                return f"renewing the inference token answered HTTP {renewal}"
            renewed = read_keys(key_file) or {}
            token = renewed.get("inference")
            if token is None:
                return "the inference token could not be renewed"
        status = _get(f"{inference}/ping", token.key, timeout_s)
    except (OSError, ServingError) as exc:  # URLError and HTTPError are OSErrors
        return f"{type(exc).__name__}: {exc}"
    return None if status == 200 else f"/ping answered HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry_mcp.deploy.kubernetes.probe")
    parser.add_argument("--key-file", type=Path, default=Path(KEY_FILE))
    parser.add_argument("--inference-url", default=INFERENCE)
    parser.add_argument("--management-url", default=MANAGEMENT)
    args = parser.parse_args(argv)
    problem = check(args.key_file, args.inference_url, args.management_url)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
