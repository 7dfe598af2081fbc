"""Ingestion on a Ray cluster (`tunewise ingest PATHS --ray [--ray-address ADDRESS]`).

An actor pool does the work that scales: each actor loads the embedder once, then reads and chunks
files and embeds batches of chunks. The driver keeps what must stay in one place: it asks the store
what is already there, batches the chunks in file order and writes each batch through the Store
protocol, in order, so that a file is marked complete only with its last document, exactly as a
local ingest does (tunewise.ingest.pipeline). Hence a run stopped anywhere is resumed by running it again,
and the chunk ids and vectors equal a local ingest's.

A killed worker loses nothing: Ray restarts the actor (it loads the embedder again) and retries the
calls it had in hand; reading and embedding have no side effects, so a retry is safe.

On one machine `--ray` starts a local cluster and the store can be SQLite (only the driver writes).
On several machines: start the cluster (`ray start --head` on one, `ray start --address=HEAD:6379`
on the others, each with tunewise and its models installed), keep the files on storage every node
mounts at the same path, and use a PostgreSQL store reachable from the driver."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tunewise.config import Settings
from tunewise.documents.isolated import own_memory
from tunewise.embeddings import make_embedder
from tunewise.ingest.pipeline import FileJob, FileWork, IngestError, Progress, Workers, read_file

LOCAL = "local"  # --ray with no address: Ray's name for "start a new cluster on this machine"


def _ray():
    try:
        import ray
    except ImportError:
        raise IngestError("ingestion on Ray needs the ray extra: pip install 'tunewise[ray]'") from None
    return ray


class _Worker:
    """The actor: one per worker CPU, holding the embedder (and its tokenizer, for chunking)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.embedder = make_embedder(settings.embedder)

    def describe(self) -> tuple[str, int, str, int]:
        return self.embedder.name, self.embedder.dimension, socket.gethostname(), os.getpid()

    def read(self, job: FileJob) -> FileWork:
        if not job.path.exists():  # on a multi-node cluster the files must be on shared storage
            return FileWork(str(job.path), failure=f"not visible on Ray worker host "
                            f"{socket.gethostname()}: keep the files on storage every node mounts "
                            "at the same path")
        return read_file(job, self.settings, self.embedder.tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def resident(self) -> tuple[str, int]:
        """(where, resident bytes of this worker process)."""
        return f"{socket.gethostname()}:{os.getpid()}", own_memory()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Ray retries an unreachable HOST:PORT for minutes; say so in seconds instead. "auto" is the
    address Ray last wrote to its temp folder, which outlives a cluster that was killed."""
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address  # Ray's own lookup
        except ImportError:  # a private helper: without it, Ray answers for itself
            return
        try:
            address = canonicalize_bootstrap_address("auto") or address
        except ConnectionError as exc:
            raise IngestError(f"no Ray cluster found on this machine ({exc})") from None
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "local", "auto": Ray answers these itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise IngestError(f"no Ray cluster at {address!r}: {exc.strerror or exc}; start one with "
                          "`ray start --head`, or drop --ray-address to start one here") from None


class RayWorkers(Workers):
    """A pool of `_Worker` actors on the cluster at `address` ("local" starts one here; "auto" finds
    the one `ray start` began on this machine; "HOST:PORT" or "ray://HOST:10001" names one).
    `workers` actors of one CPU each; by default, one per CPU of the cluster."""

    def __init__(self, settings: Settings, address: str = LOCAL, workers: int | None = None,
                 restarts: int = 3):
        ray = _ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from behind a firewall
        self.owns = not ray.is_initialized()
        if self.owns:
            _check_reachable(address)
            try:
                ray.init(address=address, include_dashboard=False,
                         logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise IngestError(f"no Ray cluster at {address!r}: {exc}") from None
        try:
            n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            actor = ray.remote(num_cpus=1, max_restarts=restarts, max_task_retries=restarts)(_Worker)
            self.actors = [actor.remote(settings) for _ in range(n)]
            described = self._get([a.describe.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise
        self.name, self.dimension = described[0][:2]
        self.pids = [(host, pid) for *_, host, pid in described]
        self.ahead = 2  # batches embedding while the driver reads on and writes
        self._next = 0

    def _get(self, refs):
        ray = _ray()
        try:
            return ray.get(refs)
        except ray.exceptions.RayActorError as exc:
            raise IngestError(f"a Ray worker died and could not be restarted ({exc}); what was written "
                              "is consistent: run the same command again to finish") from None

    def _actor(self):
        self._next = (self._next + 1) % len(self.actors)
        return self.actors[self._next]

    def read(self, jobs: Iterator[FileJob]) -> Iterator[FileWork]:
        """Files read on the workers, several ahead, handed back in the order of `jobs`."""
        window, in_flight = 2 * len(self.actors), []
        for job in jobs:
            in_flight.append(self._actor().read.remote(job))
            if len(in_flight) >= window:
                yield self._get(in_flight.pop(0))
        while in_flight:
            yield self._get(in_flight.pop(0))

    def embed(self, texts: list[str], progress: Progress) -> Callable[[], np.ndarray]:
        """Dealt out across the actors (the i-th of every n texts by length to the i-th actor, so
        each gets an even share of long and short ones); the returned function waits."""
        n = len(self.actors)
        order = np.argsort([len(t) for t in texts], kind="stable")
        shares = [order[i::n] for i in range(n) if len(order[i::n])]
        refs = [self._actor().embed.remote([texts[j] for j in share]) for share in shares]
        progress.embedding(len(texts))

        def wait() -> np.ndarray:
            vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
            for share, part in zip(shares, self._get(refs), strict=True):
                vectors[share] = part
                progress.embedded(len(share))
            return vectors

        return wait

    def resident(self) -> list[tuple[str, int]]:
        return self._get([a.resident.remote() for a in self.actors])

    def close(self) -> None:
        ray = _ray()
        for a in getattr(self, "actors", []):
            ray.kill(a)
        self.actors = []
        if self.owns and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> "RayWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def local_cluster(nodes: int = 2, cpus: int = 1, timeout: float = 120) -> Iterator[str]:
    """A cluster of `nodes` real Ray nodes on this machine, each its own `ray start --block` process
    with `cpus` CPUs, as on separate machines; yields its address and stops it after. For tests and
    benchmarks (a Ray ingest over more than one worker process without more than one machine)."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    node = [f"--num-cpus={cpus}", "--object-store-memory=80000000", "--block",
            "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    # Recent Ray turns token authentication on for clusters that ray.init() starts, keeping the token
    # in ~/.ray; this throwaway cluster on 127.0.0.1 runs without, whatever ~/.ray holds, and so must
    # every process that connects to it: this one too (and the nodes, which inherit it), until the
    # cluster stops.
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    started = []
    try:
        for i in range(nodes):
            role = ["--head", f"--port={address.split(':')[1]}", "--include-dashboard=false"] if i == 0 \
                else [f"--address={address}"]
            started.append(subprocess.Popen([ray_cli, "start", *role, *node],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_for_cpus(address, (i + 1) * cpus, started[-1], timeout)
        yield address
    finally:
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        for process in started:
            process.wait(timeout=60)
        if before is None:
            os.environ.pop("RAY_AUTH_MODE")
        else:
            os.environ["RAY_AUTH_MODE"] = before


def _wait_for_cpus(address: str, cpus: int, process: subprocess.Popen, timeout: float) -> None:
    probe = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='error'); "
             "print(int(ray.cluster_resources().get('CPU', 0)))")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise IngestError("a Ray node exited as it started")
        out = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() and int(out.stdout.split()[-1]) >= cpus:
            return
        time.sleep(1)
    raise IngestError(f"the Ray cluster at {address} did not reach {cpus} CPUs in {timeout:.0f} s")
