"""The chat under load: N simultaneous users asking questions for S seconds through the Gradio API.

    python bench/chat_load.py                          # starts app.py on a free port: 20 users, 60 s
    python bench/chat_load.py --url http://127.0.0.1:7860/ --users 20 --seconds 60

Prints the number of answers, errors and the latency p50/p95 seen by the users (queueing included).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "What do major non-NATO allies receive?",
    "When did Duque meet Biden?",
    "What is the capital of Colombia?",
    "Which country was most recently named a major non-NATO ally?",
    "How much aid has the US given Colombia?",
]


def run_load(url: str, users: int, seconds: float) -> dict:
    """Each user thread asks questions in a loop until the time is up; returns counts and latencies."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(n: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # a refused connection is an error the load test must report
            with lock:
                errors.append(f"connect: {exc}")
            return
        i = n
        while time.monotonic() < deadline:
            q = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            t = time.perf_counter()
            try:
                history, _ = client.predict(q, [], api_name="/ask")
                ok = history and history[-1]["role"] == "assistant" and history[-1]["content"]
                with lock:
                    (latencies.append(time.perf_counter() - t) if ok else errors.append(f"empty reply to {q!r}"))
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
    return {"users": users, "seconds": seconds, "answers": len(latencies), "errors": errors,
            "p50_s": statistics.median(latencies) if latencies else 0.0, "p95_s": q[18]}


def _start_app() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="qa-load-"))
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus",
                             str(ROOT / "corpus"), "--index", str(work / "index")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("app did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else _start_app()
    try:
        r = run_load(url, args.users, args.seconds)
    finally:
        if proc:
            proc.terminate()
    print(f"{r['users']} users for {r['seconds']:.0f}s: {r['answers']} answers "
          f"({r['answers'] / r['seconds']:.1f}/s), {len(r['errors'])} errors; "
          f"latency p50 {r['p50_s']:.2f}s, p95 {r['p95_s']:.2f}s (queueing included)")
    for e in r["errors"][:5]:
        print("  error:", e)


if __name__ == "__main__":
    main()
