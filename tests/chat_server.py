"""A scripted OpenAI-compatible chat server on loopback, for tests that need to know what the model says.

It speaks the real wire protocol (POST /v1/chat/completions, server-sent events when streaming), so
the bot's real client (llama-index's OpenAILike over httpx) talks to it exactly as to vLLM or
llama.cpp. Tests about a real model's behaviour use llama.cpp's server instead (test_llm_server.py).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedChatServer:
    def __init__(self, reply: str = "", status: int = 200, delay: float = 0.0, piece: int = 6,
                 hold_after: int | None = None):
        self.reply = reply
        # after this many characters the stream waits until the test calls release(): ordering without a clock
        self.hold_after = hold_after
        self.gate = threading.Event()
        self.status = status
        self.delay = delay  # seconds between streamed pieces
        self.piece = piece  # characters per streamed piece
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                server.requests.append(body)
                if server.status != 200:
                    self._json(server.status, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                if not body.get("stream"):
                    self._json(200, _completion(server.reply))
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                text = server.reply
                for i in range(0, len(text), server.piece):
                    if server.hold_after is not None and i >= server.hold_after:
                        server.gate.wait(60)
                    time.sleep(server.delay)
                    self._event(_chunk(text[i:i + server.piece]))
                self._event(_chunk("", finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, payload: dict) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "ScriptedChatServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _chunk(text: str, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text} if text else {},
                         "finish_reason": finish}]}


def _completion(text: str) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class BlackHole:
    """Accepts TCP connections and never answers: the slowest possible model server."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
