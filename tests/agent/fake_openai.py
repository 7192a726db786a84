"""A local OpenAI-compatible chat server with scripted replies (no network, no real LLM)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    tool_call: str | None = None
    status: int = 200
    raw: bytes | None = None
    delay_s: float = 0.0
    tool_calls: tuple[tuple[str, str], ...] = ()
    """(name, JSON arguments as sent, possibly malformed) for each tool call."""


def calls(*pairs: tuple[str, dict[str, Any] | str]) -> Reply:
    """A reply that calls tools; a str argument is sent verbatim (e.g. broken JSON)."""
    return Reply(
        tool_calls=tuple((n, a if isinstance(a, str) else json.dumps(a)) for n, a in pairs)
    )


def completion(reply: Reply) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    finish = "stop"
    wanted = list(reply.tool_calls)
    if reply.tool_call is not None:
        wanted.append((reply.tool_call, '{"model_name": "digits"}'))
    if wanted:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(wanted, 1)
        ]
        finish = "tool_calls"
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return json.dumps(body).encode()


@dataclass
class ScriptedLLM:
    """Serves POST /v1/chat/completions from ``script``, recording every request."""

    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedLLM:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                llm.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                llm.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = llm.script.pop(0) if llm.script else Reply(status=500, raw=b"{}")
                if self.path != "/v1/chat/completions":
                    reply = Reply(status=404, raw=b'{"error": {"message": "no such route"}}')
                time.sleep(reply.delay_s)
                body = reply.raw if reply.raw is not None else completion(reply)
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out closed the socket: expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def tool_names(self, index: int = -1) -> list[str]:
        """The tools the client offered the model in one request."""
        return [t["function"]["name"] for t in self.requests[index].get("tools", [])]

    def user_messages(self, index: int = -1) -> str:
        messages = self.requests[index]["messages"]
        return "\n".join(m["content"] for m in messages if m["role"] == "user")
