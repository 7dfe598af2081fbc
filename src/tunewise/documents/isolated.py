"""Reading untrusted files in reader processes bounded in memory and time, as Apache Tika server and
Unstructured's API do: a parser bomb (a Flate bomb in a PDF, a .docx of millions of paragraphs,
HTML that makes a parser crawl) costs a reader process, never the server.

A reader is a long-lived process (started once, so an ordinary file pays only a round trip) that
reads one file at a time with `loaders.load_file`, under an address-space limit of what it used
at start plus [ingest] max_memory_mb (RLIMIT_AS, where the OS has it). The caller waits at most
[ingest] max_seconds (+ a grace for the reader's own check to fire first); a reader that overruns
is killed and replaced, one that dies is replaced, and the file is a LoadError naming the limit.
A reader that ran out of memory says so with its answer and is stopped, never handed the next
file; readers run at a lower CPU priority than the process that started them.
`read_isolated` shares a small pool of readers ([ingest] readers) between threads."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no address-space limit, only the time limit
    resource = None

from tunewise.config import IngestSettings
from tunewise.documents.base import Loaded, LoadError
from tunewise.documents.loaders import load_file

GRACE_S = 2.0  # past max_seconds before the reader is killed (its own deadline says it better)
START_S = 60.0  # a reader that cannot start (import) in this long is an error
NICE = 10  # a reader's CPU priority below the server's (parsing never starves a search)


def own_memory(field: str = "VmRSS") -> int:
    """Bytes of this process's `field` of /proc/self/status now (VmRSS: resident, VmSize: address
    space, VmHWM: peak resident), 0 where unknown (not Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit_memory(megabytes: float) -> None:
    """Cap this process's address space at what it holds now plus `megabytes` (where the OS
    lets it: otherwise only the time limit holds)."""
    now = own_memory("VmSize")
    if resource is None or not now:
        return
    cap = now + int(megabytes * 2**20)
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY
                                                else min(cap, hard), hard))
    except (ValueError, OSError):
        pass


def _serve_fd(fd: int, megabytes: float) -> None:
    _serve(Connection(fd), megabytes)


def _serve(conn, megabytes: float) -> None:
    """A reader process: read the files it is sent until the pipe closes. After running out of
    memory it answers and exits, to be replaced by a fresh one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:  # parsing yields the CPU to the server's searches and models
        os.nice(NICE)
    except (AttributeError, OSError):
        pass
    _limit_memory(megabytes)
    conn.send("ready")
    while True:
        try:
            path, settings = conn.recv()
        except (EOFError, OSError):
            return
        spent = False
        try:
            answer = ("ok", load_file(Path(path), settings))  # any parser failure: a LoadError
        except LoadError as exc:
            answer = ("error", str(exc))
        except MemoryError:
            answer, spent = ("error", f"needed more than {megabytes:g} MB to read (limit: [ingest] "
                                      "max_memory_mb)"), True
        try:
            conn.send((*answer, spent))
        except MemoryError:
            conn.send(("error", f"what it holds is more than {megabytes:g} MB (limit: [ingest] "
                                "max_memory_mb)", True))
            spent = True
        if spent:  # the parent stops this reader: it is never handed another file
            return


class Reader:
    """One reader process and the pipe to it. Started as `python -c` with the pipe's descriptor
    rather than by multiprocessing: that would re-run the caller's `__main__` in the child (a
    script, a notebook, stdin) and fork is unsafe in a process with threads."""

    def __init__(self, megabytes: float):
        self.conn, child = multiprocessing.Pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        code = ("from tunewise.documents.isolated import _serve_fd; "
                f"_serve_fd({child.fileno()}, {megabytes!r})")
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[child.fileno()],
                                        env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.megabytes = megabytes
        if not self.conn.poll(START_S):
            self.stop()
            raise LoadError("the reader process did not start")
        try:
            self.conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise LoadError(f"the reader process did not start (exit {self.process.poll()})") from None

    def alive(self) -> bool:
        return self.process.poll() is None

    def read(self, path: Path, settings: IngestSettings) -> Loaded:
        self.conn.send((str(path), settings))  # OSError if it died: the pool starts another
        if not self.conn.poll(settings.max_seconds + GRACE_S):
            self.stop()
            raise LoadError(f"took longer than {settings.max_seconds:g} s to read (limit: [ingest] "
                            "max_seconds); its reader was stopped")
        try:
            kind, value, spent = self.conn.recv()
        except (EOFError, OSError):
            code = self.process.wait(5)
            how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
            raise LoadError(f"the reader stopped reading it ({how}): more memory than "
                            f"{self.megabytes:g} MB (limit: [ingest] max_memory_mb) or a parser "
                            "crash") from None
        if spent:  # it hit its memory limit and is ending: never reused (issue 38)
            self.stop()
        if kind == "ok":
            return value
        raise LoadError(value)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        self.conn.close()


class ReaderPool:
    """Up to `size` readers shared by threads; each file takes one, and a reader that was stopped
    or died is replaced on the next use."""

    def __init__(self, size: int, megabytes: float):
        self.megabytes = megabytes
        self.idle: queue.LifoQueue[Reader | None] = queue.LifoQueue()
        for _ in range(size):
            self.idle.put(None)  # a place for a reader, started when first needed

    def read(self, path: Path, settings: IngestSettings) -> Loaded:
        reader = self.idle.get()
        try:
            if reader is None or not reader.alive():
                reader = Reader(self.megabytes)
            try:
                return reader.read(path, settings)
            except OSError:  # it died between two files: a fresh reader reads this one
                reader.stop()
                reader = Reader(self.megabytes)
                return reader.read(path, settings)
        finally:
            self.idle.put(reader if reader is not None and reader.alive() else None)

    def close(self) -> None:
        while True:
            try:
                reader = self.idle.get_nowait()
            except queue.Empty:
                return
            if reader is not None:
                reader.stop()


_pools: dict[tuple[int, float, int], ReaderPool] = {}
_pools_lock = threading.Lock()


def read_isolated(path: Path, settings: IngestSettings) -> Loaded:
    """`load_file` in a reader process bounded by [ingest] max_memory_mb and max_seconds."""
    key = (settings.readers, settings.max_memory_mb, os.getpid())
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ReaderPool(settings.readers, settings.max_memory_mb)
    return pool.read(path, settings)


def close_readers() -> None:
    """Stop every reader process of this process (they also end with it)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
