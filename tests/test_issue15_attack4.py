"""Attacks on the SIGALRM render time limit (sandbox._alarm_limit).

* A process started with SIGALRM blocked (the mask is inherited across fork and exec) never
  gets the alarm: an endless template loop ran on for ever, where the timer thread stopped it.
* A SIGALRM handler installed outside Python (a host program embedding it, a preloaded
  library) reads as None: putting it "back" raised TypeError, so the render failed as a
  template error and the host's handler was lost.
* An alarm that comes as the block exits (in a context manager's ``__exit__``, before its
  generator resumes) raised there: the generator's clean-up was skipped, the handler stayed,
  and when the exception was freed the stale clean-up disarmed whatever timer was armed then,
  such as the next render's limit. Seen for real: 21 of 20,000 renders timed at 2 ms.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import THESIS, python_until_it_ends
from rotation_notes.output.sandbox import RenderTimeout, time_limit

posix_alarm = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no setitimer")

#: The loops below spin until the limit stops them, or fail the test after this long.
GIVE_UP = 60.0


def spin() -> None:
    end = time.monotonic() + GIVE_UP
    while time.monotonic() < end:
        pass
    pytest.fail("the time limit never fired")


def run_python(
    script: str, extra_env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    return python_until_it_ends(
        script,
        deadline=GIVE_UP + 120,
        hang="the run hung (an endless loop never stopped?)",
        extra_env=extra_env,
        **kwargs,
    )


@posix_alarm
def test_an_endless_loop_is_stopped_with_sigalrm_blocked():
    # In a fresh process: no other thread the kernel could hand the signal to instead.
    result = run_python(
        f"""
        import signal, sys, time
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})  # as a parent left it
        from rotation_notes.output.sandbox import RenderTimeout, time_limit
        end = time.monotonic() + {GIVE_UP}
        try:
            with time_limit(0.2):
                while time.monotonic() < end:
                    pass
        except RenderTimeout as exc:
            print("stopped:", exc)
        else:
            print("never stopped")
        assert signal.SIGALRM in signal.pthread_sigmask(signal.SIG_BLOCK, ())  # left as it was
        """
    )
    assert result.returncode == 0, result.stderr
    assert "stopped: still running after 0.2 s" in result.stdout, result.stdout


@posix_alarm
def test_the_cli_stops_an_endless_template_loop_when_started_with_sigalrm_blocked(make_vault):
    loop = (
        "{% if long.ticker == 'IWM' %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% endfor %}{% endfor %}{% endif %}"
    )
    other = THESIS.replace("label: Small caps", "label: Value").replace(
        "ticker: IWM", "ticker: IWN"
    )
    vault = make_vault({"t.md": THESIS, "u.md": other, "_tpl/headline.md.j2": "H\n" + loop + "\n"})
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\ntemplates_dir = "_tpl"\n'
    )
    before = (vault / "t.md").read_bytes()
    script = f"""
        import sys
        from rotation_notes.output import sandbox
        sandbox.TIME_LIMIT = 1.0
        from rotation_notes.cli import main
        sys.exit(main(["refresh", {str(vault)!r}, "--as-of", "2026-02-04"]))
        """
    block = lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # noqa: E731
    result = run_python(script, preexec_fn=block)
    assert result.returncode == 2, result.stderr
    assert "template stopped at a limit: still running after 1 s" in result.stdout + result.stderr
    assert (vault / "t.md").read_bytes() == before
    assert "updated    u.md" in result.stdout + result.stderr


@posix_alarm
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_a_sigalrm_handler_installed_outside_python_is_kept(tmp_path):
    source = tmp_path / "host.c"
    source.write_text(
        "#include <signal.h>\n#include <unistd.h>\n"
        'static void on_alarm(int s) { (void)s; write(2, "host handler\\n", 13); }\n'
        "__attribute__((constructor)) static void install(void) { signal(SIGALRM, on_alarm); }\n"
    )
    lib = tmp_path / "host.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    result = run_python(
        """
        import signal
        assert signal.getsignal(signal.SIGALRM) is None  # installed before Python started
        from rotation_notes.output.sandbox import time_limit
        with time_limit(5):
            sum(range(1000))
        print("rendered")
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # the host's own alarm
        signal.pause()
        """,
        extra_env={"LD_PRELOAD": str(lib)},
    )
    assert result.returncode == 0, result.stderr
    assert "rendered" in result.stdout
    assert "host handler" in result.stderr  # still the host's, not the render's


def _alarm_as_the_block_exits():
    """A profile hook that runs the armed alarm's handler at the first instruction of the
    first context manager ``__exit__`` called, with that frame: what CPython does when the
    timer expires there (its handler runs with the frame the signal interrupted)."""
    gen_exit = contextlib._GeneratorContextManager.__exit__.__code__

    def hook(frame, event, arg):
        if event == "call" and frame.f_code is gen_exit:
            sys.setprofile(None)
            signal.setitimer(signal.ITIMER_REAL, 0)  # it has just expired
            signal.getsignal(signal.SIGALRM)(signal.SIGALRM, frame)

    return hook


@posix_alarm
def test_an_alarm_as_the_block_exits_puts_the_handler_back_and_says_why():
    calls: list[int] = []

    def mine(signum: int, frame: object) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        with (
            pytest.raises(RenderTimeout, match=r"still running after 30 s") as info,
            time_limit(30),
        ):
            sum(range(1000))
            sys.setprofile(_alarm_as_the_block_exits())
        assert info.value is not None  # the error is still held (a report keeps it)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert calls == []
    finally:
        sys.setprofile(None)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@posix_alarm
def test_an_alarm_as_the_block_exits_does_not_later_disarm_another_render():
    held: list[BaseException] = []
    try:
        try:
            with time_limit(30):
                sys.setprofile(_alarm_as_the_block_exits())
        except RenderTimeout as exc:
            held.append(exc)  # kept for a while, as a caller may
        assert held
        with pytest.raises(RenderTimeout, match=r"still running after 0\.2 s"), time_limit(0.2):
            held.clear()  # the first error is freed while the next render runs...
            gc.collect()
            spin()  # ...and this one must still be stopped
    finally:
        sys.setprofile(None)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
