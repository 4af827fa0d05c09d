"""The console in a real browser (Debian's chromium driven by Playwright) at
1280×800, one lab and one browser session for every step, a screenshot of
each step in tests/screenshots/ (git-ignored): the meters are listed; a
gurux client's reading appears live; a field of its tree highlights its
bytes; a meter taken offline from its page refuses connections; an LLS
password changed from the page refuses the old one and accepts the new."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.objects import GXDLMSClock
from playwright.sync_api import Browser, Page, expect, sync_playwright

from interop_support import Lab, MeterSession, stop_lab
from test_console import Console, start

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Console]]:
    lab, port = start(tmp_path_factory.mktemp("console-browser"))
    try:
        yield lab, Console(lab, port)
    finally:
        stop_lab(lab)


@pytest.fixture(scope="module")
def page(lab: tuple[Lab, Console]) -> Iterator[Page]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is needed for the console test (apt-get install chromium)")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(10_000)
        yield page
        browser.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_1_meters_are_listed(page: Page, lab: tuple[Lab, Console]) -> None:
    _, console = lab
    page.goto(console.base + "/")
    expect(page.locator("tr.meter")).to_have_count(2)
    expect(page.locator("tr.meter").first).to_contain_text("online")
    expect(page.locator("#status")).to_have_text("live")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert page.locator("link[rel=icon]").get_attribute("href").startswith("/static/favicon.svg")
    shot(page, "1-meters")


def test_2_a_reading_appears_live_and_its_bytes_are_explained(page: Page, lab: tuple[Lab, Console]) -> None:
    meters, _ = lab
    rows = page.locator("tr.packet", has_text="get-request-normal")
    before = rows.count()
    with MeterSession(meters.ports[0], 32, "ABCD0001") as session:
        read = time.monotonic()
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    expect(rows).to_have_count(before + 1, timeout=5_000)
    assert time.monotonic() - read < 1.0
    shot(page, "2-live")
    rows.first.click()
    tree = page.locator("#tree")
    # a collapsed branch opens when its field is chosen
    tree.locator(".field", has=page.locator(".name", has_text="cosem-attribute-descriptor")).first.click()
    field = tree.locator(".field", has=page.locator(".name", has_text="instance-id")).first
    field.click()
    marked = page.locator("#hex .byte.mark")
    expect(marked).to_have_count(6)
    assert "".join(marked.all_inner_texts()) == "0000010000FF"
    # and the reverse: a byte selects the smallest field that holds it
    page.locator('#hex .byte[data-side="request"][data-index="1"]').click()
    expect(tree.locator(".field.selected .name")).to_have_text("version")
    # the keyboard moves through the packets
    page.locator("#packet-rows").focus()
    page.keyboard.press("Home")
    expect(page.locator("tr.packet").first).to_have_class("packet selected")
    page.keyboard.press("ArrowDown")
    expect(page.locator("tr.packet").nth(1)).to_have_attribute("aria-selected", "true")
    shot(page, "3-exchange")


def test_3_a_meter_taken_offline_from_its_page_refuses(page: Page, lab: tuple[Lab, Console]) -> None:
    meters, console = lab
    page.goto(console.base + "/meters/abt-1")
    expect(page.locator("#registers tr").first).to_be_visible()
    page.select_option("#state-field", "offline")
    page.click("#settings button[type=submit]")
    expect(page.locator("#state")).to_have_text("offline")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", meters.ports[1]), timeout=2).close()
    page.locator("#days-field").fill("40")
    page.click("#settings button[type=submit]")
    expect(page.locator("#settings .field-error")).to_contain_text("load_profile_days")
    shot(page, "4-offline")
    page.locator("#days-field").fill("1")
    page.select_option("#state-field", "online")
    page.click("#settings button[type=submit]")
    expect(page.locator("#state")).to_have_text("online")


def test_4_an_lls_password_changed_from_the_page(page: Page, lab: tuple[Lab, Console]) -> None:
    meters, _ = lab
    field = page.locator("#reader-lls_password")
    expect(field).to_have_value("ABCD0001")
    field.fill("NEWPASS9")
    page.locator('form[data-association="reader"] button[type=submit]').click()
    expect(page.locator('form[data-association="reader"] .ok')).to_contain_text("saved")
    with pytest.raises(GXDLMSException):
        MeterSession(meters.ports[1], 32, "ABCD0001").associate()
    with MeterSession(meters.ports[1], 32, "NEWPASS9") as session:
        session.read(GXDLMSClock("0.0.1.0.0.255"), 2)
    shot(page, "5-password")


def test_5_a_campaign_started_from_the_console_shows_its_kpis(page: Page, lab: tuple[Lab, Console]) -> None:
    _, console = lab
    page.goto(console.base + "/campaigns")
    page.locator("#plan-meters").fill("abt")
    page.select_option("#plan-association", "public")
    page.locator("#plan-attributes").fill("0.0.1.0.0.255:2, 1.0.32.7.0.255:2")
    page.locator("#plan-concurrency").fill("2")
    page.locator("#plan-repetitions").fill("5")
    page.click("#plan button[type=submit]")
    expect(page.locator("#campaign-state")).to_contain_text("done", timeout=20_000)
    expect(page.locator('[data-kpi="attempts"] b')).to_have_text("10 of 10")
    expect(page.locator('[data-kpi="failure rate"] b')).to_have_text("0.00 %")
    assert page.locator('#chart polyline[data-series="p50"]').count() == 1
    expect(page.locator("#history tr")).to_have_count(1)
    page.locator("#plan-concurrency").fill("0")
    page.click("#plan button[type=submit]")
    expect(page.locator("#plan .field-error")).to_contain_text("concurrency")
    shot(page, "6-campaign")


def test_6_a_scenario_uploaded_runs_pauses_and_resets_from_its_page(page: Page, lab: tuple[Lab, Console]) -> None:
    _, console = lab
    page.goto(console.base + "/scenario")
    expect(page.locator("#scenario-state")).to_have_text("no scenario loaded: upload one")
    expect(page.locator("#scenario-start")).to_be_disabled()
    page.locator("#scenario-text").fill("[[step]]\nat = 'soon'\nmeters = 'abt'\naction = 'offline'\n")
    page.click("#upload button[type=submit]")
    expect(page.locator("#upload-result")).to_have_text(
        "uploaded scenario step 1 (1-offline) at: expected a duration such as 90s, 10m or 1m30s, got 'soon'")
    page.locator("#scenario-text").fill(
        "seed = 5\n\n[[step]]\nname = 'drift'\nat = '0s'\nmeters = 'abt:0'\naction = 'clock-jump'\nseconds = 60\n\n"
        "[[step]]\nname = 'blackout'\nat = '1h'\nmeters = 'abt:50%'\naction = 'offline'\nduration = '3m'\n")
    page.click("#upload button[type=submit]")
    expect(page.locator("#upload-result")).to_have_text("loaded: 2 steps")
    steps = page.locator("#steps tr.step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("drift")
    expect(steps.nth(1).locator("td").nth(5)).to_have_text("1")
    expect(steps.nth(0).locator(".status")).to_have_text("next")
    page.click("#scenario-start")
    expect(page.locator("#scenario-state")).to_contain_text("running")
    expect(steps.nth(0).locator(".status")).to_have_text("ran")
    expect(steps.nth(1).locator(".status")).to_have_text("next")
    expect(steps.nth(1)).to_contain_text("offline for 3 min")
    page.click("#scenario-pause")
    expect(page.locator("#scenario-state")).to_contain_text("paused")
    expect(page.locator("#scenario-pause")).to_be_disabled()
    shot(page, "7-scenario")
    page.click("#scenario-reset")
    expect(page.locator("#scenario-state")).to_contain_text("idle")
    expect(steps.nth(0).locator(".status")).to_have_text("next")
