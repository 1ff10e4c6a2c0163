"""The Gradio web chat: ask questions, see each answer inside its article, add and delete articles.

Everything taken from articles or questions is HTML-escaped (and Markdown-neutralised) before display,
so markup inside an article is shown as text and never run.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

import gradio as gr  # at module level: Gradio reads the handlers' `gr.Request` annotations from here

from qa.config import Settings
from qa.conversation.session import NOT_FOUND, Conversation
from qa.errors import Busy, QAError
from qa.feeds.follow import Feeds
from qa.feeds.poller import FeedPoller
from qa.ingest.editor import Change, CorpusEditor
from qa.ingest.files import SUFFIXES
from qa.pipeline import Pipeline, checked_scope, get_pipeline
from qa.rates import RateLimiter
from qa.reading.dates import shown
from qa.records import Answer
from qa.serving.access import Editors, Mode, decide_mode, editor_of, notice
from qa.serving.limits import AskGuard
EXAMPLES = [
    "What do major non-NATO allies receive?",
    "Which country was most recently named a major non-NATO ally?",
    "How much aid has the US given Colombia?",
    "What is the capital of Colombia?",  # shows the honest "not found"
]
# HTML's special characters, and the ones Markdown would interpret, as character references.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
            **{c: f"&#{ord(c)};" for c in "*_`[]#~|\\$"}}


def esc(text: str) -> str:
    """Escape text for the chat bubble so it is shown literally, never run or formatted."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def confidence_words(score: float) -> str:
    return "high" if score >= 0.7 else "medium" if score >= 0.4 else "low"


def confidence_bar(score: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, score)) * width)
    return "█" * filled + "░" * (width - filled)


def _source_line(answer: Answer) -> str:
    parts = [f"<i>{esc(answer.title or answer.article or '')}</i>"]
    parts += [esc(v) for v in (answer.site, answer.date) if v]
    if answer.url and answer.url.lower().startswith(("http://", "https://")):
        parts.append(f'<a href="{html.escape(answer.url, quote=True)}" target="_blank" rel="noopener">link</a>')
    line = "Source: " + " · ".join(parts)
    if answer.other_accounts:  # other articles tell it differently
        line += "<br>Told differently: " + "; ".join(
            f"<i>{esc(a.site or a.title or '')}</i>: {esc(a.text or '')}" for a in answer.other_accounts)
    others = answer.sources[1:]
    if others:  # the same answer in other articles: wire copies, other outlets
        line += "<br>Also in: " + "; ".join(
            f"<i>{esc(s.title)}</i>" + "".join(f" · {esc(v)}" for v in (s.site, s.date) if v)
            + (" (a copy of the same story)" if s.story else "") for s in others)
    return line


def highlighted_context(answer: Answer) -> str:
    """The sentence around the answer with the answer marked."""
    if answer.context is None or answer.start is None or answer.context_start is None:
        return ""
    a = answer.start - answer.context_start
    b = answer.end - answer.context_start
    ctx = answer.context
    return f"{esc(ctx[:a])}<mark>{esc(ctx[a:b])}</mark>{esc(ctx[b:])}"


def _passages_block(answer: Answer, open_: bool = False) -> str:
    if not answer.passages:
        return ""
    items = []
    for hit in answer.passages:
        text = hit.passage.text if len(hit.passage.text) <= 400 else hit.passage.text[:400] + "…"
        items.append(f"<li><i>{esc(hit.passage.title)}</i> (retrieval score {hit.score:.3f})<br>{esc(text)}</li>")
    summary = f"Closest passages ({len(items)})" if open_ else f"Retrieved passages ({len(items)})"
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary><ol>{''.join(items)}</ol></details>"


def understood_line(answer: Answer) -> str:
    """"Understood as: ..." when a follow-up question was rewritten from the conversation, else ""."""
    resolved = answer.resolved_question
    if not resolved or resolved == answer.question:
        return ""
    return f"<p><small>Understood as: <i>{esc(resolved)}</i></small></p>"


FIELD_NAMES = {"author": "byline", "date": "publication date", "site": "outlet", "dateline": "dateline"}


def format_answer(answer: Answer) -> str:
    """HTML for one answer: how the question was understood (if rewritten), bold answer, highlighted
    sentence, source, confidence, collapsed details."""
    understood = understood_line(answer)
    if answer.text is None:
        parts = [understood, f"<p>{NOT_FOUND}</p>"]
        if answer.alternatives:
            weak = ", ".join(f"{esc(a.text or '')} ({a.score:.0%})" for a in answer.alternatives[:3])
            parts.append(f"<p><small>Weak guesses I did not trust: {weak}</small></p>")
        parts.append(_passages_block(answer, open_=True))
        return "\n".join(p for p in parts if p)
    parts = [
        understood,
        f"<p><b>{esc(answer.text)}</b>"
        + (f" ({esc(shown(answer.resolved_date))})" if answer.resolved_date and answer.metadata != "date" else "")
        + (f" <small>(from the article's {FIELD_NAMES[answer.metadata]})</small>" if answer.metadata else "") + "</p>",
        f"<blockquote>{highlighted_context(answer)}</blockquote>",
        f"<p>{_source_line(answer)}</p>",
        f"<p>Confidence: <code>{confidence_bar(answer.score)}</code> {confidence_words(answer.score)} "
        f"({answer.score:.0%})</p>",
    ]
    if answer.alternatives:
        alts = "".join(f"<li><b>{esc(a.text or '')}</b> ({a.score:.0%}) – <i>{esc(a.title or '')}</i></li>"
                       for a in answer.alternatives)
        parts.append(f"<details><summary>Other candidate answers ({len(answer.alternatives)})</summary>"
                     f"<ul>{alts}</ul></details>")
    parts.append(_passages_block(answer))
    return "\n".join(p for p in parts if p)


TABLE_ROWS = 200  # the articles table shows the newest ones; the counts cover all


def articles_table(pipeline: Pipeline) -> str:
    """Markdown-free HTML table of the newest indexed articles, with the archive's size."""
    snap = pipeline.retriever().snapshot
    articles = snap.articles(limit=TABLE_ROWS, by_date=True)
    total, passages = snap.article_count, snap.passage_count
    rows = "".join(
        f"<tr><td>{esc(a.title)}</td><td>{esc(a.date or '')}</td><td>{esc(a.author or '')}</td>"
        f"<td>{esc(a.site or '')}</td><td><code>{esc(a.source)}</code></td><td>{a.passages}</td></tr>"
        for a in articles)
    more = (f"<p><small>The {len(articles)} most recently published of {total} are listed.</small></p>"
            if total > len(articles) else "")
    return (f"<p><b>{total}</b> articles, <b>{passages}</b> passages, newest first</p>"
            f"<table><thead><tr><th>Title</th><th>Published</th><th>By</th><th>Outlet</th><th>Source</th>"
            f"<th>Passages</th></tr></thead><tbody>{rows}</tbody></table>{more}")


def article_choices(pipeline: Pipeline) -> list[tuple[str, str]]:
    """("All articles", "") and (title · outlet · date, id) of the newest published articles."""
    rows = pipeline.retriever().snapshot.articles(limit=TABLE_ROWS, by_date=True)
    return [("All articles", "")] + [(" · ".join(v for v in (a.title, a.site, a.date) if v), a.id) for a in rows]


def article_files(pipeline: Pipeline) -> list[str]:
    return pipeline.retriever().snapshot.sources()


def build_app(pipeline: Pipeline, editor: CorpusEditor, feeds: Feeds, mode: Mode = Mode.LOCAL,
              guard: AskGuard | None = None) -> Any:
    """The chat page (Gradio Blocks) over one pipeline (models and index already loaded by the caller).
    Its editing tabs exist only in local mode; elsewhere editing is on the /admin page (`build_admin_app`)."""
    settings = pipeline.settings
    guard = guard or AskGuard(4, settings.ask_backlog, settings.asks_per_minute)

    def respond(message: str, history: list[dict[str, Any]], context: Conversation | None,
                progress: Any = gr.Progress()):
        """Answer `message` as a follow-up in this topic's conversation."""
        history, context = list(history or []), context or Conversation()
        if not (message or "").strip():
            return history, "", context
        asked = esc(message)
        try:
            progress(0.2, desc="Searching the articles")
            reply = format_answer(context.ask(pipeline, message))
        except QAError as exc:  # a bad question, or an index that cannot answer now (being rebuilt)
            reply = f"<p>⚠️ {esc(str(exc))}</p>"
        history += [{"role": "user", "content": asked}, {"role": "assistant", "content": reply}]
        return history, "", context

    def new_topic(history: list[dict[str, Any]], context: Conversation | None):
        """Forget the turns (not the article asked about): the next question is read as the first."""
        history, context = list(history or []), context or Conversation()
        context.new_topic()
        if history:
            history.append({"role": "assistant", "content": "<p><i>New topic: I'll read the next question "
                                                            "on its own.</i></p>"})
        return history, context

    def about(article: str | None, history: list[dict[str, Any]], context: Conversation | None):
        """Ask about one article from now on (or about all of them again): a new topic."""
        context, history = context or Conversation(), list(history or [])
        context.about(article or None)
        titles = dict((v, k) for k, v in article_choices(pipeline))
        line = (f"Asking about <b>{esc(titles.get(article, article))}</b> only, follow-ups included, until you "
                f"choose All articles." if article else "Asking about all the articles again.")
        history.append({"role": "assistant", "content": f"<p><i>{line}</i></p>"})
        return history, context

    def filtered(since: str, until: str, outlets: str, history: list[dict[str, Any]], context: Conversation | None):
        """Ask only of the articles of these days and outlets from now on (empty: no limit)."""
        context, history = context or Conversation(), list(history or [])
        try:
            checked_scope(since or None, until or None, (outlets or "").split(","), None)
        except QAError as exc:
            history.append({"role": "assistant", "content": f"<p>⚠️ {esc(str(exc))}</p>"})
            return history, context
        context.filter(since.strip(), until.strip(), (outlets or "").split(","))
        parts = [f"from {esc(context.since)}" if context.since else "", f"to {esc(context.until)}" if context.until else "",
                 f"by {esc(', '.join(context.sources))}" if context.sources else ""]
        line = ("Asking only of the articles published " + " ".join(p for p in parts if p)) if any(parts) \
            else "Asking of all the articles again."
        history.append({"role": "assistant", "content": f"<p><i>{line}.</i></p>"})
        return history, context

    def ask(message: str, history: list[dict[str, Any]], context: Conversation | None, request: gr.Request,
            progress: Any = gr.Progress()):
        """`respond`, within the per-client rate and the bounded wait for an answering slot."""
        try:
            with guard.admit(client_address(request)):
                return respond(message, history, context, progress)
        except Busy as busy:
            reply = f"<p>⏳ {esc(str(busy))}</p>"
            return [*(history or []), {"role": "user", "content": esc(message)},
                    {"role": "assistant", "content": reply}], message, context

    with gr.Blocks(title="qa — answers from your news articles") as app:
        gr.Markdown("# qa — ask your news articles\nAnswers are extracted word for word from the articles "
                    "below, with the sentence they come from. Everything runs on this computer.")
        gr.HTML(f"<p>{'✏️' if mode is Mode.LOCAL else '🔒'} {esc(notice(mode))}</p>", elem_id="access")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=560, elem_id="chat")
                context = gr.State(Conversation())  # this topic's answers, for follow-up questions
                with gr.Row():
                    scope = gr.Dropdown(article_choices(pipeline), value="", label="Ask about", elem_id="ask-about",
                                        allow_custom_value=True, scale=3)
                    since = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", elem_id="since", scale=1)
                    until = gr.Textbox(label="to", placeholder="YYYY-MM-DD", elem_id="until", scale=1)
                    outlets = gr.Textbox(label="Outlets", placeholder="CNN, Reuters", elem_id="outlets", scale=1)
                question = gr.Textbox(placeholder="Ask a question about the articles and press Enter",
                                      show_label=False, elem_id="question", autofocus=True, max_lines=3)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    topic = gr.Button("New topic", elem_id="new-topic")
                    gr.ClearButton([chat, question, context, scope], value="Clear conversation")
                gr.Examples(EXAMPLES, inputs=question, label="Try")
            with gr.Column(scale=2):
                gr.Markdown("## Articles")
                table = gr.HTML(articles_table(pipeline), elem_id="articles")
                if mode is Mode.LOCAL:
                    editing_tabs(pipeline, editor, feeds, mode, table)

        # Our guard bounds the questions answered and waiting, so Gradio's own per-event limit is lifted.
        question.submit(ask, [question, chat, context], [chat, question, context], api_name="ask",
                        concurrency_limit=None)
        send.click(ask, [question, chat, context], [chat, question, context], api_visibility="private",
                   concurrency_limit=None)
        topic.click(new_topic, [chat, context], [chat, context], api_visibility="private")
        scope.input(about, [scope, chat, context], [chat, context], api_visibility="private")
        for box in (since, until, outlets):
            box.submit(filtered, [since, until, outlets, chat, context], [chat, context], api_visibility="private")
    return app


def build_admin_app(pipeline: Pipeline, editor: CorpusEditor, feeds: Feeds, mode: Mode) -> Any:
    """The editing page, served at /admin behind the editors' sign-in."""
    with gr.Blocks(title="qa — editing the archive") as app:
        gr.Markdown("# qa — editing the archive\n[Back to the chat](../)")
        signed_in = gr.HTML("", elem_id="signed-in")
        table = gr.HTML(articles_table(pipeline), elem_id="articles")
        editing_tabs(pipeline, editor, feeds, mode, table)

        def whoami(request: gr.Request) -> str:
            return f"<p>Signed in as <b>{esc(request.username or '')}</b> · <a href='logout'>sign out</a></p>"

        app.load(whoami, None, signed_in, api_visibility="private")
    return app


def editing_tabs(pipeline: Pipeline, editor: CorpusEditor, feeds: Feeds, mode: Mode, table: Any) -> None:
    """Upload, paste, delete and trash tabs, inside the Blocks being built. Each handler names the caller
    (an editor, or None: refused by the editor itself, whatever page shows the tabs) and calls one
    CorpusEditor method; the editor checks who may and how much."""
    settings = pipeline.settings
    limit_mb = settings.max_article_bytes / 1_000_000

    def who(request: gr.Request) -> str | None:
        return editor_of(mode, request.username, client_address(request))

    def refreshed(status: str) -> tuple[str, Any, str, Any]:
        return (articles_table(pipeline), gr.update(choices=article_files(pipeline), value=None), status,
                gr.update(choices=trash_choices(editor), value=None))

    def outcome(action: Any, *args: Any) -> tuple[bool, tuple[str, Any, str, Any]]:
        """Run one editor action: (done, the refreshed page with its status line)."""
        try:
            return True, refreshed(render_change(action(*args)))
        except Busy as busy:
            return False, refreshed(f"⏳ {esc(str(busy))}")
        except QAError as exc:
            return False, refreshed(f"⚠️ {esc(str(exc))}")

    def upload(files: list[Any] | None, request: gr.Request, progress: Any = gr.Progress()):
        progress(0.3, desc="Adding and indexing")
        items = [(getattr(f, "orig_name", None) or Path(_path(f)).name, Path(_path(f)).read_bytes())
                 for f in files or []]
        return outcome(editor.add_files, items, who(request))[1]

    def paste(title: str, text: str, url: str, request: gr.Request, progress: Any = gr.Progress()):
        progress(0.3, desc="Adding and indexing")
        done, page = outcome(editor.add_text, title, text, who(request), url)
        return (*page, "", "", "") if done else (*page, title, text, url)

    def delete(name: str | None, confirmed: bool, request: gr.Request, progress: Any = gr.Progress()):
        if who(request) is not None and not name:
            return (*refreshed("Pick an article file to delete."), False)
        if who(request) is not None and not confirmed:
            return (*refreshed(f"Tick “Yes, delete” to confirm deleting {esc(name)}."), False)
        progress(0.3, desc="Moving it to the trash and updating the index")
        return (*outcome(editor.delete, name or "", who(request))[1], False)

    def restore(item: str | None, request: gr.Request, progress: Any = gr.Progress()):
        if who(request) is not None and not item:
            return refreshed("Pick a file in the trash to restore.")
        progress(0.3, desc="Restoring and indexing")
        return outcome(editor.restore, item or "", who(request))[1]

    status = gr.HTML("", elem_id="status")
    with gr.Tab("Upload"):
        files = gr.File(label=f"Articles ({', '.join(sorted(SUFFIXES))}; up to {limit_mb:g} MB each, "
                              f"{settings.upload_files_per_request} at a time)",
                        file_count="multiple", file_types=sorted(SUFFIXES), elem_id="upload")
        add_btn = gr.Button("Add to the corpus", elem_id="add-files")
    with gr.Tab("Paste text"):
        p_title = gr.Textbox(label="Title", elem_id="paste-title")
        p_text = gr.Textbox(label="Article text", lines=8, elem_id="paste-text")
        p_url = gr.Textbox(label="URL (optional)", elem_id="paste-url")
        paste_btn = gr.Button("Add article", elem_id="add-text")
    with gr.Tab("Delete"):
        # Values outside the page's list are allowed: the list may be older than the archive, which checks.
        choice = gr.Dropdown(article_files(pipeline), label="Article file", elem_id="delete-choice",
                             allow_custom_value=True)
        sure = gr.Checkbox(label="Yes, delete it (it moves to the trash and can be restored)", value=False,
                           elem_id="delete-sure")
        del_btn = gr.Button("Delete article", variant="stop", elem_id="delete")
    with gr.Tab("Trash"):
        trashed = gr.Dropdown(trash_choices(editor), label="Deleted or replaced files, newest first",
                              elem_id="trash-choice", allow_custom_value=True)
        restore_btn = gr.Button("Restore", elem_id="restore")
    with gr.Tab("Feeds"):
        feed_table = gr.HTML(feeds_table(feeds), elem_id="feeds")
        feed_url = gr.Textbox(label="Feed URL (RSS or Atom), or a page URL to add once", elem_id="feed-url")
        with gr.Row():
            follow_btn = gr.Button("Follow feed", elem_id="follow")
            unfollow_btn = gr.Button("Stop following", elem_id="unfollow")
            page_btn = gr.Button("Add this page", elem_id="add-page")
            update_btn = gr.Button("Update feeds now", elem_id="update-feeds")

    def feed_action(action: str, url: str, request: gr.Request, progress: Any = gr.Progress()):
        """Follow, stop following, add one page, or update now: one Feeds method each, editors only."""
        name = who(request)
        try:
            if action == "follow":
                line = f"Following {esc(feeds.add(url, name).url)}; it is fetched at the next update."
            elif action == "unfollow":
                line = f"No longer following {esc(feeds.remove(url, name).url)}."
            elif action == "page":
                progress(0.3, desc="Fetching and indexing")
                line = render_change(feeds.add_url(url, name))
            else:
                editor.editor_name(name)
                progress(0.3, desc="Fetching the feeds and indexing")
                line = esc(feeds.update().summary()).replace("\n", "<br>")
        except QAError as exc:
            line = f"⚠️ {esc(str(exc))}"
        return (*refreshed(line), feeds_table(feeds))

    shown = [table, choice, status, trashed]
    def feed_handler(action: str) -> Any:
        def handle(url: str, request: gr.Request, progress: Any = gr.Progress()):
            return feed_action(action, url, request, progress)
        return handle

    for button, action in ((follow_btn, "follow"), (unfollow_btn, "unfollow"), (page_btn, "page"),
                           (update_btn, "update")):
        button.click(feed_handler(action), [feed_url], [*shown, feed_table], api_name=f"feed_{action}")
    add_btn.click(upload, [files], shown, api_name="upload")
    paste_btn.click(paste, [p_title, p_text, p_url], [*shown, p_title, p_text, p_url], api_name="paste")
    del_btn.click(delete, [choice, sure], [*shown, sure], api_name="delete")
    restore_btn.click(restore, [trashed], shown, api_name="restore")


def feeds_table(feeds: Feeds) -> str:
    """The feeds followed and how their last update went (HTML; a feed's words are escaped: untrusted)."""
    try:
        followed = feeds.list()
    except QAError as exc:
        return f"<p>⚠️ {esc(str(exc))}</p>"
    if not followed:
        return "<p>No feeds followed yet.</p>"
    rows = "".join(
        f"<tr><td>{esc(f.title or '')}<br><small>{esc(f.url)}</small></td><td>{esc(f.last_check or 'not yet')}</td>"
        f"<td>{f.new_items}</td><td>{f.items_total}</td>"
        f"<td>{esc(f.last_error or '') or '<br>'.join(esc(e) for e in f.item_errors[-2:])}</td></tr>"
        for f in followed)
    return ("<table><tr><th>Feed</th><th>Last check</th><th>New</th><th>In all</th><th>Problems</th></tr>"
            f"{rows}</table>")


def _path(file: Any) -> str:
    return file if isinstance(file, str) else file.name


def client_address(request: Any) -> str:
    """The caller's IP address as the server sees it (a reverse proxy's, when behind one)."""
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def trash_choices(editor: CorpusEditor) -> list[tuple[str, str]]:
    return [(f"{i.name} — {i.reason} {i.deleted_at:%Y-%m-%d %H:%M} UTC by {i.editor}", i.id) for i in editor.trash()]


def render_change(change: Change) -> str:
    """The status line for one corpus change (HTML, everything from users escaped)."""
    parts = []
    if change.action in ("add", "fetch") and change.files:
        parts.append("Added: " + "; ".join(esc(t) for t in change.titles or change.files) + ".")
    elif change.action == "delete":
        parts.append(f"Moved {esc(change.files[0])} to the trash (restore it from the Trash tab, or with "
                     f"<code>qa restore {esc(change.files[0])}</code>); it is out of the index.")
    elif change.action == "restore":
        parts.append(f"Restored {esc(change.files[0])} from the trash.")
    if change.action != "delete":
        parts += [f"The previous {esc(t.name)} is in the trash." for t in change.trashed]
    if change.index is not None:
        report = change.index
        parts.append(f"{report.passages_embedded} passages embedded in {report.seconds:.1f}s; "
                     f"the index has {report.articles_total} articles.")
    status = [" ".join(parts)] if parts else []
    return "<br>".join(status + [f"⚠️ Not added: {esc(r)}" for r in change.refused])


CSS = """
#chat mark { background: #ffe58a; padding: 0 2px; border-radius: 3px; }
#chat blockquote { border-left: 3px solid #c9c9c9; margin: 6px 0; padding-left: 10px; }
#articles table { width: 100%; font-size: 0.9em; }
"""


def serve(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          concurrency: int = 4, network: bool = False, editors: Editors | None = None,
          pipeline: Pipeline | None = None) -> None:
    """Load models and index once, then serve the chat at / (and, with editors, the editing page at
    /admin). The first log line says who may change the archive. `pipeline`: one built elsewhere (on a
    cluster, see qa.cluster.serving), else the process's own."""
    mode = decide_mode(host, share, network, editors)
    print(f"qa serve: {mode.value} mode. {notice(mode)}", file=sys.stderr, flush=True)
    pipeline = pipeline or get_pipeline(settings)
    pipeline.reader.load()
    pipeline.ensure_index()
    pipeline.watch()  # indexes changes to the corpus folder in the background
    editor = CorpusEditor.from_settings(pipeline.settings, on_change=lambda files: pipeline.build_index(files=files))
    feeds = Feeds.from_settings(pipeline.settings, editor, log=lambda m: print(f"qa serve: {m}", file=sys.stderr))
    FeedPoller(feeds, pipeline.settings.feed_minutes, feeds.log).start()  # follows the feeds by itself
    app = build_server(pipeline, editor, feeds, mode, editors, concurrency)
    run_server(app, host, port, share)


def build_server(pipeline: Pipeline, editor: CorpusEditor, feeds: Feeds, mode: Mode, editors: Editors | None,
                 concurrency: int) -> Any:
    """One FastAPI app: the chat at /, and in editors mode the editing page at /admin behind Gradio's
    sign-in, which guards every route of that page (its API endpoints and file uploads included)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    s = pipeline.settings
    guard = AskGuard(concurrency, s.ask_backlog, s.asks_per_minute)
    server = FastAPI()
    if mode is not Mode.LOCAL:
        @server.middleware("http")
        async def no_anonymous_uploads(request: Request, call_next: Any) -> Any:
            # The chat page has no file inputs outside local mode; Gradio's upload route stays open anyway.
            if request.url.path.rstrip("/") == "/gradio_api/upload":
                return JSONResponse({"error": "uploads need an editor: sign in at /admin"}, status_code=403)
            return await call_next(request)

    if mode is Mode.EDITORS:
        assert editors is not None
        admin = build_admin_app(pipeline, editor, feeds, mode)
        admin.queue(default_concurrency_limit=1)
        gr.mount_gradio_app(server, admin, "/admin", auth=sign_in(editors, s.login_failures_per_minute),
                            auth_message="Editors only: sign in to add, delete or restore articles.",
                            max_file_size=s.max_article_bytes, css=CSS, show_error=True)
    chat = build_app(pipeline, editor, feeds, mode, guard)
    # A safety net for every event; questions are bounded sooner, with a "try again" message, by `guard`.
    chat.queue(default_concurrency_limit=concurrency, max_size=2 * (concurrency + s.ask_backlog))
    gr.mount_gradio_app(server, chat, "/", max_file_size=s.max_article_bytes, css=CSS, show_error=True)
    return server


def sign_in(editors: Editors, failures_per_minute: int) -> Any:
    """Gradio's sign-in check: the password hash is computed off the event loop, and after
    `failures_per_minute` failed attempts (from anyone) sign-ins pause until the minute is over."""
    import asyncio

    failures = RateLimiter(failures_per_minute)

    async def check(name: str, password: str) -> bool:
        if failures.wait("sign-in"):
            return False
        ok = await asyncio.to_thread(editors.verify, name, password)
        if not ok:
            failures.take("sign-in")
        return ok

    return check


def run_server(app: Any, host: str, port: int, share: bool) -> None:
    """Serve until interrupted; with `share`, also open a public Gradio share link once it is up."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    if share:
        threading.Thread(target=_share_link, args=(server, host, port), daemon=True).start()
    print(f"qa serve: open http://{host}:{port}/", file=sys.stderr, flush=True)
    server.run()


def _share_link(server: Any, host: str, port: int) -> None:
    import secrets
    import time

    from gradio import networking

    while not server.started:
        time.sleep(0.1)
    try:
        url = networking.setup_tunnel(host, port, secrets.token_urlsafe(32), None, None)
        print(f"qa serve: public link {url}", file=sys.stderr, flush=True)
    except Exception as exc:  # no internet, or Gradio's share server refused: the local server goes on
        print(f"qa serve: no public link ({exc})", file=sys.stderr, flush=True)
