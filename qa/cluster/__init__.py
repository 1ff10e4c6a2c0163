"""qa on a Ray cluster (`pip install 'qa[cluster]'`): indexing (qa.cluster.index_workers: `qa index --ray`)
and serving (qa.cluster.serving: `qa serve --ray`). This module connects to a cluster, or starts a
one-machine one for trying it out, tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from qa.errors import ClusterError

def connect(address: str) -> Any:
    """The `ray` module, connected to the cluster at `address` (once per process)."""
    try:
        import ray
    except ImportError:
        raise ClusterError("`--ray` needs Ray: pip install 'qa[cluster]'") from None
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address != "auto" and address.removeprefix("ray://") != current:
            raise ClusterError(f"this process is connected to the Ray cluster at {current}, not {address}")
    else:
        _check_reachable(address)
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself retries for ~14 minutes, deaf to Ctrl-C)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {exc.strerror or exc}; "
                           f"is `ray start --head --port {port}` running there?") from None


@contextlib.contextmanager
def local_head(num_cpus: int = 2, timeout: float = 90.0) -> Iterator[str]:
    """A one-machine Ray cluster on the loopback address (for trying `--ray`, tests and benchmarks):
    `ray start --head` in its own process group, stopped by its process id on exit; yields its address.
    Ray keeps 127.0.0.1 only with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (set here for the head and this process,
    before ray is imported)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_port(head, port, timeout)
        yield f"127.0.0.1:{port}"
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def _wait_for_port(head: subprocess.Popen, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if head.poll() is not None:
            raise ClusterError(f"`ray start --head` exited with status {head.returncode}")
        time.sleep(0.5)
    raise ClusterError(f"the Ray head did not open port {port} within {timeout:.0f} s")
