"""Serving beyond one laptop, over real HTTP against the real app: readers may only ask, editors sign in
at /admin, deletions go to the trash, and the limits answer "busy" while others are still served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SEED_QUESTION, running_app

pytestmark = pytest.mark.slow

EDITOR, PASSWORD = "alice", "correct-horse-battery"
OTHER_ARTICLE = "us-gives-colombia-major-non-nato-ally-status.txt"
LIBRARY = ("valmora-library.txt",
           b"Harbour city opens a floating library\n\nThe city of Valmora opened a floating library on a "
           b"converted ferry on Monday. The library is run by the novelist Teresa Quintela.\n")
LIBRARY_QUESTION = "Who runs the floating library?"
# The open chat page's backend functions: each is called below with arguments aimed at the archive and
# must change nothing. A new one fails the test until it is added here after that check. Besides asking
# and the examples: forgetting the conversation (New topic; "lambda" is the Clear button's state reset),
# and choosing the article to ask about ("about") or the days and outlets ("filtered", one per box).
READER_ENDPOINTS = {"ask", "ask_1", "load_example", "new_topic", "lambda", "about", "filtered", "filtered_1",
                    "filtered_2"}


@pytest.fixture(scope="module")
def editors_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("editors")
    (folder / "editors.txt").write_text(f"{EDITOR}:{PASSWORD}\n")
    env = {"QA_ADMIN_PASSWORD_FILE": str(folder / "editors.txt"), "QA_ASKS_PER_MINUTE": "4",
           "QA_ASK_BACKLOG": "1", "QA_UPLOAD_FILES_PER_REQUEST": "2"}
    with running_app(folder, "--network", "--concurrency", "1", env=env) as (url, corpus, _):
        yield url, corpus, folder


@pytest.fixture(scope="module")
def readonly_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readonly")
    with running_app(folder, "--network") as (url, corpus, _):
        yield url, corpus, folder


# --- real HTTP, as any client could send it ----------------------------------------------------------

def _client(url: str, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client whose requests come from `source` (any 127.x.y.z address reaches a loopback server)."""
    return httpx.Client(base_url=url, timeout=180, transport=httpx.HTTPTransport(local_address=source))


def _sign_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    return client.post("admin/login", data={"username": EDITOR, "password": password})


def _call(client: httpx.Client, prefix: str, api_name: str, data: list[Any]) -> list[Any]:
    """Call a named endpoint (POST, then read its event stream); return its outputs."""
    r = client.post(f"{prefix}gradio_api/call/{api_name}", json={"data": data})
    r.raise_for_status()
    stream = client.get(f"{prefix}gradio_api/call/{api_name}/{r.json()['event_id']}").text
    event, payload = None, None
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            payload = line.split(":", 1)[1].strip()
    assert event == "complete", f"{api_name}: {event} {payload}"
    return json.loads(payload)


def _join(client: httpx.Client, prefix: str, fn_index: int, data: list[Any]) -> httpx.Response:
    """Run any backend function by its index, as the page itself does (private ones included); wait
    for it to finish when the queue accepts it."""
    session = f"test-{fn_index}-{time.monotonic_ns()}"
    r = client.post(f"{prefix}gradio_api/queue/join", json={"fn_index": fn_index, "data": data,
                                                            "session_hash": session})
    if r.status_code == 200:
        with client.stream("GET", f"{prefix}gradio_api/queue/data", params={"session_hash": session}) as s:
            for line in s.iter_lines():
                if '"process_completed"' in line:
                    break
    return r


def _ask(url: str, question: str, source: str) -> str:
    with _client(url, source) as c:
        history = _call(c, "", "ask", [question, []])[0]
    content = history[-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def _upload(client: httpx.Client, *files: tuple[str, bytes]) -> list[Any]:
    r = client.post("admin/gradio_api/upload", files=[("files", f) for f in files])
    r.raise_for_status()
    data = [{"path": p, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
            for p, (name, _) in zip(r.json(), files)]
    return _call(client, "admin/", "upload", [data])


def _backend_functions(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in config["dependencies"] if d.get("backend_fn")]


def _arguments(config: dict[str, Any], dep: dict[str, Any], file: dict[str, Any] | None) -> list[Any]:
    """Arguments aimed at the archive for each input: a corpus file name for text, "yes" for checkboxes,
    an uploaded article for file inputs."""
    types = {c["id"]: c["type"] for c in config["components"]}
    by_type = {"textbox": OTHER_ARTICLE, "dropdown": OTHER_ARTICLE, "checkbox": True, "chatbot": [],
               "dataset": 0, "file": [file] if file else None}
    return [by_type.get(types[i]) for i in dep["inputs"]]


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under the folder, hidden ones and the trash included, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _open_endpoints_change_nothing(url: str, corpus: Path) -> None:
    before = _files(corpus)
    with _client(url, "127.0.0.9") as anon:
        config = anon.get("config").json()
        functions = _backend_functions(config)
        assert {d["api_name"] for d in functions} <= READER_ENDPOINTS, "new endpoint on the open page"
        assert anon.post("gradio_api/upload", files=[("files", LIBRARY)]).status_code == 403
        for dep in functions:
            assert _join(anon, "", dep["id"], _arguments(config, dep, None)).status_code in (200, 422)
    assert _files(corpus) == before


# --- readers and editors -------------------------------------------------------------------------------

def test_every_editing_endpoint_refuses_callers_without_sign_in(editors_server):
    url, corpus, folder = editors_server
    assert "editors mode" in (folder / "server.log").read_text().splitlines()[0]
    before = _files(corpus)
    with _client(url) as editor, _client(url) as anon:
        signed_in = _sign_in(editor)
        config = editor.get("admin/config").json()  # the editing page's own list of functions
        functions = _backend_functions(config)
        assert {"upload", "paste", "delete", "restore"} <= {d["api_name"] for d in functions}
        staged = editor.post("admin/gradio_api/upload", files=[("files", LIBRARY)]).json()[0]
        file = {"path": staged, "orig_name": LIBRARY[0], "meta": {"_type": "gradio.FileData"}}

        for dep in functions:
            args = _arguments(config, dep, file)
            assert _join(anon, "admin/", dep["id"], args).status_code == 401, dep["api_name"]
            assert anon.post(f"admin/gradio_api/call/{dep['api_name']}", json={"data": args}).status_code == 401
            assert anon.post(f"admin/gradio_api/run/{dep['api_name']}", json={"data": args}).status_code == 401
        assert anon.get("admin/config").status_code == 401
        assert anon.post("admin/gradio_api/upload", files=[("files", LIBRARY)]).status_code == 401
        assert signed_in.status_code == 200
        assert _sign_in(anon, "wrong-password").status_code == 400
        anon.cookies.set(next(iter(editor.cookies)), "forged-token")
        assert anon.get("admin/config").status_code == 401
    assert _files(corpus) == before
    _open_endpoints_change_nothing(url, corpus)


def test_read_only_server_has_no_editing_at_all(readonly_server):
    url, corpus, folder = readonly_server
    first_line = (folder / "server.log").read_text().splitlines()[0]
    assert "read-only mode" in first_line and "no editor password is set" in first_line
    with _client(url) as anon:
        assert anon.get("admin/config").status_code == 404
        config = anon.get("config").json()
    notice = next(c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "access")
    assert "Read-only" in notice and "no editor password is set" in notice
    _open_endpoints_change_nothing(url, corpus)


def test_editors_change_the_archive_and_nothing_is_deleted_for_good(editors_server):
    url, corpus, folder = editors_server
    name, content = LIBRARY
    with _client(url) as editor:
        assert _sign_in(editor).status_code == 200
        status = _upload(editor, LIBRARY)[2]
        assert "Added: Harbour city opens a floating library" in status
        assert (corpus / name).read_bytes() == content
        assert "Teresa Quintela" in _ask(url, LIBRARY_QUESTION, "127.0.0.2")

        # a replacing upload keeps the old version in the trash
        status = _upload(editor, (name, content.replace(b"Monday", b"Tuesday")))[2]
        assert f"The previous {name} is in the trash" in status
        # delete: the file goes to the trash, with who and when, and out of the answers
        outputs = _call(editor, "admin/", "delete", [name, True])
        assert "to the trash" in outputs[2] and not (corpus / name).exists()
        trashed = sorted((corpus / ".trash").glob(f"*/{name}"))
        assert len(trashed) == 2
        info = json.loads((trashed[-1].parent / "info.json").read_text())
        assert info["editor"] == f"{EDITOR}@127.0.0.1" and info["reason"] == "deleted"
        assert "Teresa Quintela" not in _ask(url, LIBRARY_QUESTION, "127.0.0.2")

        # restore on the editing page: answerable again
        [newest_id] = [value for label, value in outputs[3]["choices"] if "deleted" in label]
        assert "Restored" in _call(editor, "admin/", "restore", [newest_id])[2]
        assert b"Tuesday" in (corpus / name).read_bytes()
        assert "Teresa Quintela" in _ask(url, LIBRARY_QUESTION, "127.0.0.2")

        # pasted text, and the per-request upload limit
        assert "Added: A pasted note" in _call(editor, "admin/", "paste",
                                               ["A pasted note", "The note says the ferry is blue.", ""])[2]
        assert (corpus / "a-pasted-note.txt").exists()
        status = _upload(editor, ("x1.txt", b"X one\n\nText."), ("x2.txt", b"X two\n\nMore."),
                         ("x3.txt", b"X three\n\nMore."))[2]
        assert "3 files in one upload; the limit is 2" in status and not (corpus / "x1.txt").exists()

        # delete again; the command line restores it (and re-indexes) and purges the trash
        _call(editor, "admin/", "delete", [name, True])
    out = _qa("restore", name, "--corpus", str(corpus), "--index", str(folder / "index"))
    assert out.returncode == 0, out.stderr
    assert (corpus / name).exists() and "Teresa Quintela" in _ask(url, LIBRARY_QUESTION, "127.0.0.3")
    out = _qa("trash", "--purge", "--corpus", str(corpus), "--index", str(folder / "index"))
    assert out.returncode == 0 and "purged 1 file(s)" in out.stdout, out.stderr  # the first version
    assert not list((corpus / ".trash").glob(f"*/{name}"))

    audit = [json.loads(line) for line in (folder / "index" / "audit.jsonl").read_text().splitlines()]
    assert [(r["action"], r["file"]) for r in audit][:4] == [("add", name), ("replace", name),
                                                            ("delete", name), ("restore", name)]
    assert {r["editor"] for r in audit[:4]} == {f"{EDITOR}@127.0.0.1"}
    assert audit[-1]["action"] == "purge" and audit[-1]["editor"].endswith("@cli")


def _qa(*args: str) -> subprocess.CompletedProcess:
    """The `qa` command of this checkout."""
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)


# --- abuse limits --------------------------------------------------------------------------------------

def test_rate_limit_answers_busy_and_other_clients_are_still_served(editors_server):
    url, _, _ = editors_server
    for _ in range(4):  # QA_ASKS_PER_MINUTE=4
        assert "material and supply loans" in _ask(url, SEED_QUESTION, "127.0.0.20")
    refused = _ask(url, SEED_QUESTION, "127.0.0.20")
    assert "Busy: you have asked 4 questions in the last minute; try again in" in refused
    t0 = time.perf_counter()
    assert "material and supply loans" in _ask(url, SEED_QUESTION, "127.0.0.21")
    assert time.perf_counter() - t0 < 30


def test_bounded_wait_turns_away_extra_questions_at_once(editors_server):
    url, _, _ = editors_server
    replies: list[str] = []
    threads = [threading.Thread(target=lambda i=i: replies.append(_ask(url, SEED_QUESTION, f"127.0.0.{30 + i}")))
               for i in range(6)]  # --concurrency 1 and QA_ASK_BACKLOG=1: two are served, the rest are not
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    busy = [r for r in replies if "being answered or waiting; try again in" in r]
    assert len(replies) == 6 and len(busy) >= 3
    assert sum("material and supply loans" in r for r in replies) == 6 - len(busy)
    assert "material and supply loans" in _ask(url, SEED_QUESTION, "127.0.0.40")


# --- in a real browser ------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)")
def test_pages_in_a_real_browser(readonly_server, editors_server, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(readonly_server[0])
        expect(page.locator("#access")).to_contain_text("Read-only")
        expect(page.locator("#access")).to_contain_text("no editor password is set")
        expect(page.locator("#chat")).to_be_visible()
        for control in ("#upload", "#add-files", "#add-text", "#delete", "#restore"):
            expect(page.locator(control)).to_have_count(0)

        url, corpus, _ = editors_server
        page.goto(url + "admin/")
        page.get_by_label("username").fill(EDITOR)
        page.get_by_label("password").fill(PASSWORD)
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {EDITOR}", timeout=60_000)
        upload = tmp_path / "browser-upload.txt"
        upload.write_text("Browser upload\n\nThe lighthouse keeper of Valmora is called Ines Prado.\n")
        page.locator("#upload input[type=file]").set_input_files(str(upload))
        page.locator("#add-files").click()
        expect(page.locator("#status")).to_contain_text("Added: Browser upload", timeout=120_000)
        assert (corpus / upload.name).exists()
        page.get_by_role("tab", name="Delete").click()
        page.locator("#delete-choice input").fill(upload.name)
        page.keyboard.press("Enter")
        page.locator("#delete-sure input").check()
        page.locator("#delete").click()
        expect(page.locator("#status")).to_contain_text("to the trash", timeout=120_000)
        assert not (corpus / upload.name).exists() and list((corpus / ".trash").glob(f"*/{upload.name}"))
        browser.close()
