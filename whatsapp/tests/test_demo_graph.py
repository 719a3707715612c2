"""The demo's fake Graph API answers sends like Meta and reports statuses back, signed."""

import hashlib
import hmac
import json
import queue
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from whatsapp import demo_graph


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 recording (headers, body) of each POST."""
    received = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_graph(receiver, monkeypatch):
    monkeypatch.setattr(demo_graph, "STATUS_STEPS", (("sent", 0.05), ("delivered", 0.1), ("read", 0.15)))
    url, _received = receiver
    server = demo_graph.serve(0, url, "s3cret")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_a_sent_message_gets_a_wamid_then_signed_sent_delivered_read_webhooks(fake_graph, receiver):
    _url, received = receiver
    status, body = _post(
        f"{fake_graph}/v23.0/100000000000001/messages",
        {"messaging_product": "whatsapp", "to": "5511999990000", "type": "text", "text": {"body": "Oi"}},
    )
    assert status == 200
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.DEMO")
    assert body["contacts"] == [{"input": "5511999990000", "wa_id": "5511999990000"}]

    statuses = []
    for _ in range(3):
        headers, raw = received.get(timeout=5)
        expected = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == expected
        value = json.loads(raw)["entry"][0]["changes"][0]["value"]
        assert value["metadata"]["phone_number_id"] == "100000000000001"
        statuses.append((value["statuses"][0]["id"], value["statuses"][0]["status"]))
    assert sorted(statuses, key=lambda s: ["sent", "delivered", "read"].index(s[1])) == [
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
    ]


def test_mark_as_read_answers_like_meta_and_reports_nothing(fake_graph, receiver):
    _url, received = receiver
    assert _post(
        f"{fake_graph}/v23.0/1/messages", {"messaging_product": "whatsapp", "status": "read", "message_id": "x"}
    ) == (200, {"success": True})
    assert received.empty()


def test_uploaded_media_is_downloadable_in_meta_s_two_steps(fake_graph):
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    boundary = "prosa-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{fake_graph}/v23.0/1/media",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        media_id = json.loads(response.read())["id"]
    with urllib.request.urlopen(f"{fake_graph}/v23.0/{media_id}", timeout=5) as response:
        info = json.loads(response.read())
    assert (info["mime_type"], info["file_size"]) == ("image/png", str(len(png)))
    assert info["sha256"] == hashlib.sha256(png).hexdigest()
    with urllib.request.urlopen(info["url"], timeout=5) as response:
        assert response.read() == png
        assert response.headers["Content-Type"] == "image/png"
