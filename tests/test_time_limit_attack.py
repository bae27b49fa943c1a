"""The time limit in a thread other than the main one (the timer thread raising with
``PyThreadState_SetAsyncExc``): its exception must never come where the limit's own clean-up
is skipped, nor in a thread being started."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from conftest import python_until_it_ends
from rotation_notes.output.sandbox import RenderTimeout, time_limit

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython", reason="async exceptions")

#: A test that has not seen what it waits for by then fails.
GIVE_UP = 120.0


def limit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "render time limit"]


def test_a_limit_that_comes_as_the_block_ends_is_not_raised_in_the_context_managers_exit():
    """The block ends in one long C operation (no point where Python checks for pending
    exceptions), so the timer's exception used to come at the next one: the first line of
    ``contextlib``'s ``__exit__``. It left the limit without its message and skipped its
    clean-up; while the exception was kept (``render_template`` chains it to the
    TemplateError), the timer thread stayed alive and raised into whatever ran next."""
    outcomes: list[tuple[float, BaseException | None, list[threading.Thread]]] = []
    errors: list[BaseException] = []

    def render() -> None:
        # the operation grows until it surely outlasts the limit and the GIL switch interval
        long_enough = 20 * (0.001 + sys.getswitchinterval())
        digits = 1000
        end = time.monotonic() + GIVE_UP
        try:
            while time.monotonic() < end:
                a = 7**digits
                caught: BaseException | None = None
                start = time.perf_counter()
                try:
                    with time_limit(0.001):
                        a * a  # noqa: B018 - the block's last: a BINARY_OP, pure C, no check
                except RenderTimeout as exc:
                    caught = exc  # kept, as a caller that reports it keeps it
                took = time.perf_counter() - start
                outcomes.append((took, caught, limit_threads()))
                del caught
                if took > long_enough:
                    return
                digits *= 2
        except BaseException as exc:  # noqa: BLE001 - a stray limit, reported below
            errors.append(exc)

    worker = threading.Thread(target=render)
    worker.start()
    worker.join(GIVE_UP + 10)
    assert not errors, f"a time limit came after its block: {errors!r}"
    assert outcomes and outcomes[-1][0] > 20 * (0.001 + sys.getswitchinterval())
    for took, caught, alive in outcomes:
        assert not alive, f"the limit's thread outlived its block ({took:.3f} s)"
        if caught is not None:
            assert "still running after 0.001 s" in str(caught), repr(caught)
    assert outcomes[-1][1] is not None  # the long one was stopped (with its message)
    assert not limit_threads()


def test_a_limit_inside_another_in_a_thread_never_kills_the_inner_timer_thread():
    """The outer limit's exception, sent while the inner limit starts its timer thread,
    reached the new thread instead (CPython 3.11 gives it its starter's id until it runs):
    it died before saying it had started, and ``Thread.start`` waited for ever."""
    script = """
        import os, sys, threading
        from rotation_notes.output.sandbox import RenderTimeout, time_limit

        def unraisable(info):
            print("unraisable:", info.exc_value, info.object, flush=True)
            os._exit(3)

        sys.unraisablehook = unraisable
        done = []

        def render():
            for _ in range(100):
                try:
                    with time_limit(0.005):
                        while True:
                            with time_limit(60):
                                pass
                except RenderTimeout as exc:
                    assert "still running after 0.005 s" in str(exc), repr(exc)
                    done.append(1)

        worker = threading.Thread(target=render)
        worker.start()
        worker.join()
        print(len(done))
        """
    result = python_until_it_ends(
        script, deadline=240, hang="a thread hung starting an inner time limit's timer"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["100"], result.stdout + result.stderr
