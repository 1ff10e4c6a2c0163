"""Indexing on a real local Ray cluster: a head started on 127.0.0.1 by the test, torn down by its pid.

All cluster traffic stays on the loopback address (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray from
swapping 127.0.0.1 for the machine's interface address).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import ROOT, SEED_QUESTION, _free_port

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: set it first
ray = pytest.importorskip("ray")

SERVE_PORT = _free_port()  # Serve's HTTP port is fixed when Serve first starts on the cluster: one for the module
QUESTIONS = [SEED_QUESTION, "When did Duque meet Biden?", "What is the capital of Colombia?"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head on 127.0.0.1 with 2 CPUs, in its own process group, killed by its pid at the end."""
    from qa.cluster import local_head

    with local_head(num_cpus=2) as address:
        yield address


@pytest.fixture(scope="module")
def articles(tmp_path_factory) -> Path:
    """The seed corpus plus 200 XQuAD paragraphs as articles."""
    folder = tmp_path_factory.mktemp("cluster") / "corpus"
    shutil.copytree(ROOT / "corpus", folder)
    data = json.loads((ROOT / "bench/data/xquad-dev.json").read_text(encoding="utf-8"))["data"]
    paragraphs = [(a["title"], p["context"]) for a in data for p in a["paragraphs"]][:200]
    for n, (title, text) in enumerate(paragraphs):
        (folder / f"x{n:03d}.txt").write_text(f"{title.replace('_', ' ')} ({n})\n\n{text}\n", encoding="utf-8")
    return folder


def test_index_on_the_cluster_answers_like_a_local_build(cluster: str, articles: Path, tmp_path: Path,
                                                        make_pipeline):
    run = subprocess.run([sys.executable, "-m", "qa", "index", "--ray", cluster, "--corpus", str(articles),
                          "--index", str(tmp_path / "ray-index"), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert "2 Ray replica(s)" in run.stderr and "read and split 202 file(s) on the cluster" in run.stderr
    assert report["articles_total"] == 202 and not report["skipped"]

    from qa.config import Settings
    from qa.pipeline import Pipeline

    local = make_pipeline(articles)
    local.build_index()
    on_ray = Pipeline(Settings.load(corpus_dir=articles, index_dir=tmp_path / "ray-index"), log=lambda m: None,
                      embedder=local.embedder, reader=local.reader)
    assert on_ray.retriever().snapshot.check(tmp_path / "ray-index" / "segments") == []
    for q in QUESTIONS + ["What is the name of a Bodhisattva vow?", "How many tackles did Luke Kuechly register?"]:
        a, b = local.ask(q), on_ray.ask(q)
        assert (a.text, a.article) == (b.text, b.article), q
    assert on_ray.ask(SEED_QUESTION).text == "material and supply loans"


def test_a_replica_killed_mid_job_is_retried_and_nothing_is_lost(cluster: str, articles: Path, make_pipeline):
    from qa.cluster.index_workers import RayEmbedder, RayReadAhead

    embedder = RayEmbedder("all-MiniLM-L6-v2", cluster, replicas=2, log=lambda m: None)
    pids = embedder.worker_pids()
    pipe = make_pipeline(articles, commit_passages=16)  # many small batches: the kill lands mid-job
    pipe.indexer.embedder = embedder
    pipe.indexer.read_ahead = RayReadAhead(embedder, pipe.indexer.chunker, 10_000_000, log=lambda m: None)
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(report=pipe.build_index()))
    job.start()
    deadline = time.monotonic() + 120
    while pipe.store.generation() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pids[0], signal.SIGKILL)
    job.join(timeout=600)
    report = result["report"]
    assert report.articles_total == 202 and not report.skipped
    snapshot = pipe.retriever().snapshot
    assert snapshot.check(pipe.store.segments_dir) == [], "every passage has its vector, once"
    assert {a.id for a in snapshot.articles()} == {p.stem for p in articles.iterdir()}
    assert pids[0] not in embedder.worker_pids(), "the killed replica was restarted"
    assert pipe.ask(SEED_QUESTION).text == "material and supply loans"


def _wait_for_free_cpus(address: str, cpus: int, seconds: float = 60) -> None:
    import gc

    from qa.cluster import connect

    gc.collect()  # handles of earlier tests' actors: once collected, Ray ends the actors
    ray_ = connect(address)
    deadline = time.monotonic() + seconds
    while ray_.available_resources().get("CPU", 0) < cpus and time.monotonic() < deadline:
        time.sleep(0.2)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_served_with_ray_serve_answers_like_one_process_and_readers_scale_with_load(
        cluster: str, corpus_dir: Path, make_pipeline):
    from concurrent.futures import ThreadPoolExecutor

    from qa.cluster import serving
    from qa.pipeline import Pipeline

    local = make_pipeline(corpus_dir)
    local.build_index()
    port = SERVE_PORT
    served = serving.deploy(local.settings, cluster, http_port=port, max_readers=2, log=lambda m: None)
    try:
        chat = Pipeline(local.settings, log=lambda m: None, embedder=local.embedder, **served.parts())
        url = f"http://127.0.0.1:{port}/ask"
        for q in QUESTIONS:
            a, b = local.ask(q), chat.ask(q)
            assert (a.text, a.article, a.start) == (b.text, b.article, b.start), q
            status, c = _post(url, json.dumps({"question": q}).encode())
            assert status == 200 and (c["text"], c["article"]) == (a.text, a.article), q
        status, c = _post(url, json.dumps({"question": "Who designated it?", "history": [SEED_QUESTION]}).encode())
        assert status == 200 and c["resolved_question"] != "Who designated it?", "follow-ups are understood"
        assert _post(url, b"not json")[0] == 400 and _post(url, b'{"question": ""}')[0] == 400
        assert serving.reader_replicas() == 1
        with ThreadPoolExecutor(8) as pool:  # 8 clients at once: the autoscaler adds the second reader
            deadline = time.monotonic() + 120
            while serving.reader_replicas() < 2 and time.monotonic() < deadline:
                list(pool.map(lambda q: _post(url, json.dumps({"question": q}).encode()), QUESTIONS * 8))
        assert serving.reader_replicas() == 2, "readers scale with load"
    finally:
        serving.undeploy()


def test_an_address_nobody_listens_on_fails_at_once_with_the_reason(tmp_path: Path):
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "qa", "index", "--ray", f"127.0.0.1:{_free_port()}",
                          "--corpus", str(ROOT / "corpus"), "--index", str(tmp_path / "i")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "cannot connect to the Ray cluster" in run.stderr, run.stderr[-2000:]
    assert "ray start --head" in run.stderr and time.monotonic() - started < 60


def test_a_file_that_kills_its_worker_each_time_is_skipped_not_retried_forever(cluster: str, tmp_path: Path):
    from qa.ingest.chunking import Chunker
    from qa.cluster.index_workers import RayEmbedder, RayReadAhead
    from qa.config import Settings
    from qa.reading.weights import load_tokenizer

    class Fatal(Chunker):  # defined here, so it travels to the workers by value
        def split(self, article, first_id=0):
            if "POISON" in article.text:
                os._exit(1)  # the worker dies, as on an out-of-memory kill or a native crash
            return super().split(article, first_id)

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Fine news\n\nThe ferry sails twice a day from the pier.\n")
    (corpus / "bad.txt").write_text("Bad news\n\nThis article holds POISON for the splitter.\n")
    embedder = RayEmbedder("all-MiniLM-L6-v2", cluster, replicas=1, log=lambda m: None)
    ahead = RayReadAhead(embedder, Fatal(load_tokenizer(Settings().reader_model)), 10_000_000, log=lambda m: None)
    read = ahead(corpus, ["bad.txt", "ok.txt"])
    assert "worker died" in read["bad.txt"].error and not read["bad.txt"].articles
    assert read["ok.txt"].error is None and read["ok.txt"].articles[0][1], "the other file is read and split"


def test_replicas_the_cluster_cannot_place_are_given_back(cluster: str):
    from qa.cluster.index_workers import RayEmbedder

    _wait_for_free_cpus(cluster, 2)  # earlier tests' actors are let go asynchronously
    embedder = RayEmbedder("all-MiniLM-L6-v2", cluster, replicas=3, log=lambda m: None, start_timeout=20)
    assert len(embedder.replicas) == 2, "the cluster has 2 CPUs: the third replica never starts"
    vectors = embedder.encode(["A short text.", "A much longer text about ferries and libraries."])
    assert vectors.shape == (2, 384) and abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4


def test_vector_search_split_over_shards_finds_what_one_process_finds(cluster: str, articles: Path, tmp_path: Path,
                                                                     make_pipeline):
    from qa.cluster import serving
    from qa.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    shutil.copytree(articles, corpus)
    local = make_pipeline(corpus, index_shards=2, flat_max_passages=100, ivf_nprobe=4)  # an IVF base in 2 parts: nprobe < lists
    local.build_index()
    (corpus / "ferry.txt").write_text("Harbour news\n\nThe floating library of Valmora is run by the novelist "
                                      "Teresa Quintela and holds 12,000 books.\n")
    local.build_index(files=["ferry.txt"])  # and a delta segment
    rows = [row for row, _ in local.retriever().snapshot.segments]
    assert [r.role for r in rows].count("base") == 2 and rows[0].kind.startswith("IVF") and "delta" in {r.role for r in rows}
    data = json.loads((ROOT / "bench/data/xquad-dev.json").read_text(encoding="utf-8"))["data"]
    questions = QUESTIONS + [q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]][:40]
    port = SERVE_PORT
    served = serving.deploy(local.settings, cluster, http_port=port, max_readers=1, shards=2, shard_cpus=0,
                            log=lambda m: None)
    try:
        chat = Pipeline(local.settings, log=lambda m: None, embedder=local.embedder, **served.parts())
        for q in questions:
            here, there = local.retriever().run(q), chat.retriever().run(q)
            assert [h.passage.id for h in here] == [h.passage.id for h in there], q
        held = [h.held.remote().result() for h in served.dense_search.handles]
        assert all(held) and sum(sum(h.values()) for h in held) == sum(r.vectors for r in rows), \
            "each shard holds its own segments, every vector once"
        for q in QUESTIONS[:2]:
            status, c = _post(f"http://127.0.0.1:{port}/ask", json.dumps({"question": q}).encode())
            assert status == 200 and c["text"] == local.ask(q).text == chat.ask(q).text, q
        (corpus / "ferry.txt").unlink()
        (corpus / "bridge.txt").write_text("Bridge news\n\nThe new bridge over the Ribeira river was designed by "
                                           "the engineer Marta Solano.\n")
        local.build_index()  # a commit: the shards are brought to the new generation at the next question
        time.sleep(1.1)  # the chat looks for a newer generation at most once a second
        assert chat.ask("Who designed the new bridge over the Ribeira river?").text == "Marta Solano"
        assert chat.ask("Who runs the floating library of Valmora?").article != "ferry", "deleted: gone"
        os.kill(served.dense_search.handles[0].pid.remote().result(), signal.SIGKILL)
        hits = chat.retriever().run("Who designed the new bridge over the Ribeira river?")
        assert hits[0].passage.article_id == "bridge", "a shard whose replica died is restarted and synced"
        assert [h.passage.id for h in hits] == [h.passage.id for h in local.retriever().run(
            "Who designed the new bridge over the Ribeira river?")]
    finally:
        serving.undeploy()
