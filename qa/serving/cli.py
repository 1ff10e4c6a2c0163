"""The `qa` command: index, ask, show, chat, serve, feed, add, restore, trash, eval, eval-reader, train-reader, tune-reader.
Each command parses its options, calls one method and prints the result; errors qa raises on purpose
(QAError) are printed in one line with exit status 2."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from qa.config import Settings

    return Settings.load(corpus_dir=getattr(args, "corpus", None), index_dir=getattr(args, "index", None),
                         reader_model=getattr(args, "reader", None), top_k=getattr(args, "top_k", None),
                         index_shards=getattr(args, "shards", None), index_vectors=getattr(args, "vectors", None))


def _positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return value


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.ray:
        from qa.cluster.index_workers import cluster_pipeline

        pipe = cluster_pipeline(settings, args.ray, args.replicas, log=_log)
    else:
        from qa.pipeline import Pipeline

        pipe = Pipeline(settings, log=_log)
    report = pipe.build_index(rebuild=args.rebuild, files=args.files or None, compact=args.compact)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.pipeline import Pipeline

    answer = Pipeline(_settings(args), log=_log).ask(args.question, since=args.since, until=args.until,
                                                     sources=args.source, article=args.article)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    _print_answer(answer)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from qa.pipeline import Pipeline

    row, text = Pipeline(_settings(args), log=_log).article(args.article)
    meta = {"id": row.id, "title": row.title, "source": row.source, "url": row.url, "date": row.date,
            **{k: getattr(row, k) for k in row.EXTRA}, "passages": row.passages}
    if args.json:
        print(json.dumps({**meta, "text": text}, indent=2, ensure_ascii=False))
        return 0
    for key, value in meta.items():
        if value:
            print(f"{key:>9}: {value}")
    print()
    print(text)
    return 0


NEW_TOPIC = ("/new", "/new-topic")
QUIT = ("/quit", "/exit")


def cmd_chat(args: argparse.Namespace) -> int:
    """A conversation in the terminal: follow-up questions are read in the light of the earlier ones."""
    from qa.conversation.session import Conversation
    from qa.errors import QuestionError
    from qa.pipeline import Pipeline

    pipeline = Pipeline(_settings(args), log=_log)
    conversation = Conversation()
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Ask about the articles. {NEW_TOPIC[0]} starts a new topic, {QUIT[0]} (or Ctrl-D) ends.")
    while True:
        try:
            line = input("> " if interactive else "").strip()
        except EOFError:
            return 0
        if line in QUIT:
            return 0
        if line in NEW_TOPIC:
            conversation.new_topic()
            print("(new topic)")
            continue
        if not line:
            continue
        try:
            answer = conversation.ask(pipeline, line)
        except QuestionError as exc:
            print(f"qa: {exc}")
            continue
        if answer.resolved_question != answer.question:
            print(f"  (understood as: {answer.resolved_question})")
        _print_answer(answer)


def _print_answer(answer: Any) -> None:
    from qa.conversation.session import NOT_FOUND

    if answer.text is None:
        print(NOT_FOUND)
        for alt in answer.alternatives[:3]:
            print(f"  (weak candidate: {alt.text!r}, {alt.score:.2f}, from {alt.title})")
    else:
        from qa.reading.dates import shown

        dated = answer.resolved_date and answer.metadata != "date"
        print(answer.text + (f" ({shown(answer.resolved_date)})" if dated else "")
              + (f"  [the article's {answer.metadata}]" if answer.metadata else ""))
        print(f"  confidence {answer.score:.2f} - {answer.title} [{answer.article} {answer.start}:{answer.end}]")
        print(f"  \"{answer.context}\"")
        for source in answer.sources[1:]:
            print(f"  also in: {source.title} [{source.article}]" + "".join(f", {v}" for v in (source.site, source.date) if v))
        for alt in answer.alternatives[:3]:
            print(f"  or: {alt.text} ({alt.score:.2f}, {alt.article})")


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.errors import UsageError
    from qa.serving.access import load_editors
    from qa.serving.web import serve

    if args.search_shards and not args.ray:
        raise UsageError("--shards goes with --ray ADDRESS (the shards run on the cluster)")
    editors = load_editors(args.admin_password, args.admin_password_file)
    settings = _settings(args)
    pipeline = None
    if args.ray:
        from qa.cluster.serving import deploy
        from qa.pipeline import Pipeline

        served = deploy(settings, args.ray, http_host=args.host, http_port=args.ray_port,
                        max_readers=args.max_readers, shards=args.search_shards or 0, log=_log)
        pipeline = Pipeline(settings, log=_log, **served.parts())
    try:
        serve(settings, host=args.host, port=args.port, share=args.share, concurrency=args.concurrency,
              network=args.network, editors=editors, pipeline=pipeline)
    finally:
        if args.ray:
            from qa.cluster.serving import undeploy

            undeploy()  # the /ask endpoint and the readers go with the chat
    return 0


def _cli_editor() -> str:
    import getpass

    return f"{getpass.getuser()}@cli"


def cmd_restore(args: argparse.Namespace) -> int:
    from qa.ingest.editor import CorpusEditor
    from qa.pipeline import Pipeline

    settings = _settings(args)
    pipeline = Pipeline(settings, log=_log)
    change = CorpusEditor.from_settings(settings, on_change=lambda files: pipeline.build_index(files=files)).restore(
        args.name, _cli_editor())
    print(f"restored {change.files[0]} into {settings.corpus_dir}")
    for item in change.trashed:
        print(f"the file it replaced is in the trash as {item.id}")
    print(change.index.summary())
    return 0


def _feeds(settings: Any, index: bool = True) -> Any:
    """The feeds of the corpus folder, saving through an editor that indexes what it saves."""
    from qa.feeds.follow import Feeds
    from qa.ingest.editor import CorpusEditor
    from qa.pipeline import Pipeline

    on_change = (lambda files: Pipeline(settings, log=_log).build_index(files=files)) if index else None
    return Feeds.from_settings(settings, CorpusEditor.from_settings(settings, on_change=on_change), log=_log)


def cmd_feed(args: argparse.Namespace) -> int:
    from qa.errors import UsageError

    if args.action in ("add", "remove") and not args.location:
        raise UsageError(f"qa feed {args.action} needs the feed's URL or file")
    settings = _settings(args)
    feeds = _feeds(settings, index=args.action == "update")
    if args.action == "add":
        status = feeds.add(args.location, _cli_editor())
        print(f"following {status.url}; `qa feed update` fetches it")
    elif args.action == "remove":
        status = feeds.remove(args.location, _cli_editor())
        print(f"no longer following {status.url} (its {status.items_total} article(s) stay in the corpus)")
    elif args.action == "list":
        followed = feeds.list()
        for f in followed:
            state = f.last_error or (f"{f.new_items} new at the last update" if f.last_check else "not updated yet")
            print(f"{f.url}\n  {f.title or '(title unknown)'}; last check {f.last_check or '-'}; {state}; "
                  f"{f.items_total} article(s) in all")
            for error in f.item_errors:
                print(f"  item: {error}")
        print(f"{len(followed)} feed(s) followed for {settings.corpus_dir}")
    else:
        print(feeds.update().summary())
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    change = _feeds(settings).add_url(args.url, _cli_editor(), allow_private=True)  # the user's own choice
    print(f"saved {change.files[0]} ({change.titles[0]}) into {settings.corpus_dir}")
    print(change.index.summary())
    return 0


def cmd_trash(args: argparse.Namespace) -> int:
    from qa.errors import UsageError
    from qa.ingest.editor import CorpusEditor

    editor = CorpusEditor.from_settings(_settings(args))
    if args.purge:
        change = editor.purge(_cli_editor(), older_than_days=args.older_than)
        print(f"purged {len(change.files)} file(s) from {editor.trash_dir}")
        return 0
    if args.older_than is not None:
        raise UsageError("--older-than goes with --purge")
    items = editor.trash()
    for item in items:
        print(f"{item.id}  {item.name}  {item.reason} {item.deleted_at:%Y-%m-%d %H:%M} UTC by {item.editor}")
    print(f"{len(items)} file(s) in {editor.trash_dir}; bring one back with `qa restore NAME-or-ID`",
          file=sys.stderr)
    return 0


def cmd_eval_reader(args: argparse.Namespace) -> int:
    from qa.reading.reader import Reader
    from qa.training.evaluate import evaluate_reader

    reader = Reader.from_settings(_settings(args))
    report = evaluate_reader(reader, Path(args.file), limit=args.limit, negatives=not args.no_negatives,
                             seed=args.seed)
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.training.evaluate import evaluate_file

    report = evaluate_file(Path(args.file), _settings(args), top_k=args.top_k, limit=args.limit, seed=args.seed,
                           progress=True if sys.stderr.isatty() else None, log=_log)
    result = report.to_dict()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for key in ["file", "top_k"] + [k for k in result if k not in ("file", "top_k", "misses")]:
        print(f"{key:>22}: {result[key]}")
    print(f"worst misses ({min(args.misses, len(report.misses))} of {len(report.misses)}):")
    for m in report.misses[: args.misses]:
        print(f"  F1 {m.f1:5.1f}  {m.question!r}: got {m.predicted!r} ({m.score:.2f}), expected {m.gold}")
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa.training.train import TrainConfig, train

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    train(TrainConfig(**overrides), log=_log)
    return 0


def cmd_tune_reader(args: argparse.Namespace) -> int:
    from qa.errors import UsageError
    from qa.training.tune import tune_reader

    if args.null_threshold is None and not args.calibrate:
        raise UsageError("give --null-threshold T, --calibrate, or both")
    settings = _settings(args)
    recorded = tune_reader(settings, null_threshold=args.null_threshold, why=args.why, calibrate=args.calibrate,
                           limit=args.limit, data=Path(args.data), log=_log)
    print(json.dumps(recorded, indent=2))
    print(f"recorded in {Path(settings.reader_model) / 'qa_reader.json'}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    from qa.config import VECTOR_STORAGE
    from qa.training.train import TrainConfig

    p = argparse.ArgumentParser(prog="qa", description="Extractive question answering over news articles.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--corpus", help="articles folder (default: corpus/ or $QA_CORPUS_DIR)")
        sp.add_argument("--index", help="index folder (default: index/ or $QA_INDEX_DIR)")
        sp.add_argument("--reader", help="reader model: folder or Hugging Face name (default: bundled)")

    sp = sub.add_parser("index", help="build or update the index from the corpus folder")
    sp.add_argument("files", nargs="*", help="update only these files of the corpus folder (default: all)")
    common(sp)
    sp.add_argument("--rebuild", action="store_true", help="re-embed everything instead of only what changed")
    sp.add_argument("--compact", action="store_true",
                    help="merge all vector segments into one, dropping deleted vectors")
    sp.add_argument("--json", action="store_true", help="print the build report as JSON")
    sp.add_argument("--shards", type=_positive, metavar="N",
                    help="keep the base segment in N parts from now on (searched apart by `qa serve --ray --shards N`); "
                         "recorded in the index")
    sp.add_argument("--vectors", choices=list(VECTOR_STORAGE),
                    help="how the base segment stores its vectors once it is IVF (above 50,000 passages): float32, or "
                         "sq8 (a quarter of the memory, about the same recall); recorded in the index")
    sp.add_argument("--ray", metavar="ADDRESS",
                    help="embed on a Ray cluster (e.g. 127.0.0.1:6379, or auto); needs pip install 'qa[cluster]'")
    sp.add_argument("--replicas", type=int, help="embedder replicas on the cluster (default: one per GPU, else per CPU)")
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("ask", help="answer a question from the articles")
    sp.add_argument("question")
    common(sp)
    sp.add_argument("--top-k", type=int, help="passages to read (default 5)")
    sp.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after this day")
    sp.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before this day")
    sp.add_argument("--source", action="append", metavar="OUTLET",
                    help="only articles of this outlet (by name or web address; repeat for several)")
    sp.add_argument("--article", metavar="ID", help="ask about this one article (its id, as `qa show` takes)")
    sp.add_argument("--json", action="store_true", help="print the full answer as JSON")
    sp.set_defaults(func=cmd_ask)

    sp = sub.add_parser("show", help="an indexed article: its metadata and its text")
    sp.add_argument("article", help="the article's id: its file's path in the corpus without extension")
    common(sp)
    sp.add_argument("--json", action="store_true", help="print it as JSON")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("chat", help="a conversation in the terminal: follow-up questions understood "
                                     f"({NEW_TOPIC[0]} starts a new topic, {QUIT[0]} ends)")
    common(sp)
    sp.add_argument("--top-k", type=int, help="passages to read (default 5)")
    sp.set_defaults(func=cmd_chat)

    sp = sub.add_parser("serve", help="start the web chat")
    common(sp)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=7860)
    sp.add_argument("--share", action="store_true", help="ask Gradio for a public link (needs internet)")
    sp.add_argument("--concurrency", type=int, default=4, help="questions answered at the same time")
    sp.add_argument("--network", action="store_true",
                    help="others reach this server although it listens on loopback (a reverse proxy or tunnel "
                         "on this computer): read-only unless an editor password is set")
    sp.add_argument("--admin-password", help="editor password for /admin (visible to other users of this "
                                             "computer in the process list: prefer $QA_ADMIN_PASSWORD or a file)")
    sp.add_argument("--admin-password-file", help="file with the editor password, or lines name:password")
    sp.add_argument("--ray", metavar="ADDRESS", help="read answers on a Ray cluster with Ray Serve (reader replicas "
                                                      "scaled by load) and serve POST /ask there too; needs "
                                                      "pip install 'qa[cluster]'")
    sp.add_argument("--ray-port", type=int, default=8000, help="with --ray: the port of Ray Serve's /ask")
    sp.add_argument("--max-readers", type=int, help="with --ray: reader replicas at most (default: the cluster's "
                                                    "GPUs, else its CPUs)")
    sp.add_argument("--shards", dest="search_shards", type=_positive, metavar="N",
                    help="with --ray: split the vector search over N shards, each holding its part of the vectors "
                         "in memory on any node (index with `qa index --shards N` so that each holds one part "
                         "of the base)")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("restore", help="bring a deleted or replaced article file back from the trash, and index it")
    sp.add_argument("name", help="file name (its newest version in the trash) or trash item id (see `qa trash`)")
    common(sp)
    sp.set_defaults(func=cmd_restore)

    sp = sub.add_parser("feed", help="follow news feeds (RSS, Atom): add, list, remove, or update them (fetch "
                                     "their new items' pages into the corpus and index them)")
    sp.add_argument("action", choices=["add", "list", "remove", "update"])
    sp.add_argument("location", nargs="?", help="with add/remove: the feed's URL, or a feed file on this computer")
    common(sp)
    sp.set_defaults(func=cmd_feed)

    sp = sub.add_parser("add", help="fetch one web page into the corpus (read as a saved page), and index it")
    sp.add_argument("url")
    common(sp)
    sp.set_defaults(func=cmd_add)

    sp = sub.add_parser("trash", help="list the trash (deleted and replaced article files), or empty it")
    common(sp)
    sp.add_argument("--purge", action="store_true", help="delete the files in the trash for good")
    sp.add_argument("--older-than", type=float, metavar="DAYS", help="with --purge: only those trashed over DAYS ago")
    sp.set_defaults(func=cmd_trash)

    sp = sub.add_parser("eval", help="score answers to a question file (JSONL against the index, or SQuAD open-domain)")
    sp.add_argument("file", help='SQuAD .json/.json.gz (its articles are indexed in a temporary folder) or '
                                 'JSONL lines {"question", "answers": [...], "answerable": bool} (asked against the index)')
    common(sp)
    sp.add_argument("--top-k", type=int, help="passages to read (default 5)")
    sp.add_argument("--limit", type=int, help="evaluate a random sample of this many questions")
    sp.add_argument("--seed", type=int, default=0, help="seed of that sample")
    sp.add_argument("--misses", type=int, default=15, help="worst misses to print")
    sp.add_argument("--json", metavar="OUT", help="also write the full report as JSON to this file")
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("eval-reader", help="gold-paragraph EM/F1 of the reader on a SQuAD-format file")
    sp.add_argument("file")
    sp.add_argument("--reader", help="reader model folder or name")
    sp.add_argument("--limit", type=int, help="questions to use (default all)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-negatives", action="store_true", help="skip the synthetic unanswerable pairs")
    sp.set_defaults(func=cmd_eval_reader)

    sp = sub.add_parser("train-reader", help="train the extractive reader (resumes from its checkpoint)")
    for f in fields(TrainConfig):
        sp.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None,
                        help=f"default {f.default}")
    sp.set_defaults(func=cmd_train_reader)

    sp = sub.add_parser("tune-reader", help="record a null threshold and/or a refitted score calibration in the "
                                            "reader's qa_reader.json")
    sp.add_argument("--reader", help="reader model folder (default: bundled)")
    sp.add_argument("--null-threshold", type=float, metavar="T",
                    help="the margin over the null score an answer needs (choose it with bench/null_sweep.py)")
    sp.add_argument("--why", default="", help="with --null-threshold: the figures it was chosen on")
    sp.add_argument("--calibrate", action="store_true",
                    help="refit the score's calibration on best-of-5 answers on the tuning split (~10 min)")
    sp.add_argument("--limit", type=_positive, default=500, help="with --calibrate: answerable and unanswerable "
                                                                 "questions each (default 500)")
    sp.add_argument("--data", default="../shared/data/qa/train.json.gz",
                    help="with --calibrate: the SQuAD-format file holding the tuning split")
    sp.set_defaults(func=cmd_tune_reader)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from qa.errors import QAError

    try:
        return int(args.func(args) or 0)
    except QAError as exc:  # anything else is a bug: its traceback is shown
        print(f"qa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
