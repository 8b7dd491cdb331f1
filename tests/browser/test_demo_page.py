"""The demo sign-up page in headless Chromium: the check as you type, the company search, Dutch and English."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, RunningStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ARTIFACTS = ROOT / "test-artifacts"
TEXTS = ROOT / "layers" / "kvkgate" / "kvkgate" / "texts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a sandboxed root CI machine without network needs (see the env notes of this project).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Every wait is on a condition; this is only how long a slow machine gets before the test fails.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
VALID = re.compile(r"\bvalid\b")  # the class "valid", not "invalid"
INVALID = re.compile(r"\binvalid\b")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("KVKGATE_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (make browser installs it)")
        pytest.skip("chromium is not installed: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Browser, local_stack: RunningStack) -> Iterator[Callable[..., Page]]:
    """A fresh browser profile per page, in the given browser locale (English unless told)."""
    contexts: list[BrowserContext] = []

    def open_page(path: str = "/", locale: str = "en-US") -> Page:
        context = browser.new_context(locale=locale, viewport={"width": 900, "height": 820})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(local_stack.url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def texts(language: str) -> dict[str, str]:
    """The page's texts, from the file the page loads them from."""
    catalogue: dict[str, str] = json.loads((TEXTS / f"{language}.json").read_text(encoding="utf-8"))
    return catalogue


def test_a_person_signs_up_in_the_demo_page(open_page: Callable[..., Page]) -> None:
    en = texts("en")
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page()
    page.fill("#kvkNumber", "6959 9084")
    page.fill("#tradeName", "Test EMZ Dagobert")
    verdict = page.locator("#verdict")
    expect(verdict).to_have_class(VALID)
    assert verdict.inner_text() == en["demo.verdict.valid"]
    assert "Test EMZ Dagobert" in page.locator("#details").inner_text()
    assert page.locator("#submit").is_enabled()
    page.screenshot(path=str(ARTIFACTS / "demo-valid.png"), full_page=True)

    page.fill("#tradeName", "")
    page.fill("#kvkNumber", "12345678")
    expect(verdict).to_have_class(INVALID)
    assert verdict.inner_text() == en["demo.verdict.invalid"]
    assert "not registered with the Chamber of Commerce" in page.locator("#details").inner_text()
    assert page.locator("#submit").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "demo-not-registered.png"), full_page=True)
    assert Path(ARTIFACTS / "demo-valid.png").stat().st_size > 10_000


def test_a_person_finds_their_company_with_the_keyboard_only(open_page: Callable[..., Page]) -> None:
    en = texts("en")
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page()
    expect(page.locator("h1")).to_have_text(en["demo.title"])
    search = page.get_by_role("combobox", name=en["demo.search.label"])
    expect(search).to_have_attribute("aria-expanded", "false")
    for _ in range(10):
        if search.evaluate("box => box === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(search).to_be_focused()

    page.keyboard.type("test emz", delay=60)
    listbox = page.get_by_role("listbox")
    dagobert = listbox.get_by_role("option", name=re.compile(r"^Test EMZ Dagobert\b"))
    expect(dagobert).to_be_visible()
    expect(dagobert).to_contain_text(en["demo.kind.main branch"])
    expect(dagobert).to_contain_text("Amsterdam")
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#companySearch-status")).to_have_text(
        en["demo.search.count"].format(count=listbox.get_by_role("option").count())
    )
    dagobert_id = dagobert.get_attribute("id")
    assert dagobert_id
    for _ in range(listbox.get_by_role("option").count()):
        page.keyboard.press("ArrowDown")
        if search.get_attribute("aria-activedescendant") == dagobert_id:
            break
    expect(search).to_have_attribute("aria-activedescendant", dagobert_id)
    expect(dagobert).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(ARTIFACTS / "demo-search.png"), full_page=True)

    page.keyboard.press("Enter")
    expect(page.locator("#kvkNumber")).to_have_value("69599084")
    expect(page.locator("#tradeName")).to_have_value("Test EMZ Dagobert")
    expect(search).to_have_attribute("aria-expanded", "false")
    assert search.get_attribute("aria-activedescendant") is None
    expect(listbox).to_be_hidden()
    verdict = page.locator("#verdict")
    expect(verdict).to_have_class(VALID)
    expect(verdict).to_have_text(en["demo.verdict.valid"])

    # Escape closes an open list and keeps the text; a second Escape clears it. Nothing is picked.
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("bakkerij", delay=60)
    expect(listbox.get_by_role("option").first).to_be_visible()
    expect(search).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()
    expect(search).to_have_value("bakkerij")
    page.keyboard.press("Escape")
    expect(search).to_have_value("")
    expect(page.locator("#kvkNumber")).to_have_value("69599084")

    # Tab leaves the search without picking the active option.
    page.keyboard.type("bakkerij", delay=60)
    expect(search).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#kvkNumber")).to_be_focused()
    expect(page.locator("#kvkNumber")).to_have_value("69599084")
    expect(page.locator("#tradeName")).to_have_value("Test EMZ Dagobert")


def test_lang_nl_in_the_address_gives_the_dutch_page(open_page: Callable[..., Page]) -> None:
    nl = texts("nl")
    page = open_page("/?lang=nl")
    expect(page.locator("h1")).to_have_text(nl["demo.title"])
    expect(page).to_have_title(nl["demo.title"])
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_label(nl["demo.kvk.label"], exact=True)).to_be_visible()

    page.fill("#kvkNumber", "12345678")
    verdict = page.locator("#verdict")
    expect(verdict).to_have_class(INVALID)
    expect(verdict).to_have_text(nl["demo.verdict.invalid"])
    expect(page.locator("#details")).to_contain_text("niet ingeschreven")


def test_a_dutch_browser_gets_the_dutch_page_and_can_switch(open_page: Callable[..., Page]) -> None:
    nl, en = texts("nl"), texts("en")
    page = open_page("/", locale="nl-NL")
    expect(page.locator("h1")).to_have_text(nl["demo.title"])
    expect(page.locator("html")).to_have_attribute("lang", "nl")

    page.get_by_role("combobox").fill("bakkerij")
    expect(page.get_by_role("option").first).to_contain_text(nl["demo.kind.main branch"])

    page.get_by_role("link", name=nl["demo.language"]).click()
    expect(page.locator("h1")).to_have_text(en["demo.title"])
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert "lang=en" in page.url
