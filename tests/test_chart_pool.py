"""Issue 15: a refresh with charts to draw starts a process pool sized to the cores once it
knows ``POOL_FROM`` of them, and the workers draw while the run composes the next notes
(``refresh._Drawer``). What a user must get is the same vault whichever way: every note and
chart byte for byte what a run without a pool writes, also when the workers die, and the
pool is started only from a process with no other thread (a render's time-limit timer is
gone once the render is)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import NO_NETWORK, ROOT, copy_with_thesis_copies, file_bytes
from rotation_notes import refresh as refresh_mod
from rotation_notes.output.sandbox import time_limit
from rotation_notes.refresh import RefreshOptions, refresh

#: The CLI with two cores whatever the machine has (the pool needs two); ``die``: every
#: worker exits as it takes its first chart, so the pool breaks.
WRAPPER = """
import os, sys
import rotation_notes.refresh as r
r._cores = lambda: 2
if os.environ.get("POOL_TEST_DIE"):
    def _die(job):
        os._exit(3)
    r._draw_in_worker = _die
from rotation_notes.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(vault: Path, *, die: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **NO_NETWORK, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    if die:
        env["POOL_TEST_DIE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, "-v", "refresh", "--offline", str(vault)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture
def alone(tmp_path, monkeypatch) -> dict[str, bytes]:
    """The vault as a run without a pool leaves it: the sample and five thesis copies (six
    price charts of their own and the shared ratio chart: seven to draw)."""
    vault = tmp_path / "alone"
    copy_with_thesis_copies(vault, 5)
    monkeypatch.setattr(refresh_mod, "POOL_FROM", 10**6)
    report = refresh(vault, RefreshOptions(offline=True))
    assert [n.status for n in report.notes] == ["updated"] * 6
    return file_bytes(vault)


def test_a_pool_draws_the_vault_a_run_alone_draws(tmp_path, alone):
    vault = tmp_path / "pooled"
    copy_with_thesis_copies(vault, 5)
    out = _cli(vault)
    assert out.returncode == 0, out.stderr
    assert "drew 7 charts in 2 worker processes" in out.stderr
    assert "drawn meanwhile by a pool" in out.stderr
    assert file_bytes(vault) == alone


def test_workers_that_die_leave_every_chart_to_its_note(tmp_path, alone):
    """A broken pool (a worker killed, out of memory) costs speed, never a note."""
    vault = tmp_path / "broken"
    copy_with_thesis_copies(vault, 5)
    out = _cli(vault, die=True)
    assert out.returncode == 0, out.stderr
    assert "the pool did not draw it" in out.stderr
    assert "6 updated, 0 unchanged, 0 failed" in out.stdout + out.stderr
    assert file_bytes(vault) == alone


def test_a_render_under_its_time_limit_leaves_no_thread_behind():
    """The timer that stops an endless template is joined when the render ends: otherwise a
    run could not fork its chart workers (the pool is never started beside another thread)."""
    before = threading.active_count()
    for _ in range(20):
        with time_limit(30):
            pass
        assert threading.active_count() == before


def test_a_chart_that_cannot_be_drawn_here_fails_its_note_alone(tmp_path, monkeypatch):
    """A chart whose drawing raises fails the note that shows it when the charts are drawn in
    this process (no pool: one core, the watcher's threads), as with a pool (a worker's
    failure is drawn again by the note): the run used to stop with an internal error.
    Every other note is refreshed."""
    from rotation_notes.thesis import chartplans

    vault = tmp_path / "v"
    copy_with_thesis_copies(vault, 5)
    real = chartplans.ChartJob.draw

    def draw(job):
        if job.kind == "price" and job.days == 120:  # Thesis 2's chart alone
            raise ValueError("this chart cannot be drawn")
        return real(job)

    monkeypatch.setattr(chartplans.ChartJob, "draw", draw)
    monkeypatch.setattr(refresh_mod, "POOL_FROM", 10**6)
    report = refresh(vault, RefreshOptions(offline=True))
    status = {n.path: n.status for n in report.notes}
    assert status.pop("Theses/Thesis 2.md") == "failed"
    assert set(status.values()) == {"updated"} and len(status) == 5
    failed = next(n for n in report.notes if n.status == "failed")
    assert "this chart cannot be drawn" in (failed.error or "")
