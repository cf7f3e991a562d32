"""Fixtures for the console's browser tests (compat/test_console*.py).

Import them into a test module: ``from console_fixtures import browser, console_factory, shot``.

- ``console_factory(settings=None)``: a gregor broker with the admin HTTP endpoint on a free
  port (``.url`` is the console's base URL, ``.bootstrap`` the Kafka address); stopped at teardown.
- ``browser``: Debian's Chromium (/usr/bin/chromium) driven by Playwright from PyPI, headless, with
  the flags that keep it off the network; never ``playwright install``.
- ``new_page(browser, credentials=None)``: a page (HTTP Basic credentials: ``(user, password)``)
  whose JavaScript dialogs are recorded in ``page.dialogs`` and dismissed, and whose
  console errors are in ``page.js_errors``.
- ``shot(page, name)``: a screenshot in target/console-screenshots/<name>.png (test artifacts).
"""

import os
from pathlib import Path

import pytest

from conftest import EXTERNAL, ROOT, SERVER_KIND, free_port, new_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "target" / "console-screenshots"


@pytest.fixture
def console_factory(tmp_path_factory, request):
    if EXTERNAL or SERVER_KIND != "gregor":
        pytest.skip("the console is Gregor's own: needs a gregor process")
    servers = []
    request.node._gregor_servers = servers

    def make(settings=None):
        admin = free_port()
        all_settings = {"gregor.admin.listener": f"127.0.0.1:{admin}"}
        all_settings.update(settings or {})
        server = new_server(tmp_path_factory.mktemp("gregor"), all_settings)
        server.admin_port = admin
        server.url = f"http://127.0.0.1:{admin}"
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: scripts/compat-deps.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_page(browser, credentials=None):
    options = {"viewport": {"width": 1360, "height": 900}}
    if credentials:
        options["http_credentials"] = {"username": credentials[0], "password": credentials[1]}
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.dialogs = []
    page.js_errors = []

    def on_dialog(dialog):
        page.dialogs.append((dialog.type, dialog.message))
        # hx-confirm asks with confirm(): accept it, a script's alert() is only recorded.
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: page.js_errors.append(str(e)))
    return page


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
