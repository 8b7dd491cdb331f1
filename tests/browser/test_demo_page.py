"""The demo sign-up page in headless Chromium: a valid company, then an unregistered number."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, RunningStack

ARTIFACTS = ROOT / "test-artifacts"
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("KVKGATE_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (make browser installs it)")
        pytest.skip("chromium is not installed: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def test_a_person_signs_up_in_the_demo_page(browser: Any, local_stack: RunningStack) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 900, "height": 820})
    page.goto(local_stack.url + "/")
    page.fill("#kvkNumber", "6959 9084")
    page.fill("#tradeName", "Test EMZ Dagobert")
    verdict = page.locator("#verdict")
    verdict.filter(has_text="valid").wait_for(timeout=15_000)
    page.wait_for_function("document.getElementById('verdict').className.includes('valid')", timeout=15_000)
    assert verdict.inner_text() == "valid"
    assert "Test EMZ Dagobert" in page.locator("#details").inner_text()
    assert page.locator("#submit").is_enabled()
    page.screenshot(path=str(ARTIFACTS / "demo-valid.png"), full_page=True)

    page.fill("#tradeName", "")
    page.fill("#kvkNumber", "12345678")
    page.wait_for_function("document.getElementById('verdict').className.includes('invalid')", timeout=15_000)
    assert verdict.inner_text() == "not valid"
    assert "not registered with the Chamber of Commerce" in page.locator("#details").inner_text()
    assert page.locator("#submit").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "demo-not-registered.png"), full_page=True)
    page.close()
    assert Path(ARTIFACTS / "demo-valid.png").stat().st_size > 10_000
