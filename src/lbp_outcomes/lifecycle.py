"""Process lifecycle: environment, signals, the parent watch, liveness and the store lock.

Everything about a process starting, being told to stop, outliving its parent, or
finding out whether another process still runs lives here:

- :func:`configure_environment`: thread pools at one thread, one OpenBLAS kernel family on
  x86-64 (the same floating-point results on every such CPU) and telemetry off (set once,
  before MLflow or a BLAS library is imported).
- :func:`sigterm_as_interrupt`: SIGTERM raises :class:`Terminated` (a KeyboardInterrupt),
  so a stage stopped either way unwinds the same way: nothing committed, MLflow runs KILLED.
- :func:`watch_launcher`: a stage under DVC stops (as on SIGTERM) once the process that
  started it has gone, also behind a shell in between.
- :func:`exit_with_parent`: a pool worker process (loky/joblib) exits as soon as its
  parent is gone, SIGKILL included, so no worker outlives its stage.
- :func:`alive` / :func:`process_tag` / :func:`tag_alive`: the one liveness check, by pid
  and process start time (a recycled pid is not the process it replaced).
- :func:`store_lock`: the exclusive file lock that serialises creating the MLflow store.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Threads are set, not left to chance: every estimator gets n_jobs from config, and the
#: BLAS/OpenMP pools default to one thread so parallel workers do not oversubscribe the CPU.
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: OpenBLAS (bundled by numpy and scipy) picks its kernels by CPU model, and kernels round
#: differently: the same MLP fit gave another CV R2 in the 4th decimal on an AVX-512 machine
#: than on the AVX2 machine that committed the baseline. Pinning one kernel family that
#: every x86-64 CPU with AVX2 runs makes outputs the same across such machines.
BLAS_KERNEL = {"OPENBLAS_CORETYPE": "Haswell"}
#: No network at run time: MLflow telemetry off (DVC's is off in .dvc/config).
TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

#: Seconds between two looks at the parent (stage watch and worker watch).
WATCH_INTERVAL = 1.0


def configure_environment(threads: bool = True) -> None:
    """Apply :data:`TELEMETRY_OFF` (and, with ``threads``, :data:`THREADS` and, on an x86-64
    CPU with AVX2, :data:`BLAS_KERNEL`) to this process and so to every child it starts,
    unless the user set a variable already. Call before numpy, any estimator or MLflow is
    imported (OpenBLAS reads its settings when it loads)."""
    kernel = BLAS_KERNEL if threads and _has_avx2() else {}
    for name, value in {**(THREADS if threads else {}), **kernel, **TELEMETRY_OFF}.items():
        os.environ.setdefault(name, value)


def _has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this is an x86-64 CPU that runs OpenBLAS's Haswell kernels (AVX2 and FMA).
    Elsewhere (ARM, other systems) OpenBLAS keeps its own choice."""
    if platform.machine().lower() not in {"x86_64", "amd64"} or not cpuinfo.exists():
        return False
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return {"avx2", "fma"} <= flags
    return False


# -- signals ----------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: outputs are not committed and MLflow runs end KILLED."""


def _on_sigterm(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only: Python
    delivers signals there, and other threads may not install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (they are raised again right after),
    so a short sequence of steps, e.g. renaming a stage's outputs into place, is never cut
    in the middle by Ctrl-C or SIGTERM. SIGKILL cannot be held."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it runs them
        return
    pending: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, frame: pending.append(signum))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


# -- liveness ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Process:
    """A process as it can be recognised later: pid plus its start time (seconds since the
    epoch, as text with 3 decimals so it round-trips through a tag)."""

    pid: int
    started: str

    @classmethod
    def of(cls, pid: int) -> Process | None:
        """The process ``pid`` now, or None when there is none."""
        import psutil

        try:
            return cls(pid, f"{psutil.Process(pid).create_time():.3f}")
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ValueError):
            return None


def alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` exists (and, given ``started``, is the one that started
    then and not a later process that got the same pid). Zombies count as gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or f"{proc.create_time():.3f}" == started
    except psutil.AccessDenied:  # someone else's process: it exists
        return started is None
    except (psutil.NoSuchProcess, ValueError):
        return False


def process_tag() -> str:
    """``host:pid:start`` of this process, to tag what it owns (e.g. a RUNNING MLflow run)."""
    return _tag(os.getpid())


@functools.cache
def _tag(pid: int) -> str:
    me = Process.of(pid)
    assert me is not None  # this very process
    return f"{socket.gethostname()}:{me.pid}:{me.started}"


def tag_alive(tag: str) -> bool | None:
    """True/False for a :func:`process_tag` of this host; None for another host (or a tag
    that is not one): nothing here can tell whether that process still runs."""
    host, _, rest = tag.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return alive(int(pid), started)


# -- watching the parent ----------------------------------------------------------------------
#: Shells DVC may run a stage command through (``$SHELL -c cmd``, or ``/bin/sh -c cmd``
#: when SHELL is unset). bash and zsh exec a lone command, but dash (Debian's /bin/sh)
#: stays in between as the stage's parent and outlives a killed ``dvc repro``.
SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish"}


def launchers() -> list[tuple[Process, int]]:
    """``(process, its parent pid)`` for this process and each shell ancestor above it.

    The chain stops at the first ancestor that is not a shell: that one (e.g. ``dvc
    repro``) is what the stage lives for. If any link of the chain is re-parented or gone,
    the process that started the stage has gone.
    """
    import psutil

    chain = []
    pid = os.getpid()
    with contextlib.suppress(psutil.Error):
        while pid > 1:
            proc, me = psutil.Process(pid), Process.of(pid)
            if me is None:
                break
            chain.append((me, proc.ppid()))
            parent = psutil.Process(proc.ppid())
            if parent.pid <= 1 or parent.name() not in SHELLS:
                break
            pid = parent.pid
    return chain


def chain_intact(chain: list[tuple[Process, int]]) -> bool:
    """Every link of :func:`launchers` still runs under the parent it had."""
    import psutil

    for proc, parent in chain:
        if not alive(proc.pid, proc.started):
            return False
        try:
            if psutil.Process(proc.pid).ppid() != parent:
                return False
        except psutil.Error:
            return False
    return True


def watch_launcher(stop: threading.Event, interval: float = WATCH_INTERVAL) -> None:
    """Terminate this stage (as on SIGTERM) once the process that started it has gone.

    ``dvc repro`` killed with SIGTERM does not pass the signal on to the stage it is
    running: the orphaned stage would run on, write outputs DVC never records and close its
    MLflow run long after the pipeline stopped. Polling parent ids (a process's parent id
    changes when its parent dies and it is re-parented) works on Linux and macOS alike; a
    shell between DVC and the stage is seen through (:func:`launchers`).
    """
    if os.getppid() <= 1:  # started by init or already detached: nothing to watch
        return
    chain = launchers()

    def watch() -> None:
        while not stop.wait(interval):
            if not chain_intact(chain):
                with contextlib.suppress(OSError):  # the parent's pipe may be gone too
                    print("the process that started this stage exited: stopping", file=sys.stderr)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_watching = False  # this process already watches its parent


def exit_with_parent(interval: float = WATCH_INTERVAL) -> None:
    """Make this (worker) process exit at once when its parent dies, however it dies.

    A worker pool's processes and loky's resource tracker are children of the stage; a
    SIGKILLed stage cannot stop them, and re-parented to PID 1 they would live on, holding
    the stage's stdout pipe open (so whoever waits on ``dvc repro`` hangs). A daemon
    thread polls the parent id (it changes when the parent dies). Not Linux's
    PR_SET_PDEATHSIG: that fires when the parent *thread* that started the worker ends, and
    pools start workers from helper threads that end while the stage goes on.
    Idempotent: a second call does nothing.
    """
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid()
    if parent <= 1:  # already orphaned before the call
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)  # no cleanup: the stage that owned this work is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# -- the store lock ---------------------------------------------------------------------------
@contextlib.contextmanager
def store_lock(path: Path, timeout: float = 600) -> Iterator[None]:
    """An exclusive lock on file ``path`` (created if missing) across processes, so that
    only one process at a time creates a shared store (e.g. MLflow's sqlite schema)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, timeout=timeout):
        yield
