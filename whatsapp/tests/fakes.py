"""Real HTTP fakes of Meta's Graph API and of an Evolution API server, on 127.0.0.1.

Each fake is an `http.server` in a thread on an ephemeral port. It records every request and answers
like the real service by default; a test scripts exceptions with `respond(method, path, ...)`
(one-shot answers, first in first out, before the default behaviour) — errors, 5xx, slow answers.
Use them through the pytest fixtures in conftest.py (`fake_graph`, `fake_evolution`).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# A real 1×1 PNG, as Evolution renders QR codes.
PNG_1X1_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


class FakeServer:
    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self._scripted: dict[tuple[str, str], deque[Answer]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format, *args):  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )

    # --- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()  # wakes slow answers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- scripting and inspection ----------------------------------------------------

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `method path` get this answer instead of the default one."""
        answer = Answer(status=status, json=json, body=body, headers=headers or {}, delay=delay)
        with self._lock:
            self._scripted[(method.upper(), path)].extend([answer] * times)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # --- serving ---------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
            scripted = self._scripted.get((request.method, request.path))
            answer = scripted.popleft() if scripted else None
        if answer is None:
            answer = self.route(request)
        if answer.delay:
            self._stopping.wait(answer.delay)
        payload = answer.body if answer.body is not None else b""
        headers = dict(answer.headers)
        if answer.json is not None:
            payload = _json_bytes(answer.json)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        try:
            handler.send_response(answer.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def route(self, request: RecordedRequest) -> Answer:
        return Answer(status=404, json={"error": "not found"})


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


# --- Meta Graph API ------------------------------------------------------------------------


def graph_error_body(code: int, message: str, details: str = "", *, error_type: str = "OAuthException") -> dict:
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


class FakeGraphAPI(FakeServer):
    """Graph API for one phone number: send, mark read, upload, media metadata + bytes, number info.

    Every route requires `Authorization: Bearer <access_token>` (else 401, code 190), media bytes too.
    """

    version = "v23.0"
    phone_number_id = "106540352242922"
    waba_id = "102290129340398"
    access_token = "EAAGm0PX4ZCpsBAFAKEtoken0123456789"
    media_path = "/whatsapp_business/attachments/"

    def __init__(self):
        super().__init__()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.templates: list[dict] = []  # the account's message templates, as GET returns them
        self._ids = itertools.count(1)

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    def add_template(self, name: str, language: str = "pt_BR", *, status: str = "APPROVED", **fields) -> dict:
        template = {
            "name": name,
            "language": language,
            "status": status,
            "category": fields.pop("category", "MARKETING"),
            "components": fields.pop("components", [{"type": "BODY", "text": "Olá {{1}}!"}]),
            "id": str(1500000000000000 + next(self._ids)),
            **fields,
        }
        with self._lock:
            self.templates.append(template)
        return template

    @property
    def templates_path(self) -> str:
        return f"/{self.version}/{self.waba_id}/message_templates"

    @property
    def messages_path(self) -> str:
        return f"/{self.version}/{self.phone_number_id}/messages"

    def fail(self, code: int, message: str, details: str = "", *, status: int = 400, path: str | None = None):
        """Scripts the next send (or `path`) to fail with a Graph error envelope."""
        self.respond("POST", path or self.messages_path, status=status, json=graph_error_body(code, message, details))

    def route(self, request: RecordedRequest) -> Answer:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Answer(
                status=401,
                json=graph_error_body(190, "Error validating access token: Session has expired."),
            )
        segments = request.path.strip("/").split("/")
        if request.path == self.media_path and request.method == "GET":
            media_id = request.query.get("mid", [""])[0]
            if media_id not in self.media:
                return Answer(status=404, body=b"Not Found")
            content, mime_type = self.media[media_id]
            return Answer(status=200, body=content, headers={"Content-Type": mime_type})
        if request.path == self.templates_path:
            return self._templates(request)
        if len(segments) == 3 and segments[0] == self.version and segments[1] == self.phone_number_id:
            if segments[2] == "messages" and request.method == "POST":
                return self._messages(request)
            if segments[2] == "media" and request.method == "POST":
                return Answer(json={"id": f"{900000000000000 + next(self._ids)}"})
        if len(segments) == 2 and segments[0] == self.version and request.method == "GET":
            if segments[1] == self.phone_number_id:
                return Answer(
                    json={
                        "verified_name": "Loja Prosa Centro",
                        "display_phone_number": "+55 11 93000-1234",
                        "quality_rating": "GREEN",
                        "name_status": "APPROVED",
                        "id": self.phone_number_id,
                    }
                )
            return self._media_info(segments[1])
        return Answer(status=400, json=graph_error_body(100, "Unsupported request - method type: " + request.method))

    def _messages(self, request: RecordedRequest) -> Answer:
        body = request.json()
        if body.get("status") == "read":
            return Answer(json={"success": True})
        wamid = (
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEj" + base64.b64encode(f"prosa-{next(self._ids):06d}".encode()).decode()
        )
        to = body.get("to", "")
        return Answer(
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
        )

    def _templates(self, request: RecordedRequest) -> Answer:
        """Pages of `limit` templates with `paging.cursors` and a `paging.next` URL (Graph's cursor
        pagination); POST submits a new one, PENDING until Meta reviews it."""
        if request.method == "GET":
            limit = int(request.query.get("limit", ["25"])[0])
            start = int(base64.b64decode(request.query.get("after", ["MA=="])[0]).decode())
            with self._lock:
                page = self.templates[start : start + limit]
                more = start + limit < len(self.templates)
            fields = request.query.get("fields", [""])[0]
            data = [{k: v for k, v in t.items() if not fields or k in fields.split(",")} for t in page]
            paging = {
                "cursors": {
                    "before": base64.b64encode(str(start).encode()).decode(),
                    "after": base64.b64encode(str(start + limit).encode()).decode(),
                }
            }
            if more:
                after = paging["cursors"]["after"]
                paging["next"] = f"{self.url}{self.templates_path}?limit={limit}&fields={fields}&after={after}"
            return Answer(json={"data": data, "paging": paging})
        if request.method != "POST":
            return Answer(
                status=400, json=graph_error_body(100, "Unsupported request - method type: " + request.method)
            )
        body = request.json()
        missing = [key for key in ("name", "language", "category", "components") if not body.get(key)]
        if missing:
            return Answer(
                status=400,
                json=graph_error_body(
                    100, f"(#100) The parameter {missing[0]} is required.", error_type="OAuthException"
                ),
            )
        with self._lock:
            taken = any(t["name"] == body["name"] and t["language"] == body["language"] for t in self.templates)
        if taken:
            return Answer(
                status=400,
                json=graph_error_body(
                    100,
                    "Invalid parameter",
                    f"Content in this language already exists for {body['name']}.",
                ),
            )
        template = self.add_template(
            body["name"], body["language"], status="PENDING", category=body["category"], components=body["components"]
        )
        return Answer(json={"id": template["id"], "status": "PENDING", "category": template["category"]})

    def _media_info(self, media_id: str) -> Answer:
        if media_id not in self.media:
            return Answer(
                status=400,
                json=graph_error_body(
                    100,
                    f"Unsupported get request. Object with ID '{media_id}' does not exist.",
                    error_type="GraphMethodException",
                ),
            )
        content, mime_type = self.media[media_id]
        return Answer(
            json={
                "messaging_product": "whatsapp",
                "url": f"{self.url}{self.media_path}?mid={media_id}&ext=1750680421&hash=ATtSx0Mq4n",
                "mime_type": mime_type,
                "sha256": "JqKvZ3bM3xnC0HCRaLqVpdfD8a0oMqYZ93V1Kx9QE",
                "file_size": str(len(content)),
                "id": media_id,
            }
        )


# --- Evolution API ---------------------------------------------------------------------------


def evolution_error_body(status: int, error: str, message: Any) -> dict:
    return {"status": status, "error": error, "response": {"message": message}}


class FakeEvolutionAPI(FakeServer):
    """An Evolution API v2 server: instances, sends (201 with key.id), media as base64, QR codes.

    Every route requires the `apikey` header; instance routes 404 for unknown instances.
    """

    api_key = "B6D711FCDE4D4FD5936544120E713976"

    def __init__(self):
        super().__init__()
        self.instances: dict[str, str] = {}  # name → state (open / connecting / close)
        self.media: dict[str, tuple[bytes, str, str]] = {}  # key id → (content, mimetype, fileName)
        self.not_on_whatsapp: set[str] = set()
        self.webhooks: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def add_instance(self, name: str, state: str = "open") -> None:
        self.instances[name] = state

    def add_media(self, key_id: str, content: bytes, mime_type: str, filename: str = "") -> None:
        self.media[key_id] = (content, mime_type, filename)

    def route(self, request: RecordedRequest) -> Answer:
        if request.headers.get("apikey") != self.api_key:
            return Answer(status=401, json=evolution_error_body(401, "Unauthorized", "Unauthorized"))
        segments = request.path.strip("/").split("/")
        if request.method == "POST" and segments == ["instance", "create"]:
            return self._create(request)
        if len(segments) != 3:
            return Answer(status=404, json=evolution_error_body(404, "Not Found", [f"Cannot {request.method}"]))
        route, instance = "/".join(segments[:2]), segments[2]
        if instance not in self.instances:
            return Answer(
                status=404,
                json=evolution_error_body(404, "Not Found", [f'The "{instance}" instance does not exist']),
            )
        handlers = {
            ("POST", "message/sendText"): self._send,
            ("POST", "message/sendMedia"): self._send,
            ("POST", "message/sendWhatsAppAudio"): self._send,
            ("POST", "message/sendSticker"): self._send,
            ("POST", "chat/getBase64FromMediaMessage"): self._base64,
            ("POST", "chat/markMessageAsRead"): lambda r, i: Answer(
                status=201, json={"message": "Read messages", "read": "success"}
            ),
            ("GET", "instance/connect"): self._connect,
            ("GET", "instance/connectionState"): lambda r, i: Answer(
                json={"instance": {"instanceName": i, "state": self.instances[i]}}
            ),
            ("DELETE", "instance/logout"): self._logout,
            ("POST", "webhook/set"): self._set_webhook,
        }
        handler = handlers.get((request.method, route))
        if handler is None:
            return Answer(status=404, json=evolution_error_body(404, "Not Found", [f"Cannot {request.method}"]))
        return handler(request, instance)

    def _send(self, request: RecordedRequest, instance: str) -> Answer:
        body = request.json()
        number = str(body.get("number", ""))
        if number in self.not_on_whatsapp:
            jid = f"{number}@s.whatsapp.net"
            return Answer(
                status=400,
                json=evolution_error_body(400, "Bad Request", [{"exists": False, "jid": jid, "number": number}]),
            )
        key_id = f"3EB0{next(self._ids):018X}"
        remote_jid = number if "@" in number else f"{number}@s.whatsapp.net"
        message = {"conversation": body["text"]} if "text" in body else {"mediaMessage": {}}
        return Answer(
            status=201,
            json={
                "key": {"remoteJid": remote_jid, "fromMe": True, "id": key_id},
                "pushName": "",
                "status": "PENDING",
                "message": message,
                "messageType": "conversation" if "text" in body else "mediaMessage",
                "messageTimestamp": int(time.time()),
                "instanceId": str(uuid.uuid5(uuid.NAMESPACE_URL, instance)),
                "source": "unknown",
            },
        )

    def _base64(self, request: RecordedRequest, instance: str) -> Answer:
        key_id = ((request.json().get("message") or {}).get("key") or {}).get("id")
        if key_id not in self.media:
            return Answer(status=400, json=evolution_error_body(400, "Bad Request", ["Message not found"]))
        content, mime_type, filename = self.media[key_id]
        return Answer(
            status=201,
            json={
                "mediaType": mime_type.split("/")[0] + "Message",
                "fileName": filename,
                "caption": None,
                "size": {"fileLength": str(len(content)), "height": 0, "width": 0},
                "mimetype": mime_type,
                "base64": base64.b64encode(content).decode(),
            },
        )

    def _qrcode(self) -> dict:
        return {
            "pairingCode": None,
            "code": "2@y8n0XbGmQk1pZ3cT5vR7wA9sD2fH4jK6lM8nB0vC1xZ3,Qm9zYQ==,dGVzdA==",
            "base64": "data:image/png;base64," + PNG_1X1_BASE64,
            "count": 1,
        }

    def _create(self, request: RecordedRequest) -> Answer:
        body = request.json()
        name = body.get("instanceName", "")
        if name in self.instances:
            return Answer(
                status=403, json=evolution_error_body(403, "Forbidden", [f'This name "{name}" is already in use.'])
            )
        self.instances[name] = "connecting"
        if body.get("webhook"):
            self.webhooks[name] = body["webhook"]
        return Answer(
            status=201,
            json={
                "instance": {
                    "instanceName": name,
                    "instanceId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                    "integration": body.get("integration", "WHATSAPP-BAILEYS"),
                    "webhookWaBusiness": None,
                    "accessTokenWaBusiness": "",
                    "status": "connecting",
                },
                "hash": f"INSTANCE-TOKEN-{name.upper()}",
                "webhook": body.get("webhook") or {},
                "settings": {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False},
                "qrcode": self._qrcode(),
            },
        )

    def _connect(self, request: RecordedRequest, instance: str) -> Answer:
        if self.instances[instance] == "open":
            return Answer(json={"instance": {"instanceName": instance, "state": "open"}})
        self.instances[instance] = "connecting"
        return Answer(json=self._qrcode())

    def _logout(self, request: RecordedRequest, instance: str) -> Answer:
        self.instances[instance] = "close"
        return Answer(json={"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}})

    def _set_webhook(self, request: RecordedRequest, instance: str) -> Answer:
        self.webhooks[instance] = request.json().get("webhook") or {}
        return Answer(status=201, json={"webhook": {"instanceName": instance, **self.webhooks[instance]}})
