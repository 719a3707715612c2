"""A real HTTP fake of an OpenAI-compatible provider on 127.0.0.1 (OpenAI, Groq, Gemini's
compatible endpoint, Ollama, vLLM all speak this), driven by the real `openai` client.

Routes under /v1: chat/completions, embeddings, audio/transcriptions. Each test scripts it:
`reply(...)` queues the next chat answers (first in, first out; a default answer otherwise),
`transcript(...)` the next transcriptions, `embed_as(...)` the vector of a text (others get a
deterministic hash vector), `fail(...)` injects errors (429, 500, slow answers for
timeouts) before them. Every request is recorded (`chat_requests()` gives their JSON bodies).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import deque
from typing import Any

from whatsapp.tests.fakes import Answer, FakeServer, RecordedRequest

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
DEFAULT_REPLY = "OK."


def error_body(status: int, message: str) -> dict:
    kinds = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}
    return {"error": {"message": message, "type": kinds.get(status, "server_error"), "code": None, "param": None}}


class FakeOpenAI(FakeServer):
    api_key = "sk-test-fake-0123456789"

    def __init__(self):
        super().__init__()
        self._replies: deque[dict] = deque()
        self._transcripts: deque[str] = deque()
        self._vectors: dict[str, list[float]] = {}
        self._ids = itertools.count(1)
        self._queue_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # --- scripting -----------------------------------------------------------------------

    def reply(self, content: str | dict, *, prompt_tokens: int = 100, completion_tokens: int = 20) -> None:
        """The next chat completion answers `content` (a dict is sent as its JSON text)."""
        text = json.dumps(content, ensure_ascii=False) if isinstance(content, dict) else content
        with self._queue_lock:
            self._replies.append(
                {"content": text, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            )

    def transcript(self, text: str) -> None:
        with self._queue_lock:
            self._transcripts.append(text)

    def embed_as(self, text: str, vector: list[float]) -> None:
        """Embeddings of exactly `text` answer `vector` (to script which texts are "similar")."""
        with self._queue_lock:
            self._vectors[text] = list(vector)

    def embedding_requests(self) -> list[dict]:
        return [request.json() for request in self.requests_to("POST", EMBEDDINGS)]

    def fail(self, path: str = CHAT, *, status: int = 500, times: int = 1, delay: float = 0.0) -> None:
        """The next `times` requests to `path` fail with `status` (after `delay` seconds). Retryable
        errors say `retry-after-ms: 1`, so the client's retries do not slow the tests down."""
        headers = {"retry-after-ms": "1"} if status in (408, 409, 429) or status >= 500 else {}
        self.respond("POST", path, status=status, json=error_body(status, f"fake error {status}"), headers=headers,
                     delay=delay, times=times)  # fmt: skip

    # --- inspection ----------------------------------------------------------------------

    def chat_requests(self) -> list[dict]:
        return [request.json() for request in self.requests_to("POST", CHAT)]

    # --- serving -------------------------------------------------------------------------

    def route(self, request: RecordedRequest) -> Answer:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Answer(status=401, json=error_body(401, "Incorrect API key provided."))
        if request.method != "POST":
            return Answer(status=405, json=error_body(405, "method not allowed"))
        if request.path == CHAT:
            return self._chat(request)
        if request.path == EMBEDDINGS:
            return self._embeddings(request)
        if request.path == TRANSCRIPTIONS:
            return self._transcription(request)
        return Answer(status=404, json=error_body(404, f"unknown path {request.path}"))

    def _chat(self, request: RecordedRequest) -> Answer:
        body = request.json()
        with self._queue_lock:
            scripted = self._replies.popleft() if self._replies else None
        scripted = scripted or {"content": DEFAULT_REPLY, "prompt_tokens": 10, "completion_tokens": 2}
        return Answer(
            json={
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": 1_767_225_600,
                "model": body.get("model", "unknown"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": scripted["content"]},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": scripted["prompt_tokens"],
                    "completion_tokens": scripted["completion_tokens"],
                    "total_tokens": scripted["prompt_tokens"] + scripted["completion_tokens"],
                },
            }
        )

    def _embeddings(self, request: RecordedRequest) -> Answer:
        body = request.json()
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        with self._queue_lock:
            vectors = [self._vectors.get(text) or vector_of(text) for text in inputs]
        data = [{"object": "embedding", "index": index, "embedding": vector} for index, vector in enumerate(vectors)]
        tokens = sum(len(str(text).split()) for text in inputs)
        return Answer(
            json={
                "object": "list",
                "data": data,
                "model": body.get("model", "unknown"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _transcription(self, request: RecordedRequest) -> Answer:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return Answer(status=400, json=error_body(400, "expected multipart/form-data"))
        with self._queue_lock:
            text = self._transcripts.popleft() if self._transcripts else "Transcribed audio."
        return Answer(json={"text": text})


def vector_of(text: Any, dimensions: int = 8) -> list[float]:
    """A deterministic unit-free vector per text: equal texts embed equally."""
    digest = hashlib.sha256(str(text).encode()).digest()
    return [round(byte / 255, 4) for byte in digest[:dimensions]]


def multipart_fields(request: RecordedRequest) -> dict[str, bytes]:
    """The parts of a multipart/form-data request body, by name (files: their bytes)."""
    content_type = request.headers["content-type"]
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields = {}
    for part in request.body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _sep, value = part.partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode() if b'name="' in head else ""
        fields[name] = value.removesuffix(b"\r\n")
    return fields
