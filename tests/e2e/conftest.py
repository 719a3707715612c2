"""Browser tests: Playwright for Python driving Debian's headless Chromium against a real daphne.

daphne serves config.asgi (HTTP and WebSockets) in a subprocess on a free port, on pytest-django's
test database and the test Redis database, with Celery eager (tests/e2e/settings.py). Data the
tests create is committed (`transactional_db`) so that process sees it. Outside services are the
fakes of whatsapp/tests/fakes.py on loopback; the browser never downloads anything.

Select them with `-m e2e`, leave them out with `-m "not e2e"`. Without /usr/bin/chromium they are
skipped on a laptop and fail under CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from tests.asgi_server import daphne_serving, free_port
from whatsapp.providers.cloud import SIGNATURE_HEADER, signature_for
from whatsapp.tests.fakes import FakeEvolutionAPI, FakeGraphAPI

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
# Generous for a 2-core machine shared with other work; a passing run waits far less.
TIMEOUT_MS = 15_000


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end tests in a real browser (Chromium, daphne)")


def _missing_browser(reason: str):
    message = (
        f"{reason}. The browser tests need Debian's Chromium: "
        "apt-get install -y chromium fonts-noto-color-emoji (and `playwright` from requirements-dev.txt)."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(django_db_setup):
    if not CHROMIUM.exists():
        _missing_browser(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("The playwright package is not installed")
    # Playwright's sync API keeps an event loop marked as running in this thread (in another
    # greenlet) while it is started, which Django's async-safety check mistakes for async code
    # around every query this module makes. Nothing here runs concurrently with the ORM.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        from playwright.sync_api import expect

        expect.set_options(timeout=TIMEOUT_MS)
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """The base URL of a daphne serving the whole app (HTTP and /ws/) on the test database."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("e2e-daphne")
    log = workdir / "daphne.log"
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.e2e.settings",
        "MEDIA_ROOT": str(workdir / "media"),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DEBUG": "0",
        "DJANGO_ALLOW_ASYNC_UNSAFE": None,
    }
    with daphne_serving(log=log, env=env, port=port, startup_seconds=60):
        yield Server(url=f"http://127.0.0.1:{port}", log=log)


class Server:
    def __init__(self, *, url: str, log: Path):
        self.url = url
        self.log = log

    def post_webhook(self, connection, body: bytes) -> None:
        """A Cloud API webhook as Meta sends it: the exact bytes, signed with the app secret."""
        response = requests.post(
            f"{self.url}/webhooks/whatsapp/cloud/{connection.webhook_secret}/",
            data=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature_for(body, connection.app_secret),
            },
            timeout=30,
        )
        assert response.status_code == 200, (response.status_code, response.text[:300], self.log_tail())
        self.wait_until_processed(connection)

    def wait_until_processed(self, connection, timeout: float = 20) -> None:
        """The 200 promises the event is stored; a worker (here: the server's own eager Celery,
        after the intake writer's commit) processes it a moment later, as in production."""
        from whatsapp.models import InboundEvent

        deadline = time.monotonic() + timeout
        pending = InboundEvent.all_tenants.filter(connection_id=connection.pk, status=InboundEvent.Status.PENDING)
        while pending.exists():
            assert time.monotonic() < deadline, ("webhook not processed in time", self.log_tail())
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def fake_graph():
    with FakeGraphAPI() as fake:
        yield fake


@pytest.fixture
def fake_evolution():
    with FakeEvolutionAPI() as fake:
        yield fake


@pytest.fixture
def new_page(browser, server):
    """new_page(phone=False) → a page in a fresh browser context (own cookies), closed afterwards."""
    contexts = []

    def _new_page(*, phone: bool = False):
        options = {"locale": "en-US", "timezone_id": "America/Sao_Paulo", "base_url": server.url}
        if phone:
            options.update(
                viewport={"width": 390, "height": 780}, device_scale_factor=1, is_mobile=True, has_touch=True
            )
        else:
            options.update(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    """docs/screenshots/<name>.png, overwritten on each run (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide")


def log_in(page, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
