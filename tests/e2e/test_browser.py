"""End to end in a real headless Chromium: ask the seed question, upload an article, ask about it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import ROOT, SEED_QUESTION

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
NEW_ARTICLE = """Harbour city opens a floating library

The city of Valmora opened a floating library on a converted ferry on Monday. The library is run by
the novelist Teresa Quintela and holds 12,000 books. The ferry sails twice a day and entry is free.
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"),
]


def _ask(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def test_chat_in_a_real_browser(server, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    url, corpus, t0 = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        _ask(page, SEED_QUESTION)
        chat = page.locator("#chat")
        expect(chat).to_contain_text("material and supply loans", timeout=120_000)
        first_answer_s = time.perf_counter() - t0
        expect(chat).to_contain_text("US President Joe Biden will meet with Colombian President")
        expect(chat.locator("mark")).to_contain_text("material and supply loans")
        page.screenshot(path=str(ARTIFACTS / "answer.png"), full_page=True)
        print(f"start to first answer: {first_answer_s:.1f}s")

        # an unanswerable question is answered honestly
        _ask(page, "What is the capital of Colombia?")
        expect(chat).to_contain_text("I couldn't find that in the articles", timeout=60_000)

        # upload a new article through the page, then ask about it
        upload = tmp_path / "valmora-floating-library.txt"
        upload.write_text(NEW_ARTICLE)
        page.locator("#upload input[type=file]").set_input_files(str(upload))
        page.locator("#add-files").click()
        expect(page.locator("#status")).to_contain_text("Added", timeout=120_000)
        expect(page.locator("#articles")).to_contain_text("Harbour city opens a floating library")
        assert (corpus / "valmora-floating-library.txt").exists()
        _ask(page, "Who runs the floating library?")
        expect(chat).to_contain_text("Teresa Quintela", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "after-upload.png"), full_page=True)

        # a refused upload changes nothing
        bad = tmp_path / "photo.txt"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        page.locator("#upload input[type=file]").set_input_files(str(bad))
        page.locator("#add-files").click()
        expect(page.locator("#status")).to_contain_text("Not added", timeout=60_000)
        expect(page.locator("#status")).to_contain_text("binary file")
        assert not (corpus / "photo.txt").exists()
        browser.close()
