"""Process lifecycle: the one liveness check, the store lock, and workers that exit with
the process that started them (lbp_outcomes.lifecycle)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from lbp_outcomes import lifecycle


def test_alive_knows_a_recycled_pid_from_its_original():
    me = lifecycle.Process.of(psutil.Process().pid)
    assert me is not None and lifecycle.alive(me.pid) and lifecycle.alive(me.pid, me.started)
    assert not lifecycle.alive(me.pid, f"{float(me.started) - 60:.3f}")  # same pid, not me
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not lifecycle.alive(gone.pid)


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
        time.sleep(0.05)
    assert not lifecycle.alive(child.pid)  # exited, not yet reaped
    child.wait()


def test_process_tags_tell_live_dead_and_foreign_owners():
    assert lifecycle.tag_alive(lifecycle.process_tag()) is True
    host, pid, started = lifecycle.process_tag().split(":")
    assert lifecycle.tag_alive(f"{host}:{pid}:{float(started) + 1:.3f}") is False
    assert lifecycle.tag_alive(f"elsewhere.invalid:{pid}:{started}") is None
    assert lifecycle.tag_alive("not a tag") is None


def test_store_lock_is_exclusive_across_threads(tmp_path):
    lock = tmp_path / "store" / ".lock"
    inside, order = threading.Event(), []

    def second() -> None:
        inside.wait()
        with lifecycle.store_lock(lock):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with lifecycle.store_lock(lock):
        inside.set()
        time.sleep(0.3)
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]


# The stage: starts a worker that calls exit_with_parent (as the pools' initializer does),
# prints the worker's pid and waits.
STAGE = textwrap.dedent(
    """
    import subprocess, sys, time
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "from lbp_outcomes import lifecycle; lifecycle.exit_with_parent(0.2); "
         "import time; time.sleep(600)"],
    )
    print(worker.pid, flush=True)
    time.sleep(600)
    """
)


def test_a_worker_exits_when_its_parent_is_killed():
    stage = subprocess.Popen([sys.executable, "-c", STAGE], stdout=subprocess.PIPE, text=True)
    worker = psutil.Process(int(stage.stdout.readline()))
    time.sleep(1.0)  # the worker has imported lifecycle and watches
    assert worker.is_running()
    stage.kill()
    stage.wait()
    gone, alive = psutil.wait_procs([worker], timeout=5)
    assert not alive, "the worker outlived its SIGKILLed parent"


# A stage's pool: two workers busy on long tasks, as in cross-validation.
POOL = textwrap.dedent(
    """
    import sys, time
    from lbp_outcomes.config import ExecutorConfig
    from lbp_outcomes.executor import Executor

    cfg = ExecutorConfig(kind=sys.argv[1], n_jobs=2, dask={"n_workers": 2})
    with Executor(cfg) as ex:
        print("running", flush=True)
        ex.map(time.sleep, [(600,)] * 4, progress=False)
    """
)


# dask: guards what dask.distributed already does (its workers end with the stage); a
# LocalCluster start-up costs about 30 s on 2 busy cores, hence slow.
@pytest.mark.parametrize("kind", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_pool_workers_and_trackers_die_with_a_killed_stage(kind):
    """SIGKILL of the process that owns the pool (loky workers and resource trackers, or a
    LocalCluster): every process it started is gone within seconds, and a reader of its
    output pipe sees the end (does not hang)."""
    stage = subprocess.Popen(
        [sys.executable, "-c", POOL, kind], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert stage.stdout.readline() == b"running\n"
    proc = psutil.Process(stage.pid)
    deadline = time.time() + 60
    while len(proc.children(recursive=True)) < 3 and time.time() < deadline:
        time.sleep(0.1)  # 2 workers and a resource tracker (loky: 2 trackers)
    time.sleep(2.0)  # the workers are busy
    started = proc.children(recursive=True)
    assert len(started) >= 3, [p.cmdline() for p in started]
    stage.kill()
    stage.communicate(timeout=30)  # EOF only once no process holds the pipe
    gone, alive = psutil.wait_procs(started, timeout=10)
    for leftover in alive:
        leftover.kill()
    assert not alive, [p.cmdline() for p in alive]


class Stop(Exception):
    pass


@pytest.fixture
def sigterm_raises_stop():
    import signal

    def stop(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    yield previous
    signal.signal(signal.SIGTERM, previous)


def test_signals_wait_for_the_end_of_a_deferred_block(sigterm_raises_stop):
    import signal

    steps = []
    with pytest.raises(Stop), lifecycle.signals_deferred():
        signal.raise_signal(signal.SIGTERM)
        steps.append("after the signal")
    assert steps == ["after the signal"]  # and Stop was raised on leaving the block
    assert signal.getsignal(signal.SIGTERM) is not sigterm_raises_stop


def test_sigterm_while_outputs_are_renamed_lets_all_of_them_in_first(
    tmp_path, monkeypatch, sigterm_raises_stop
):
    """A SIGTERM between two renames of a stage's commit: every output is the new one."""
    import os
    import signal

    from lbp_outcomes import atomic

    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text("old")
    replace = os.replace
    calls = []

    def replace_then_signal(src, dst):
        replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(atomic.os, "replace", replace_then_signal)
    with pytest.raises(Stop), atomic.Outputs() as out:
        out.write_text(tmp_path / "a.json", "new")
        out.write_text(tmp_path / "b.json", "new")
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.json")] == ["new", "new"]


def test_blas_kernel_is_pinned_so_outputs_do_not_depend_on_the_cpu_model():
    """OpenBLAS picks kernels by CPU model and they round differently (an MLP's CV R2 moved in
    the 4th decimal between two machines). A process configured like a stage computes what
    the pinned kernels compute, whatever this CPU would have chosen (on an AVX-512 machine
    the default differs, and this test fails without the pin)."""
    if not lifecycle._has_avx2():
        pytest.skip("not an x86-64 CPU with AVX2: OpenBLAS keeps its own kernel choice")
    fit = (
        "import hashlib, warnings; import numpy as np\n"
        "from sklearn.neural_network import MLPRegressor\n"
        "warnings.simplefilter('ignore')\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(300, 15))\n"
        "y = X @ rng.normal(size=15) + rng.normal(size=300)\n"
        "m = MLPRegressor(hidden_layer_sizes=(64, 32), max_iter=60, random_state=0).fit(X, y)\n"
        "print(hashlib.sha256(m.predict(X).tobytes()).hexdigest())\n"
    )
    configured = "from lbp_outcomes import lifecycle; lifecycle.configure_environment()\n"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}

    def run(code: str, **extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    pinned = run(fit, **lifecycle.BLAS_KERNEL, OPENBLAS_NUM_THREADS="1")
    assert run(configured + fit) == pinned


def test_avx2_detection_reads_the_cpu_flags(tmp_path):
    with_avx2 = tmp_path / "a"
    with_avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 avx512f\n")
    without = tmp_path / "b"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    if platform.machine().lower() in {"x86_64", "amd64"}:
        assert lifecycle._has_avx2(with_avx2)
    assert not lifecycle._has_avx2(without)
    assert not lifecycle._has_avx2(tmp_path / "missing")
