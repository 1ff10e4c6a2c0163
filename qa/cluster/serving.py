"""Serving on a Ray cluster with Ray Serve (`qa serve --ray ADDRESS`).

The deployments of the application "qa":
- `Reader`: the extractive reader, one CPU (or GPU) per replica, scaled by load between 1 and
  `max_readers` replicas (Serve's autoscaler, on the requests in flight per replica). The reader is
  most of an answer's cost (~25 of ~40 ms), so it is what scales.
- `Ask`: the HTTP ingress (POST /ask {"question": ..., "history": [...]}, answered with the same JSON as
  `qa ask --json`): it resolves follow-ups, embeds the question and searches the store, and has the
  `Reader` replicas read the passages. It runs on the node that holds the index folder (the node where
  `qa serve --ray` was started), since the store's database is one file on one disk.
- `Shard0` ... `ShardN-1` (with `--shards N`): the vector search, split over shards that each hold some
  of the store's vector segments in memory, on any node (qa.cluster.shards). Without shards the `Ask`
  replica searches the vectors itself.

The chat started by `qa serve --ray` (and `ask()` in that process) reads through the same `Reader`
replicas: `RemoteReader` stands in for `qa.reading.reader.Reader`, so every step before and after reading is
the single-process code, and the answers are the same; with shards, it searches through the same
`Shard` deployments (tested: the same answers as one process).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from qa.cluster import connect
from qa.errors import ClusterError, UsageError
from qa.cluster.shards import ShardReplica
from qa.config import Settings
from qa.records import Passage, Span

APP = "qa"


class ReaderReplica:
    """A `Reader` deployment replica: loads the reader once, reads passages for a question."""

    def __init__(self, settings: Settings) -> None:
        from qa.reading.reader import Reader

        self.reader = Reader.from_settings(settings)
        self.reader.load()

    def read(self, question: str, passages: list[Passage | str], null_threshold: float | None = None) -> list[Span]:
        return self.reader.read(question, passages, null_threshold=null_threshold)


class RemoteReader:
    """Stands in for `qa.reading.reader.Reader` (`read`, `load`, `top_n`): reads on the `Reader` deployment."""

    def __init__(self, handle: Any, top_n: int = 20) -> None:
        self.handle = handle
        self.top_n = top_n
        self.model_name = "Ray Serve deployment Reader"

    def read(self, question: str, passages: Sequence[Passage | str], top_n: int | None = None,
             null_threshold: float | None = None) -> list[Span]:
        return self.handle.read.remote(question, list(passages), null_threshold).result()[: top_n or self.top_n]

    def load(self) -> None:
        """Wait until a replica answers (its model is loaded in its constructor)."""
        self.read("Is the reader up?", ["It is."])


@dataclass
class Served:
    """What a process beside the cluster needs to answer through it: `Pipeline(settings, **served.parts())`."""

    reader: RemoteReader
    dense_search: Any = None  # a qa.cluster.shards.ShardedSearch with shards

    def parts(self) -> dict[str, Any]:
        return {"reader": self.reader, "dense_search": self.dense_search}


def _sharded_search(settings: Settings, shards: Sequence[Any]) -> Any:
    from qa.cluster.shards import ShardedSearch
    from qa.store import Store

    return ShardedSearch(shards, Store(settings.index_dir).segments_dir) if shards else None


class AskIngress:
    """The `Ask` deployment: POST /ask, a pipeline whose reading runs on the `Reader` replicas (and whose
    vector search runs on the `Shard` deployments, when given)."""

    def __init__(self, settings: Settings, reader: Any, *shards: Any) -> None:
        from qa.pipeline import Pipeline

        self.pipeline = Pipeline(settings, log=lambda m: None, reader=RemoteReader(reader),
                                 dense_search=_sharded_search(settings, shards))
        self.pipeline.retriever()  # open the store now, not at the first question

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        from qa.errors import QAError, QuestionError

        if request.url.path.rstrip("/") != "/ask" or request.method != "POST":
            return JSONResponse({"error": "POST /ask with {\"question\": ..., \"history\": [...]}"}, status_code=404)
        try:
            body = await request.json()
            question, history = body["question"], body.get("history") or []
            if not isinstance(question, str) or not isinstance(history, list):
                raise TypeError
        except Exception:  # noqa: BLE001 - any malformed body gets the same plain answer
            return JSONResponse({"error": "the body must be JSON: {\"question\": \"...\", \"history\": "
                                          "[\"earlier question\", ...]}"}, status_code=400)
        try:
            answer = await asyncio.to_thread(self.pipeline.ask, question, [str(h) for h in history])
        except QuestionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except QAError as exc:  # the index cannot answer now (being rebuilt, a full disk...)
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(answer.to_dict())


def deploy(settings: Settings, address: str, http_host: str = "127.0.0.1", http_port: int = 8000,
           max_readers: int | None = None, shards: int = 0, shard_cpus: float = 1.0,
           log: Callable[[str], None] = print) -> Served:
    """Run the "qa" application on the cluster (replacing an earlier one) and return what the chat in this
    process reads and searches through. `max_readers` defaults to the cluster's GPUs, else its CPUs;
    `shards` > 0 splits the vector search over that many `Shard` deployments of `shard_cpus` CPUs each.
    Serve keeps the HTTP host and port it was first started with on a cluster (until `serve shutdown`)."""
    if shards < 0:
        raise UsageError(f"the number of shards must be 0 (none) or more, not {shards}")
    ray = connect(address)
    try:
        from ray import serve
    except ImportError:
        raise ClusterError("`qa serve --ray` needs Ray Serve: pip install 'qa[cluster]'") from None
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    most = max_readers or gpus or max(1, int(resources.get("CPU", 1)))
    reader_options = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    here = ray.util.get_node_ip_address()
    serve.start(http_options={"host": http_host, "port": http_port})
    reader = serve.deployment(ReaderReplica, name="Reader", ray_actor_options=reader_options,
                              max_ongoing_requests=4,
                              autoscaling_config={"min_replicas": 1, "max_replicas": most,
                                                  "target_ongoing_requests": 1, "upscale_delay_s": 2,
                                                  "downscale_delay_s": 60}).bind(settings)
    shard_apps = [serve.deployment(ShardReplica, name=f"Shard{i}", max_ongoing_requests=32,
                                   ray_actor_options={"num_cpus": shard_cpus}).bind() for i in range(shards)]
    ingress = serve.deployment(AskIngress, name="Ask", max_ongoing_requests=16,
                               ray_actor_options={"num_cpus": 0, "resources": {f"node:{here}": 0.001}})
    serve.run(ingress.bind(settings, reader, *shard_apps), name=APP, route_prefix="/")
    log(f"Ray Serve: POST http://{http_host}:{http_port}/ask; {most} reader replica(s) at most, "
        f"{'a GPU' if gpus else 'a CPU'} each" + (f"; vector search over {shards} shards" if shards else ""))
    remote = RemoteReader(serve.get_deployment_handle("Reader", app_name=APP))
    remote.load()
    if shards:
        _say_how_the_base_splits(settings, shards, log)
    handles = [serve.get_deployment_handle(f"Shard{i}", app_name=APP) for i in range(shards)]
    return Served(remote, _sharded_search(settings, handles))


def _say_how_the_base_splits(settings: Settings, shards: int, log: Callable[[str], None]) -> None:
    from qa.store import Store

    store = Store(settings.index_dir)
    if not store.exists():
        return
    snapshot = store.snapshot()
    parts = int(snapshot.state.get("base_parts") or 1)
    snapshot.close()
    if parts % shards:
        log(f"the index's base is in {parts} part(s), which {shards} shards cannot hold evenly: "
            f"`qa index --shards {shards}` writes it in {shards}")


def reader_replicas() -> int:
    """How many `Reader` replicas are running now (for tests and the bench)."""
    from ray import serve

    status = serve.status().applications[APP].deployments["Reader"]
    return int(status.replica_states.get("RUNNING", 0))


def undeploy() -> None:
    """Remove the "qa" application from the cluster (other Serve applications keep running)."""
    from ray import serve

    serve.delete(APP)
