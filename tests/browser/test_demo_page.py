"""The demo sign-up page and its drop-in field <kvk-company-field> in headless Chromium: a person finds their
company from the first letters with the keyboard only, in Dutch and in English, and sees errors at the field."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, RunningStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

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
DOCS_SCREENSHOT = ROOT / "docs" / "demo.png"


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


def field(page: Page, label: str) -> Locator:
    """An input of the field, found as a person finds it: by its label (Playwright reads the shadow DOM)."""
    return page.get_by_label(label, exact=True)


def tab_to(page: Page, target: Locator) -> None:
    for _ in range(12):
        if target.evaluate("input => input.getRootNode().activeElement === input"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused()


def pick_by_keyboard(page: Page, search: Locator, option: Locator) -> None:
    """ArrowDown until ``option`` is the active one, then Enter."""
    option_id = option.get_attribute("id")
    assert option_id
    for _ in range(12):
        page.keyboard.press("ArrowDown")
        if search.get_attribute("aria-activedescendant") == option_id:
            break
    expect(search).to_have_attribute("aria-activedescendant", option_id)
    expect(option).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")


@pytest.mark.parametrize(
    ("language", "locale", "typed", "company", "kvk"),
    [
        ("en", "en-US", "acce", "Access Innovations B.V.", None),
        ("nl", "nl-NL", "bakk", None, None),
    ],
)
def test_a_person_finds_and_picks_their_company_with_the_keyboard_only(
    open_page: Callable[..., Page], language: str, locale: str, typed: str, company: str | None, kvk: str | None
) -> None:
    words = texts(language)
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page("/", locale=locale)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_have_text(words["demo.title"])
    search = page.get_by_role("combobox", name=words["label.tradeName"])
    expect(search).to_have_attribute("aria-expanded", "false")
    result = page.locator("kvk-company-field .result")
    expect(result).to_be_hidden()  # no empty box before there is anything to say
    tab_to(page, search)

    page.keyboard.type(typed, delay=90)  # the first letters only: the search completes the word
    listbox = page.get_by_role("listbox")
    options = listbox.get_by_role("option")
    expect(options.first).to_be_visible()
    expect(search).to_have_attribute("aria-expanded", "true")
    status = page.locator("kvk-company-field [role=status]")
    expect(status).to_have_text(words["demo.search.count"].format(count=options.count()))
    wanted = options.filter(has_text=company) if company else options.filter(has_text=re.compile("Bakkerij")).first
    expect(wanted).to_be_visible()
    name = wanted.locator(".option-name").inner_text()
    number = re.search(r"\b[0-9]{8}\b", wanted.locator(".option-meta").inner_text())
    assert number
    page.screenshot(path=str(ARTIFACTS / f"component-search-{language}.png"), full_page=True)

    pick_by_keyboard(page, search, wanted)
    expect(search).to_have_value(name)
    expect(field(page, words["label.kvkNumber"])).to_have_value(number.group(0))
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()
    expect(status).not_to_contain_text(words["demo.search.count"].split(":")[0])  # the count is gone after a pick
    verdict = page.locator("kvk-company-field .verdict")
    expect(verdict).to_have_class(VALID)
    expect(verdict).to_have_text(words["demo.verdict.valid"])
    expect(page.locator("#submit")).to_be_enabled()
    expect(page.locator("#submit")).to_have_text(words["demo.submit"])
    page.screenshot(path=str(ARTIFACTS / f"component-picked-{language}.png"), full_page=True)
    if language == "nl":
        page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)  # the README's picture, from the real page
        assert DOCS_SCREENSHOT.stat().st_size > 10_000


@pytest.mark.parametrize(("language", "locale"), [("nl", "nl-NL"), ("en", "en-GB")])
def test_a_format_error_is_shown_at_its_field_in_the_persons_language(
    open_page: Callable[..., Page], language: str, locale: str
) -> None:
    words = texts(language)
    page = open_page("/", locale=locale)
    kvk = field(page, words["label.kvkNumber"])
    tab_to(page, kvk)
    page.keyboard.type("1234", delay=40)
    error = page.locator("kvk-company-field #" + kvk.get_attribute("id") + "-error")  # type: ignore[operator]
    expected = "Het KVK‑nummer moet precies 8 cijfers hebben, niet 4." if language == "nl" else "The KVK number"
    expect(error).to_contain_text(expected)
    expect(kvk).to_have_attribute("aria-invalid", "true")
    assert error.get_attribute("id") in (kvk.get_attribute("aria-describedby") or "").split()
    assert "kvkNumber" not in error.inner_text()
    expect(page.locator("#submit")).to_be_disabled()

    # A house number without a postcode: the error is at the postcode, in words.
    house = field(page, words["label.houseNumber"])
    postcode = field(page, words["label.postcode"])
    kvk.fill("69599084")
    house.fill("17")
    postcode_error = page.locator("kvk-company-field #" + postcode.get_attribute("id") + "-error")  # type: ignore[operator]
    expect(postcode_error).to_contain_text(words["label.postcode"].lower())
    expect(postcode).to_have_attribute("aria-invalid", "true")
    assert "houseNumber" not in postcode_error.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"component-field-error-{language}.png"), full_page=True)

    postcode.fill("1034 WL")
    expect(postcode).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("kvk-company-field .verdict")).to_have_class(VALID)


def test_the_page_asks_one_name_and_keeps_kvk_nummer_on_one_line(open_page: Callable[..., Page]) -> None:
    nl = texts("nl")
    page = open_page("/?lang=nl", locale="nl-NL")
    expect(page.get_by_role("combobox", name=nl["label.tradeName"])).to_be_visible()
    assert page.get_by_label("Handelsnaam").count() == 0  # one company-name field, not two
    label = page.locator("kvk-company-field label", has_text=re.compile("^KVK-nummer$"))
    expect(label).to_be_visible()
    assert label.evaluate("label => getComputedStyle(label).whiteSpace") == "nowrap"
    page.set_viewport_size({"width": 320, "height": 800})
    box = label.bounding_box()
    assert box is not None and box["height"] < 30  # one line, even on a narrow phone
    intro = page.locator("p.lead")
    assert "KVK‑nummer" in intro.inner_text()  # a non-breaking hyphen in the page's own sentences too


def test_the_page_speaks_dutch_and_switches_to_english(open_page: Callable[..., Page]) -> None:
    nl, en = texts("nl"), texts("en")
    page = open_page("/", locale="nl-NL")
    expect(page.locator("h1")).to_have_text(nl["demo.title"])
    field(page, nl["label.kvkNumber"]).fill("12345678")
    verdict = page.locator("kvk-company-field .verdict")
    expect(verdict).to_have_class(INVALID)
    error = page.locator("kvk-company-field .error", has_text="niet ingeschreven bij KVK")
    expect(error).to_be_visible()  # a reason about the number, at the number

    page.get_by_role("link", name=nl["demo.language"]).click()
    expect(page.locator("h1")).to_have_text(en["demo.title"])
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert "lang=en" in page.url
    expect(page.locator("kvk-company-field .error", has_text="not registered with KVK")).to_be_visible()


def test_escape_and_tab_leave_the_list_without_picking(open_page: Callable[..., Page]) -> None:
    en = texts("en")
    page = open_page("/?lang=en")
    search = page.get_by_role("combobox", name=en["label.tradeName"])
    tab_to(page, search)
    page.keyboard.type("bakkerij", delay=60)
    listbox = page.get_by_role("listbox")
    expect(listbox.get_by_role("option").first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(search).to_have_value("bakkerij")
    page.keyboard.press("Escape")
    expect(search).to_have_value("")
    page.keyboard.type("bakkerij", delay=60)
    expect(search).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(field(page, en["label.kvkNumber"])).to_be_focused()
    expect(field(page, en["label.kvkNumber"])).to_have_value("")
