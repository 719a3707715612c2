"""A stand-in for Meta's Graph API, for the demo of `make run` (never for production).

It accepts what Prosa sends to a Cloud API number — messages, media uploads, "mark as read" —
answers like Meta does, and then reports each message's fate the way Meta would: signed status
webhooks `sent`, `delivered`, `read` posted back to Prosa a moment later. So a newcomer sees
replies "go out" and their ticks turn blue without a WhatsApp account.

    python -m whatsapp.demo_graph --port 8790 --webhook-url URL --app-secret SECRET

Standard library only: it runs as its own small process beside the web server.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Demo-only credentials shared by the demo connection (tenants/demo.py) and this fake.
DEMO_APP_SECRET = "demo-app-secret"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"
STATUS_STEPS = (("sent", 0.5), ("delivered", 1.5), ("read", 3.0))
MESSAGES_PATH = re.compile(r"^/v[\d.]+/(?P<phone_number_id>[^/]+)/messages$")
MEDIA_PATH = re.compile(r"^/v[\d.]+/(?P<phone_number_id>[^/]+)/media$")
MEDIA_INFO_PATH = re.compile(r"^/v[\d.]+/(?P<media_id>demo-media-[0-9a-f]+)$")
MEDIA_BYTES_PATH = re.compile(r"^/media-bytes/(?P<media_id>demo-media-[0-9a-f]+)$")
MAX_STORED_MEDIA = 200  # uploads kept in memory for the demo, oldest dropped first


def signed_post(url: str, app_secret: str, payload: dict) -> None:
    # Compact, ASCII-escaped JSON like Meta's; the signature covers these exact bytes.
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError as exc:  # the demo keeps going if Prosa is restarting
        print(f"[demo-graph] status webhook failed: {exc}", flush=True)


def status_payload(phone_number_id: str, wamid: str, recipient: str, status: str) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "demo-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "5511900000000", "phone_number_id": phone_number_id},
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": str(int(time.time())),
                                    "recipient_id": recipient,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def uploaded_file(content_type: str, body: bytes) -> tuple[bytes, str]:
    """The file part of a multipart upload: (bytes, mime type)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_filename():
            return part.get_payload(decode=True) or b"", part.get_content_type()
    return b"", "application/octet-stream"


def make_handler(webhook_url: str, app_secret: str):
    media: dict[str, tuple[bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # quiet: the launcher's console is busy enough
            pass

        def do_GET(self):
            info, raw = MEDIA_INFO_PATH.match(self.path), MEDIA_BYTES_PATH.match(self.path)
            if info and info.group("media_id") in media:  # step 1 of a media download: where it is
                content, mime = media[info.group("media_id")]
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                self._json(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "id": info.group("media_id"),
                        "url": f"{host}/media-bytes/{info.group('media_id')}",
                        "mime_type": mime,
                        "sha256": hashlib.sha256(content).hexdigest(),
                        "file_size": str(len(content)),
                    },
                )
            elif raw and raw.group("media_id") in media:  # step 2: the bytes
                content, mime = media[raw.group("media_id")]
                self.send_response(200)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            elif info or raw:
                self._json(404, {"error": {"message": "Unknown media", "code": 100}})
            else:
                self._json(
                    200, {"id": "demo", "verified_name": "Prosa Demo", "display_phone_number": "+55 11 90000-0000"}
                )

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if MEDIA_PATH.match(self.path):
                media_id = f"demo-media-{secrets.token_hex(6)}"
                media[media_id] = uploaded_file(self.headers.get("Content-Type", ""), raw)
                while len(media) > MAX_STORED_MEDIA:
                    media.pop(next(iter(media)))
                self._json(200, {"id": media_id})
                return
            match = MESSAGES_PATH.match(self.path)
            if not match:
                self._json(404, {"error": {"message": "Unknown path", "code": 100}})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "Invalid JSON", "code": 100}})
                return
            if body.get("status") == "read":  # mark as read
                self._json(200, {"success": True})
                return
            recipient = str(body.get("to", "")).lstrip("+")
            wamid = f"wamid.DEMO{secrets.token_hex(12).upper()}"
            self._json(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body.get("to", ""), "wa_id": recipient}],
                    "messages": [{"id": wamid, "message_status": "accepted"}],
                },
            )
            phone_number_id = match.group("phone_number_id")
            for status, delay in STATUS_STEPS:
                payload = status_payload(phone_number_id, wamid, recipient, status)
                threading.Timer(delay, signed_post, args=(webhook_url, app_secret, payload)).start()

    return Handler


def serve(port: int, webhook_url: str, app_secret: str) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), make_handler(webhook_url, app_secret))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--app-secret", required=True)
    args = parser.parse_args()
    server = serve(args.port, args.webhook_url, args.app_secret)
    print(f"[demo-graph] fake Graph API on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
