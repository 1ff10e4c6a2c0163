"""qa beside a Haystack 2.x peer on the same weights and questions: F1, EM, "no answer" share, latency.

    python bench/peer.py [--data FILE] [--limit 300] [--reader-docs 5 10] [--peer-precision fp32 int8]
                         [--block 10] [--rows OUT.json]

Questions: the answerable questions of a SQuAD-format file (default bench/data/xquad-dev.json), open-domain
over all its articles; `--limit N` takes the seeded sample `qa eval FILE --limit N` takes, so the numbers
line up with it.
  qa    the product's Pipeline with the default settings over the articles written as text files (title
        line, then the paragraphs: qa.training.evaluate.squad_to_corpus), ask(question).text
  peer  haystack-ai 2.31: one Document per paragraph (title in meta) in an InMemoryDocumentStore;
        InMemoryBM25Retriever and InMemoryEmbeddingRetriever (top_k=50 each; the same all-MiniLM-L6-v2
        folder qa embeds with, title + "\\n" + paragraph embedded, as qa does) joined by
        DocumentJoiner("reciprocal_rank_fusion"); its first `--reader-docs` documents go to an
        ExtractiveReader, defaults otherwise, on qa's own reader weights saved as a plain
        BertForQuestionAnswering checkpoint in a temp folder. ExtractiveReader as shipped calls the
        model without token_type_ids (segment ids), which this BERT reader needs; the peer's reader
        passes them (SegmentReader; `--shipped` leaves them out). Its answer is the top of its list, "no
        answer" when that is the reader's own no-answer entry (it has no score_threshold by default).
Each `--reader-docs` value (times each `--peer-precision`: fp32 as Haystack runs it, or the reader's model
at bf16/int8 as qa's Reader would run it) is a peer of its own; the one with the best F1 is "the peer" of
the ratios. qa runs at the settings' precision (`QA_READER_PRECISION`).
Before timing, the converted model's logits are checked against qa's reader at fp32 on one question.
Timing: both warmed up (models loaded, indexes built, one question asked), then alternating blocks of
`--block` questions: qa on a block, then the peer(s) on the same block, the order swapped every block, so
that load from other processes falls on both alike. Same process, same torch threads. Wall ms per question.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench/data/xquad-dev.json"
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no posthog calls from a benchmark
warnings.filterwarnings("ignore", r".*removed from Haystack in version 3\.0", FutureWarning)  # its move notices

import torch  # noqa: E402
from haystack import Document, component  # noqa: E402
from haystack import Pipeline as HaystackPipeline  # noqa: E402
from haystack.components.readers import ExtractiveReader  # noqa: E402


def segment_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_id: int) -> torch.Tensor:
    """BERT's token_type_ids for `[CLS] question [SEP] passage [SEP] [PAD]...`: 1 from the token after
    the first [SEP] through the last real token, 0 elsewhere (what the tokenizer itself returns)."""
    is_sep = (input_ids == sep_id).long()
    return (((is_sep.cumsum(-1) - is_sep) >= 1) & (attention_mask == 1)).long()


class WithSegments:
    """The QA model, called as ExtractiveReader.run calls it (input_ids, attention_mask), plus segment ids."""

    def __init__(self, model: Any, sep_id: int) -> None:
        self.model, self.sep_id = model, sep_id

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=segment_ids(input_ids, attention_mask, self.sep_id))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


@component
class SegmentReader(ExtractiveReader):
    """ExtractiveReader whose model gets the token_type_ids the shipped component leaves out."""

    def warm_up(self) -> None:
        ExtractiveReader.warm_up(self)  # @component rebuilds the class: no zero-argument super() here
        if not isinstance(self.model, WithSegments):
            self.model = WithSegments(self.model, self.tokenizer.sep_token_id)


def convert_reader(out: Path) -> Path:
    """qa's shipped reader (fp16, no word embeddings) saved as an ordinary fp32 Hugging Face checkpoint."""
    from qa.config import DEFAULT_READER
    from qa.reading.weights import load

    tokenizer, model = load(DEFAULT_READER)  # BertForQuestionAnswering, as qa's Reader uses it
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def paragraphs(path: Path) -> list[Document]:
    from qa.training.evaluate import load_squad

    return [Document(content=p["context"].strip(), meta={"title": str(a.get("title") or "").replace("_", " ")})
            for a in load_squad(path) for p in a["paragraphs"]]


def index(docs: list[Document], embedder: str) -> Any:
    """The paragraphs, embedded (title + "\\n" + text), in an InMemoryDocumentStore."""
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore()
    doc_embedder = SentenceTransformersDocumentEmbedder(model=embedder, meta_fields_to_embed=["title"],
                                                        progress_bar=False)
    doc_embedder.warm_up()
    store.write_documents(doc_embedder.run(documents=docs)["documents"])
    return store


def build_peer(store: Any, embedder: str, reader_dir: Path, reader_docs: int, shipped: bool,
               precision: str = "fp32") -> HaystackPipeline:
    """The query pipeline over the store (with components of its own: Haystack lets a component serve
    one pipeline only)."""
    from haystack.components.embedders import SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever

    pipe = HaystackPipeline()
    pipe.add_component("embed", SentenceTransformersTextEmbedder(model=embedder, progress_bar=False))
    pipe.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=50))
    pipe.add_component("bm25", InMemoryBM25Retriever(store, top_k=50))
    pipe.add_component("join", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=reader_docs))
    pipe.add_component("reader", (ExtractiveReader if shipped else SegmentReader)(model=str(reader_dir)))
    pipe.connect("embed.embedding", "dense.query_embedding")
    pipe.connect("dense", "join")
    pipe.connect("bm25", "join")
    pipe.connect("join", "reader.documents")
    pipe.warm_up()
    if precision != "fp32":  # the reader's model as qa's Reader runs it at that precision
        from qa.reading.reader import at_precision

        reader = pipe.get_component("reader")
        if isinstance(reader.model, WithSegments):
            reader.model.model = at_precision(reader.model.model, precision)
        else:
            reader.model = at_precision(reader.model, precision)
    return pipe


def peer_ask(pipe: HaystackPipeline, question: str) -> str | None:
    answers = pipe.run({"embed": {"text": question}, "bm25": {"query": question},
                        "reader": {"query": question}})["reader"]["answers"]
    return answers[0].data if answers else None  # data None: the reader's no-answer entry is on top


def check_logits(peer: HaystackPipeline, question: str, context: str) -> str:
    """Max |difference| of start/end logits of qa's reader at fp32 and the peer's converted model (as
    built, before any `--peer-precision`) on one (question, context): the conversion changes nothing."""
    from qa.reading.reader import Reader

    tokenizer, model = Reader(precision="fp32").load()
    reader = peer.get_component("reader")
    enc = tokenizer(question, context, truncation="only_second", max_length=384, return_tensors="pt")
    peer_enc = reader.tokenizer(question, context, padding=True, truncation=True, max_length=384,
                                return_tensors="pt")
    with torch.inference_mode():
        ours = model(**{k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
        theirs = reader.model(input_ids=peer_enc["input_ids"], attention_mask=peer_enc["attention_mask"])
    same_ids = torch.equal(enc["input_ids"], peer_enc["input_ids"])
    same_segments = torch.equal(segment_ids(enc["input_ids"], enc["attention_mask"], tokenizer.sep_token_id),
                                enc["token_type_ids"])
    diff = max(float((ours.start_logits - theirs.start_logits).abs().max()),
               float((ours.end_logits - theirs.end_logits).abs().max()))
    return f"same input ids {same_ids}, derived segment ids = tokenizer's {same_segments}, max |Δ logit| {diff:.2e}"


def timed(ask: Callable[[str], str | None], question: str) -> tuple[str | None, float]:
    t0 = time.perf_counter()
    text = ask(question)
    return text, 1000 * (time.perf_counter() - t0)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # as qa.training.evaluate does


def summary(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    return {"f1": 100 * statistics.mean(r[name]["f1"] for r in rows),
            "em": 100 * statistics.mean(r[name]["em"] for r in rows),
            "none": 100 * statistics.mean(r[name]["answer"] is None for r in rows),
            "p50": quantile([r[name]["ms"] for r in rows], 0.5), "p90": quantile([r[name]["ms"] for r in rows], 0.9)}


def main() -> None:
    from qa.config import PRECISIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="a SQuAD-format file")
    ap.add_argument("--limit", type=int, default=0, help="a seeded sample of N questions, as `qa eval --limit N`")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reader-docs", type=int, nargs="+", default=[5, 10], help="fused documents the peer reads")
    ap.add_argument("--peer-precision", nargs="+", default=["fp32"], choices=[p for p in PRECISIONS if p != "auto"],
                    help="the peer's reader precision(s): fp32 as Haystack runs it; int8/bf16 as qa's Reader would")
    ap.add_argument("--block", type=int, default=10, help="questions per alternating timing block")
    ap.add_argument("--shipped", action="store_true", help="the peer's reader without segment ids, as shipped")
    ap.add_argument("--rows", type=Path, help="write per-question rows here (JSON)")
    args = ap.parse_args()
    from qa.config import Settings
    from qa.pipeline import Pipeline
    from qa.retrieval.embedding import resolve_model
    from qa.training.evaluate import load_squad, squad_to_corpus
    from qa.training.metrics import best_scores

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="qa-peer-"))
    try:
        questions = squad_to_corpus(args.data, work / "corpus")
        if args.limit and args.limit < len(questions):
            questions = random.Random(args.seed).sample(questions, args.limit)  # evaluate_file's sample
        questions = [q for q in questions if q.answerable]
        settings = Settings.load(corpus_dir=work / "corpus", index_dir=work / "index")
        qa = Pipeline(settings, log=lambda m: None)
        qa.ensure_index()
        reader_dir = convert_reader(work / "reader")
        docs = paragraphs(args.data)
        embedder = resolve_model(settings.embedding_model)
        store = index(docs, embedder)
        first = load_squad(args.data)[0]["paragraphs"][0]
        print("reader check:", check_logits(build_peer(store, embedder, reader_dir, 1, args.shipped),
                                            first["qas"][0]["question"], first["context"]))
        print(f"qa's reader runs at {qa.reader.precision}")
        peers = {f"peer docs={k}" + (f" {p}" if p != "fp32" else ""): build_peer(store, embedder, reader_dir, k,
                                                                                   args.shipped, p)
                 for k in args.reader_docs for p in args.peer_precision}
        systems: dict[str, Callable[[str], str | None]] = {"qa": lambda q: qa.ask(q).text}
        systems |= {name: (lambda q, p=pipe: peer_ask(p, q)) for name, pipe in peers.items()}
        for ask in systems.values():  # warm-up: the first question, untimed
            ask(questions[0].question)
        print(f"{len(questions)} questions, {len(docs)} paragraphs; warmed up in {time.perf_counter() - started:.0f} s",
              flush=True)
        rows = [{"question": q.question, "golds": q.golds} for q in questions]
        for b, start in enumerate(range(0, len(rows), args.block)):
            order = list(systems) if b % 2 == 0 else list(reversed(systems))
            for name in order:
                for row, q in zip(rows[start : start + args.block], questions[start : start + args.block]):
                    text, ms = timed(systems[name], q.question)
                    em, f1 = best_scores(text, q.golds)
                    row[name] = {"answer": text, "em": em, "f1": f1, "ms": ms}
        stats = {name: summary(rows, name) for name in systems}
        print(f"\n{'system':16} {'F1':>6} {'EM':>6} {'no answer':>9} {'p50 ms':>7} {'p90 ms':>7}")
        for name, s in stats.items():
            print(f"{name:16} {s['f1']:6.1f} {s['em']:6.1f} {s['none']:8.1f}% {s['p50']:7.0f} {s['p90']:7.0f}")
        best = max(peers, key=lambda name: stats[name]["f1"])
        both = [r for r in rows if r["qa"]["answer"] is not None and r[best]["answer"] is not None]
        print(f"\npeer = {best} (best F1); qa p50 / peer p50 = {stats['qa']['p50'] / stats[best]['p50']:.2f}")
        if both:
            print(f"where both answered ({len(both)}): qa F1 {100 * statistics.mean(r['qa']['f1'] for r in both):.1f}, "
                  f"peer F1 {100 * statistics.mean(r[best]['f1'] for r in both):.1f}")
        print(f"run took {time.perf_counter() - started:.0f} s")
        if args.rows:
            args.rows.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
