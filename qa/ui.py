"""The Gradio web chat: ask questions, see each answer inside its article, add and delete articles.

Everything taken from articles or questions is HTML-escaped (and Markdown-neutralised) before display,
so markup inside an article is shown as text and never run.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.conversation import MAX_TURNS
from qa.corpus import SUFFIXES, ArticleError, add_file, add_text, delete_file
from qa.pipeline import Pipeline, QuestionError, get_pipeline
from qa.types import Answer

NOT_FOUND = "I couldn't find that in the articles."
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
    if answer.date:
        parts.append(esc(answer.date))
    if answer.url and answer.url.lower().startswith(("http://", "https://")):
        parts.append(f'<a href="{html.escape(answer.url, quote=True)}" target="_blank" rel="noopener">link</a>')
    return "Source: " + " · ".join(parts)


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
        f"<p><b>{esc(answer.text)}</b></p>",
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
    articles = snap.articles(limit=TABLE_ROWS)
    total, passages = snap.article_count, snap.passage_count
    rows = "".join(
        f"<tr><td>{esc(a.title)}</td><td><code>{esc(a.source)}</code></td><td>{a.passages}</td></tr>"
        for a in articles)
    more = f"<p><small>The {len(articles)} newest of {total} are listed.</small></p>" if total > len(articles) else ""
    return (f"<p><b>{total}</b> articles, <b>{passages}</b> passages</p>"
            f"<table><thead><tr><th>Title</th><th>Source</th><th>Passages</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{more}")


def article_files(pipeline: Pipeline) -> list[str]:
    return pipeline.retriever().snapshot.sources()


def build_app(pipeline: Pipeline) -> Any:
    """The Gradio Blocks app over one pipeline (models and index already loaded by the caller)."""
    import gradio as gr

    settings = pipeline.settings
    limit_mb = settings.max_article_bytes / 1_000_000

    def respond(message: str, history: list[dict[str, Any]], context: list[Answer] | None,
                progress: Any = gr.Progress()):
        """Answer `message` as a follow-up to `context` (this topic's earlier answers)."""
        history, context = list(history or []), list(context or [])
        if not (message or "").strip():
            return history, "", context
        shown = esc(message)
        try:
            progress(0.2, desc="Searching the articles")
            answer = pipeline.ask(message, history=context)
            reply = format_answer(answer)
            context = (context + [answer])[-MAX_TURNS:]
        except QuestionError as exc:
            reply = f"<p>⚠️ {esc(str(exc))}</p>"
        history += [{"role": "user", "content": shown}, {"role": "assistant", "content": reply}]
        return history, "", context

    def new_topic(history: list[dict[str, Any]]):
        """Forget the context: the next question is read as the first of a conversation."""
        history = list(history or [])
        if history:
            history.append({"role": "assistant", "content": "<p><i>New topic: I'll read the next question "
                                                            "on its own.</i></p>"})
        return history, []

    def refreshed(status: str) -> tuple[str, Any, str]:
        return articles_table(pipeline), gr.update(choices=article_files(pipeline), value=None), status

    def reindex(progress: Any) -> str:
        progress(0.5, desc="Embedding the new article and updating the index")
        report = pipeline.build_index()
        return (f"{report.passages_embedded} passages embedded in {report.seconds:.1f}s; "
                f"the index has {report.articles_total} articles.")

    def upload(files: list[Any] | None, progress: Any = gr.Progress()):
        if not files:
            return refreshed("Choose one or more files first.")
        added, refused = [], []
        for f in files:
            path = Path(f if isinstance(f, str) else f.name)
            name = getattr(f, "orig_name", None) or path.name
            try:
                size = path.stat().st_size
                if size > settings.max_article_bytes:
                    raise ArticleError(f"refused {name!r}: {size:,} bytes is over the "
                                       f"{settings.max_article_bytes:,}-byte limit")
                articles = add_file(settings.corpus_dir, name, path.read_bytes(), settings.max_article_bytes)
                added += [a.title for a in articles]
            except ArticleError as exc:
                refused.append(str(exc))
        status = []
        if added:
            status.append("Added: " + "; ".join(esc(t) for t in added) + ". " + reindex(progress))
        status += [f"⚠️ Not added: {esc(r)}" for r in refused]
        return refreshed("<br>".join(status))

    def paste(title: str, text: str, url: str, progress: Any = gr.Progress()):
        try:
            articles = add_text(settings.corpus_dir, title, text, url=url.strip() or None,
                                max_bytes=settings.max_article_bytes)
        except ArticleError as exc:
            return (*refreshed(f"⚠️ {esc(str(exc))}"), title, text, url)
        return (*refreshed(f"Added: {esc(articles[0].title)}. " + reindex(progress)), "", "", "")

    def delete(name: str | None, confirmed: bool, progress: Any = gr.Progress()):
        if not name:
            return (*refreshed("Pick an article file to delete."), False)
        if not confirmed:
            return (*refreshed(f"Tick “Yes, delete” to confirm deleting {esc(name)}."), False)
        try:
            delete_file(settings.corpus_dir, name)
        except ArticleError as exc:
            return (*refreshed(f"⚠️ {esc(str(exc))}"), False)
        progress(0.5, desc="Removing it from the index")
        pipeline.build_index()
        return (*refreshed(f"Deleted {esc(name)} from the corpus and the index."), False)

    with gr.Blocks(title="qa — answers from your news articles") as app:
        gr.Markdown("# qa — ask your news articles\nAnswers are extracted word for word from the articles "
                    "below, with the sentence they come from. Everything runs on this computer.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=560, elem_id="chat")
                context = gr.State([])  # this topic's answers, for follow-up questions
                question = gr.Textbox(placeholder="Ask a question about the articles and press Enter",
                                      show_label=False, elem_id="question", autofocus=True, max_lines=3)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    topic = gr.Button("New topic", elem_id="new-topic")
                    gr.ClearButton([chat, question, context], value="Clear conversation")
                gr.Examples(EXAMPLES, inputs=question, label="Try")
            with gr.Column(scale=2):
                gr.Markdown("## Articles")
                table = gr.HTML(articles_table(pipeline), elem_id="articles")
                status = gr.HTML("", elem_id="status")
                with gr.Tab("Upload"):
                    files = gr.File(label=f"Articles ({', '.join(sorted(SUFFIXES))}; up to {limit_mb:g} MB each)",
                                    file_count="multiple", file_types=sorted(SUFFIXES), elem_id="upload")
                    add_btn = gr.Button("Add to the corpus", elem_id="add-files")
                with gr.Tab("Paste text"):
                    p_title = gr.Textbox(label="Title", elem_id="paste-title")
                    p_text = gr.Textbox(label="Article text", lines=8, elem_id="paste-text")
                    p_url = gr.Textbox(label="URL (optional)", elem_id="paste-url")
                    paste_btn = gr.Button("Add article", elem_id="add-text")
                with gr.Tab("Delete"):
                    choice = gr.Dropdown(article_files(pipeline), label="Article file", elem_id="delete-choice")
                    sure = gr.Checkbox(label="Yes, delete it from the corpus and the index", value=False)
                    del_btn = gr.Button("Delete article", variant="stop", elem_id="delete")

        question.submit(respond, [question, chat, context], [chat, question, context], api_name="ask")
        send.click(respond, [question, chat, context], [chat, question, context], api_visibility="private")
        topic.click(new_topic, [chat], [chat, context], api_visibility="private")
        add_btn.click(upload, [files], [table, choice, status])
        paste_btn.click(paste, [p_title, p_text, p_url], [table, choice, status, p_title, p_text, p_url])
        del_btn.click(delete, [choice, sure], [table, choice, status, sure])
    return app


CSS = """
#chat mark { background: #ffe58a; padding: 0 2px; border-radius: 3px; }
#chat blockquote { border-left: 3px solid #c9c9c9; margin: 6px 0; padding-left: 10px; }
#articles table { width: 100%; font-size: 0.9em; }
"""


def serve(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          concurrency: int = 4) -> None:
    """Load models and index once, then serve the chat (Gradio queue, `concurrency` answers at a time)."""
    pipeline = get_pipeline(settings)
    pipeline.reader.load()
    pipeline.retriever()
    pipeline.watch()  # indexes changes to the corpus folder in the background
    app = build_app(pipeline)
    app.queue(default_concurrency_limit=concurrency)
    app.launch(server_name=host, server_port=port, share=share, css=CSS, show_error=True)
