"""The console page in a real browser (Debian's chromium driven by
Playwright): the meters are listed, packets appear live as a gurux client
talks to a meter, and clicking one shows its byte-by-byte description."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from gurux_dlms.objects import GXDLMSClock
from playwright.sync_api import Browser, sync_playwright

from interop_support import MeterSession, stop_lab
from test_console import Console, start

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is needed for the console test (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_packets_appear_live_and_are_described(browser: Browser, tmp_path: Path) -> None:
    lab, port = start(tmp_path)
    try:
        console = Console(lab, port)
        page = browser.new_page()
        page.goto(console.base + "/")
        assert page.locator("tr.meter").count() == 2
        page.wait_for_function("document.getElementById('status').textContent === 'live'", timeout=10_000)
        with MeterSession(lab.ports[0], 32, "ABCD0001") as session:
            session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        row = page.locator("tr.packet", has_text="get-request-normal").first
        row.wait_for(timeout=10_000)
        row.click()
        tree = page.locator("#request-tree")
        tree.get_by_text("Clock").first.wait_for(timeout=5_000)
        assert "0-0:1.0.0*255" in tree.inner_text() or "0.0.1.0.0.255" in tree.inner_text()
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
    finally:
        stop_lab(lab)
