"""Attacks on the chart pool of issue 15 (``refresh._Drawer``): a refresh that forked chart
workers must end as a refresh without them ends, whatever stops it.

Each test runs the real CLI on a vault with enough charts for the pool, and holds the run
(a wrapper: once the pool is drawing, the next note's composing waits) until every chart
handed to the pool is drawn: the workers are then idle, the run still has notes to compose.
Then the run is stopped as a user, a terminal or a service manager stops it. Nothing here is
judged by wall time: every wait is for a condition, with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import NO_NETWORK, ROOT, copy_with_thesis_copies

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="a forked pool (POSIX) and /proc's list of a process's children (Linux)",
)

DEADLINE = 300.0  # seconds: a deadline for a condition, never a measure
#: How long workers may take to notice that their run is gone (a chart takes a tenth of a
#: second; a fix that polls its parent does it in well under one).
WORKERS_GONE = 60.0

#: The CLI with two cores whatever the machine has. Each chart a worker draws leaves a mark;
#: once the pool is started, the file ``submitted`` says how many charts it was handed, and
#: the run waits before composing its next note (until it is stopped).
WRAPPER = """
import os, sys, time
import rotation_notes.refresh as r
r._cores = lambda: 2
marks = os.environ["ATTACK_MARKS"]
real_draw = r._draw_in_worker
def draw(job):
    out = real_draw(job)
    open(os.path.join(marks, f"drawn-{os.getpid()}-{time.monotonic_ns()}"), "w").close()
    return out
r._draw_in_worker = draw
started = []
real_start = r._Drawer._start
def start(self):
    real_start(self)
    if self.pool is not None:
        started.append(self)
        with open(os.path.join(marks, "submitted.tmp"), "w") as fh:
            fh.write(str(len(self.futures)))
        os.replace(os.path.join(marks, "submitted.tmp"), os.path.join(marks, "submitted"))
r._Drawer._start = start
real_compose = r._compose_one
def compose(*args, **kwargs):
    while started:  # held here, the workers idle, until the run is stopped
        time.sleep(0.02)
    return real_compose(*args, **kwargs)
r._compose_one = compose
from rotation_notes.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(base: Path) -> dict[str, str]:
    return {
        **os.environ,
        **NO_NETWORK,
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(ROOT),
        "ROTATION_NOTES_STATE": str(base / "state"),
        "ROTATION_NOTES_CACHE": str(base / "cache"),
        "ATTACK_MARKS": str(base / "marks"),
    }


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, waiting to be reaped, is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(what: str, condition, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after {DEADLINE:.0f} s")
        time.sleep(0.02)


class _Run:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.vault = base / "vault"
        self.marks = base / "marks"
        self.marks.mkdir(parents=True)
        # the sample (a price and a ratio chart) and 8 copies (a chart each): ten charts,
        # the pool starts at the sixth, and notes are left to compose after it
        copy_with_thesis_copies(self.vault, 8)
        self.out = (base / "stdout").open("w")
        self.err = (base / "stderr").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, "refresh", "--offline", str(self.vault)],
            stdout=self.out,  # files, not pipes: a worker left behind would hold a pipe open
            stderr=self.err,
            text=True,
            env=_env(base),
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        self.workers: list[int] = []

    def hold_with_idle_workers(self) -> None:
        """Wait until the pool has drawn every chart it was handed and the run is held."""
        submitted = self.marks / "submitted"

        def all_drawn() -> bool:
            if not submitted.exists():
                return False
            drawn = [p for p in self.marks.iterdir() if p.name.startswith("drawn-")]
            return len(drawn) >= int(submitted.read_text())

        _wait_for("the pool drew the charts it was handed", all_drawn, self.proc)
        self.workers = _children(self.proc.pid)
        assert len(self.workers) == 2, f"the run's children: {self.workers}"

    def wait(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=DEADLINE)
        self.out.close()
        self.err.close()
        return code, (self.base / "stderr").read_text(encoding="utf-8")

    def cleanup(self) -> None:
        """Stop what the test left (the CLI, its workers), each by its own pid."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
        for pid in self.workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if not self.out.closed:
            self.out.close()
            self.err.close()


@pytest.fixture
def pooled_run(tmp_path) -> Iterator[_Run]:
    run = _Run(tmp_path)
    try:
        yield run
    finally:
        run.cleanup()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_killed_while_its_pool_draws_leaves_no_worker_holding_the_vault(pooled_run, sig):
    """``kill PID`` (a service manager stopping a scheduled run, ``timeout``), or SIGKILL (the
    OOM killer), ends the run: its chart workers must end with it. Left behind, they keep
    the vault's lock (an inherited flock) and every later refresh says "another
    rotation-notes run is writing this vault", until someone finds and kills them."""
    run = pooled_run
    run.hold_with_idle_workers()
    os.kill(run.proc.pid, sig)
    run.wait()
    deadline = time.monotonic() + WORKERS_GONE
    while any(_alive(pid) for pid in run.workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in run.workers if _alive(pid)]
    assert not left, f"chart workers still running {WORKERS_GONE:.0f} s after their run: {left}"
    again = subprocess.run(
        [sys.executable, "-m", "rotation_notes", "refresh", "--offline", "--lock-wait", "60"]
        + [str(run.vault)],
        capture_output=True,
        text=True,
        env=_env(run.base),
        timeout=DEADLINE,
    )
    assert again.returncode == 0, again.stderr


def test_ctrl_c_in_the_terminal_while_the_pool_is_up_says_interrupted_and_nothing_else(
    pooled_run,
):
    """Ctrl-C in a terminal signals the whole foreground process group: the run and its
    chart workers. What the user must see is the run's one line and exit 130, as without a
    pool; not a traceback from each worker that was waiting for a chart."""
    run = pooled_run
    run.hold_with_idle_workers()
    os.killpg(run.proc.pid, signal.SIGINT)
    code, stderr = run.wait()
    assert code == 130, stderr
    assert stderr.strip() == "rotation-notes: interrupted", stderr
