"""The render time limit: an endless template loop is stopped wherever it renders, and a
render in the main thread starts no thread (a run renders ~9 templates per note; a timer
thread started and joined each time cost a 100-thesis run seconds on a busy machine)."""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from rotation_notes.output.sandbox import RenderTimeout, time_limit

posix_alarm = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no setitimer")

#: The loops below spin until the limit stops them, or fail the test after this long.
GIVE_UP = 120.0


def spin(seen: list[int]) -> None:
    """A loop that only a time limit ends (within GIVE_UP): records the thread count."""
    end = time.monotonic() + GIVE_UP
    while time.monotonic() < end:
        seen.append(threading.active_count())
        del seen[:-1]
    pytest.fail("the time limit never fired")


@posix_alarm
def test_an_endless_loop_in_the_main_thread_is_stopped_without_a_thread():
    before = threading.active_count()
    seen: list[int] = []
    with pytest.raises(RenderTimeout, match=r"still running after 0\.2 s"), time_limit(0.2):
        spin(seen)
    assert seen == [before]  # no timer thread while it ran
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@posix_alarm
def test_the_alarm_handler_and_timer_are_put_back_after_each_render():
    calls: list[int] = []

    def mine(signum: int, frame: object) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        for _ in range(50):
            with time_limit(30):
                sum(range(1000))
            assert signal.getsignal(signal.SIGALRM) is mine
            assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        with pytest.raises(RenderTimeout), time_limit(0.1):
            spin([])
        assert signal.getsignal(signal.SIGALRM) is mine
        assert calls == []  # the render's alarm never reached the program's own handler
    finally:
        signal.signal(signal.SIGALRM, previous)


@posix_alarm
def test_a_timer_the_program_armed_itself_is_left_alone_and_the_limit_still_holds():
    calls: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: calls.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 1000)
    try:
        with pytest.raises(RenderTimeout, match="still running"), time_limit(0.2):
            spin([])  # stopped by the timer thread instead
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 1000  # still armed, as the program left it
        assert calls == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="async exceptions")
def test_an_endless_loop_in_another_thread_is_stopped():
    outcome: list[BaseException | None] = []

    def render() -> None:
        try:
            with time_limit(0.2):
                spin([])
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome.append(exc)

    worker = threading.Thread(target=render)
    worker.start()
    worker.join(timeout=GIVE_UP + 60)
    assert not worker.is_alive()
    (exc,) = outcome
    assert isinstance(exc, RenderTimeout) and "still running after 0.2 s" in str(exc)
