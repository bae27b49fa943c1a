"""Limits for rendering templates a vault brings with it.

Jinja's ``SandboxedEnvironment`` stops a template from reaching Python
internals, but not from running forever or building a gigantic string. A vault
can be shared or synced from someone else, so its templates get four limits:

* **Time**: a render runs at most ``TIME_LIMIT`` seconds, so an endless loop in
  a template ends with an error. In the main thread on POSIX an interval timer
  (``setitimer``) raises ``RenderTimeout`` from its ``SIGALRM`` handler; in any
  other thread, or where another timer is armed, the signal is blocked or its
  handler was installed outside Python, a timer thread raises it
  inside the rendering thread (CPython's ``PyThreadState_SetAsyncExc``). Both
  are checked between bytecodes and cost nothing unless they fire; the alarm
  also starts no thread (a run renders ~9 templates per note, and starting and
  joining a thread each time cost a 100-thesis run seconds on a busy machine).
* **Output**: a region's text is streamed and cut at ``MAX_OUTPUT`` characters.
* **Values**: operators and calls that multiply data in one step (``'x' * n``,
  ``n ** m``, ``s.ljust(n)``, ``s|indent(n)``, ``s.replace(a, b)``, joins, format
  widths) are checked *before* they run, and refused if the result would be
  larger than ``MAX_VALUE`` characters or items. Results of every call and
  filter are checked after.
* **Work**: all the values one render builds may hold ``WORK_LIMIT``
  characters or items together, so a loop building a fresh big string on each
  pass stops early on every platform.
* **Memory** (Linux, where the kernel enforces it): while a template renders,
  the process's address space may grow by at most ``MEMORY_LIMIT`` bytes, so
  a single C-level operation the checks above did not foresee fails with
  MemoryError instead of exhausting the machine.

Each breach is a ``RenderLimitError`` naming the limit; the caller reports it
as a template error with the template's file and line, and the note is left
untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment

from rotation_notes.errors import RotationNotesError

log = logging.getLogger(__name__)

#: Seconds one region's template may run.
TIME_LIMIT = 10.0
#: Characters one region may produce.
MAX_OUTPUT = 1_000_000
#: Characters (or items) any single value a template builds may hold.
MAX_VALUE = 1_000_000
#: Bits an integer a template builds may have (about 30,000 digits).
MAX_INT_BITS = 100_000
#: Characters (or items) all the values one render builds may hold together.
WORK_LIMIT = 50_000_000
#: Bytes the address space may grow by during one render (Linux only).
MEMORY_LIMIT = 1 << 30

_BIG_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more
_NESTED_FIELD = re.compile(r"\{[^{}]*:[^{}]*\{")  # '{:{}}': a width from an argument
_STAR_WIDTH = re.compile(r"%[-+ #0]*\*|%[-+ #0]*\d*\.\*")  # '%*d', '%.*f'


class RenderLimitError(RotationNotesError):
    """A template went over one of the render limits."""

    def __init__(self, message: str = "a render limit was reached") -> None:
        # raised by class in the rendering thread too (``time_limit``): no argument then
        super().__init__(message)


class RenderTimeout(RenderLimitError):
    pass


def _size(value: Any, depth: int = 0) -> int:
    """How big a value is: characters of text, bytes of an integer, and for a container its
    items plus what they hold (two levels deep), so ``[s] * n`` weighs ``n * len(s)``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        bits = value.bit_length()
        if bits > MAX_INT_BITS:
            raise RenderLimitError(f"an integer of {bits:,} bits (limit {MAX_INT_BITS:,})")
        return bits // 8
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        n = len(value)
        if depth >= 2 or n > MAX_VALUE:
            return n
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        return n + sum(_size(v, depth + 1) for v in items)
    return 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(number: int) -> str:
    bits = number.bit_length()
    return f"{number:,}" if bits < 64 else f"an integer of {bits:,} bits"


def _refuse(what: str, size: float) -> None:
    if size > MAX_VALUE:
        raise RenderLimitError(
            f"{what} would hold {size:,.0f} characters or items (limit {MAX_VALUE:,} for one value)"
        )


class _Budget(threading.local):
    used = 0


_budget = _Budget()


def _check_result(value: Any, what: str) -> Any:
    size = _size(value)
    _refuse(what, size)
    # Every value built counts against the render's budget, so a loop that
    # builds a fresh big string on each pass stops long before memory runs out.
    _budget.used += size
    if _budget.used > WORK_LIMIT:
        raise RenderLimitError(
            f"built more than {WORK_LIMIT:,} characters or items of values in one render"
        )
    return value


@contextmanager
def recursion_cleanup_quiet() -> Iterator[None]:
    """While a template renders: a RecursionError raised by Python's own clean-up (a
    finalizer or a generator closed deep in a template that recursed without end) is that
    same template error, already reported as one; it is logged at debug level, not printed
    to the user's terminal as "Exception ignored in ...". Any other such error goes to the
    hook that was there before."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, RecursionError):
            log.debug("during a template's recursion error: %s", unraisable.exc_value)
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextmanager
def work_budget() -> Iterator[None]:
    """Start a render's budget of built values (``WORK_LIMIT``)."""
    saved, _budget.used = _budget.used, 0
    try:
        yield
    finally:
        _budget.used = saved


def _check_args(args: Iterable[Any], what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_VALUE:
            raise RenderLimitError(
                f"{what}: argument {_describe(arg)} is larger than {MAX_VALUE:,}"
            )


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _estimate_join(sep: Any, items: Any, what: str) -> None:
    if isinstance(items, (list, tuple)):
        total = _text_len(sep) * max(len(items) - 1, 0)
        for item in items:
            total += _text_len(item) if isinstance(item, str) else 0
            _refuse(what, total)


def _estimate_replace(text: Any, old: Any, new: Any, what: str) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        _refuse(what, len(text) + hits * max(len(new) - len(old), 0))


def _estimate_width(fmt: Any, what: str) -> None:
    if isinstance(fmt, str) and _BIG_WIDTH.search(fmt):
        raise RenderLimitError(f"{what}: a field width of a million or more")
    if isinstance(fmt, str) and _NESTED_FIELD.search(fmt):
        raise RenderLimitError(f"{what}: a width taken from an argument is not allowed")
    if isinstance(fmt, str) and _STAR_WIDTH.search(fmt):
        raise RenderLimitError(f"{what}: a width taken from an argument ('%*d') is not allowed")


def _estimate_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Pre-checks for the str methods whose result can dwarf their inputs."""
    # The sandbox hands out str.format wrapped (functools.update_wrapper).
    self_ = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(self_, str):
        return
    what = f"str.{name}()"
    if name == "join" and args:
        _estimate_join(self_, args[0], what)
    elif name == "replace" and len(args) >= 2:
        _estimate_replace(self_, args[0], args[1], what)
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            _refuse(what, len(self_) + self_.count("\t") * tab)
    elif name in ("format", "format_map"):
        _estimate_width(self_, what)


def _estimate_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    what = f"filter '{name}'"
    value = args[0] if args else None
    if name == "join" and len(args) >= 1:
        sep = args[1] if len(args) >= 2 else kwargs.get("d", "")
        items = list(value) if isinstance(value, (list, tuple)) else value
        _estimate_join(sep, items, what)
    elif name == "replace" and len(args) >= 3:
        _estimate_replace(value, args[1], args[2], what)
    elif name == "indent" and isinstance(value, str):
        width = args[1] if len(args) >= 2 else kwargs.get("width", 4)
        pad = width if isinstance(width, int) else _text_len(width)
        _refuse(what, len(value) + (value.count("\n") + 1) * pad)
    elif name == "format":
        _estimate_width(value, what)


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0

    def limited(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[skip + 1 :], f"filter '{name}'")
        _check_args(kwargs.values(), f"filter '{name}'")
        _estimate_filter(name, args[skip:], kwargs)
        return _check_result(func(*args, **kwargs), f"the result of filter '{name}'")

    # Jinja inspects these to pass the context / environment first.
    for attr in ("jinja_pass_arg",):
        if hasattr(func, attr):
            setattr(limited, attr, getattr(func, attr))
    limited.__name__ = getattr(func, "__name__", name)
    limited.__doc__ = func.__doc__
    return limited


def _checked_concat(chunks: Iterable[str]) -> str:
    """``"".join`` for captured output (macros, ``{% set %}`` blocks), sized first."""
    parts = list(chunks)
    _refuse("captured output", sum(map(len, parts)))
    return _check_result("".join(parts), "captured output")  # counts against the budget


class _LimitedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``a ~ b`` results size-checked (``~`` is not an operator
    the sandbox can intercept)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_value(")
        super().visit_Concat(node, frame)
        self.write(", '~')")


#: Compiled template code, by source and settings (templates are at most 256 KiB each).
_COMPILED: dict[tuple[Any, ...], Any] = {}
_COMPILED_MAX = 64


class LimitedSandbox(SandboxedEnvironment):
    """The sandbox, with the size checks above on operators, calls, filters and joins."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _LimitedCodeGenerator
    concat = staticmethod(_checked_concat)  # type: ignore[assignment]

    @staticmethod
    def checked_value(value: Any, operator: str) -> Any:
        return _check_result(value, f"the result of '{operator}'")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals.pop("lipsum", None)  # generates text on demand; nothing here needs it

    def compile(  # type: ignore[override]
        self,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        """Compiled once per process for the same source and settings (a watcher or a script
        rendering many notes builds a new environment per run; compiling the region
        templates was most of a small note's render). A changed template is new source, so
        it is compiled again; what it renders is unchanged."""
        if raw or not isinstance(source, str):
            return super().compile(source, name, filename, raw, defer_init)  # type: ignore[call-overload]
        key = (type(self), self._settings(), source, name, filename, defer_init)
        code = _COMPILED.get(key)
        if code is None:
            code = super().compile(source, name, filename, raw, defer_init)
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.pop(next(iter(_COMPILED)))  # the oldest
            _COMPILED[key] = code
        return code

    def _settings(self) -> tuple[Any, ...]:
        """What else shapes the compiled code (make_env sets the same for every run)."""
        return (
            self.block_start_string,
            self.block_end_string,
            self.variable_start_string,
            self.variable_end_string,
            self.comment_start_string,
            self.comment_end_string,
            self.line_statement_prefix,
            self.line_comment_prefix,
            self.trim_blocks,
            self.lstrip_blocks,
            self.newline_sequence,
            self.keep_trailing_newline,
            self.autoescape,
            self.optimized,
            tuple(sorted(self.extensions)),
        )

    def limit_filters(self) -> None:
        """Wrap every filter (call after adding the project's own)."""
        self.filters = {name: _wrap_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        what = f"'{operator}'"
        if operator == "*":
            if _is_int(left) and _is_int(right):
                bits = left.bit_length() + right.bit_length()
                if bits > MAX_INT_BITS:
                    raise RenderLimitError(
                        f"the result of {what} would have {bits:,} bits (limit {MAX_INT_BITS:,})"
                    )
            elif _is_int(right) or _is_int(left):
                sized, count = (left, right) if _is_int(right) else (right, left)
                _refuse(f"the result of {what}", _size(sized) * count)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                digits = right * math.log10(max(abs(left), 2))
                if digits > 10_000:
                    raise RenderLimitError(f"{left} ** {right} would have {digits:,.0f} digits")
        elif operator == "+":
            _refuse(f"the result of {what}", _size(left) + _size(right))
        elif operator == "%" and isinstance(left, str):
            _estimate_width(left, f"{what} formatting")
            _check_args(right if isinstance(right, tuple) else (right,), f"{what} formatting")
        return _check_result(super().call_binop(context, operator, left, right), what)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        what = f"{getattr(__obj, '__name__', 'call')}()"
        _check_args(args, what)
        _check_args(kwargs.values(), what)
        _estimate_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_result(result, f"the result of {what}")


def stream_limited(chunks: Iterator[str]) -> str:
    """Join a template's output, stopping at ``MAX_OUTPUT`` characters."""
    out: list[str] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_OUTPUT:
            raise RenderLimitError(
                f"output is longer than {MAX_OUTPUT:,} characters (a region holds a table or two)"
            )
        out.append(chunk)
    return "".join(out)


# --- time and memory -----------------------------------------------------------


def _async_raise(thread_id: int, exc: type[BaseException]) -> None:
    """Raise ``exc`` in thread ``thread_id`` at its next check. Never called to clear one
    (``exc`` None): CPython 3.11 then flags the interpreter as having an exception pending
    that no thread ever takes, and the flag stays: with a profiler or tracer set later
    (cProfile, coverage, a debugger), the next call of a Python function hangs the process.
    A pending one is taken instead (``_take_pending``)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))


def _raise_unless_busy(thread_id: int, exc: type[BaseException]) -> bool:
    """Raise ``exc`` in thread ``thread_id`` (``_async_raise``) unless it may not be raised
    there now; whether it was. Not while the thread enters or leaves a context manager (the
    rule ``_alarm_limit`` keeps: raised in ``contextlib``'s ``__exit__``, it skips the limit's
    own clean-up, and the timer thread would go on raising into whatever the thread runs
    next; in ``Condition.__enter__`` it leaves the lock held), nor while any thread is being
    started: CPython 3.11 gives a new thread its starter's id until it runs, so the exception
    would kill the new thread before it says it started, and ``Thread.start`` would wait for
    ever (a time limit inside another, in a thread). The frame is read just before the
    exception is set (the thread stays where it is while this one holds the GIL)."""
    limbo_lock = getattr(threading, "_active_limbo_lock", None)
    with limbo_lock if limbo_lock is not None else contextlib.nullcontext():
        if getattr(threading, "_limbo", None):
            return False
        frame = sys._current_frames().get(thread_id)
        if frame is not None and frame.f_code.co_name in ("__enter__", "__exit__"):
            return False
        _async_raise(thread_id, exc)
        return True


def _take_pending() -> None:
    """Nothing; called, it lets this thread's pending asynchronous exception be raised here
    (checked as a Python function starts), to be caught by the caller."""


def _alarm_free() -> bool:
    """Whether this thread may use ``SIGALRM`` for a time limit: the main thread (the only
    one Python runs signal handlers in) on a platform with ``setitimer``, with no interval
    timer already armed (someone else's: it is left alone, and the timer thread used), the
    signal not blocked (a mask inherited from the parent process: the alarm would never
    come, and an endless loop would run on) and its handler one Python can put back (a
    handler installed outside Python, by a host program or a preloaded library, reads as
    None and cannot be restored)."""
    return (
        hasattr(signal, "setitimer")
        and hasattr(signal, "pthread_sigmask")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        and signal.SIGALRM not in signal.pthread_sigmask(signal.SIG_BLOCK, ())
        and signal.getsignal(signal.SIGALRM) is not None
    )


@contextmanager
def time_limit(seconds: float | None = None) -> Iterator[None]:
    """Raise ``RenderTimeout`` in this thread if the block runs over ``seconds``
    (``TIME_LIMIT``, read at each call, by default)."""
    if seconds is None:
        seconds = TIME_LIMIT
    if _alarm_free():
        with _alarm_limit(seconds):
            yield
        return
    if sys.implementation.name != "cpython":  # pragma: no cover - no async exceptions
        yield
        return
    target = threading.get_ident()
    stop = threading.Event()
    lock = threading.Lock()  # the clean-up's 'active' store and the timer's raise: one at a time
    state = {"active": False, "fired": False}  # active: in the block (not starting the timer)

    def fire() -> None:
        pause = seconds
        while not stop.wait(pause):  # again until the block is left: it may have been swallowed
            with lock:
                if state["active"]:
                    state["fired"] = True
                    raised = _raise_unless_busy(target, RenderTimeout)
                else:
                    raised = False
            pause = _AGAIN if raised else _ALARM_RETRY

    timer = threading.Thread(target=fire, name="render time limit", daemon=True)
    timer.start()
    stopped: RenderTimeout | None = None
    try:
        state["active"] = True
        yield
    except RenderTimeout as exc:
        state["active"] = False  # first: the timer raises no more (plain stores: no check)
        if not state["fired"]:
            raise  # the template's own (a limit breached), not the timer's
        stopped = exc  # raised with its message once the timer is gone (below)
    finally:
        state["active"] = False
        while True:  # the timer's exception, as the block ends, may come in the middle of this
            try:
                with lock:  # once this is done, no more come: only one set before, taken below
                    state["active"] = False
                if state["fired"]:
                    _take_pending()  # one set and not yet raised: raised here, and dropped
                stop.set()
                # gone before the block's caller goes on: a run forks its chart workers only
                # from a process with no other thread (``refresh._Drawer``), and a render
                # leaves none behind
                timer.join()
                break
            except RenderTimeout:
                continue
    if state["fired"]:
        message = f"still running after {seconds:g} s (an endless loop?)"
        raise RenderTimeout(message).with_traceback(stopped.__traceback__ if stopped else None)


#: Seconds before an alarm that came inside a context manager's ``__enter__``/``__exit__``
#: comes again (``_alarm_limit``).
_ALARM_RETRY = 0.001
#: Seconds between a limit's exception and the next, while the block runs on: the first can
#: be swallowed where Python ignores exceptions (a ``__del__``, a weakref or garbage
#: collector callback, where the signal handler may run: "Exception ignored in ...") or by
#: a broad ``except`` in code the block calls, and a limit raised once would then never stop
#: an endless loop.
_AGAIN = 0.05


@contextmanager
def _alarm_limit(seconds: float) -> Iterator[None]:
    """``time_limit`` by ``SIGALRM``, in the main thread: no thread is started. The handler
    raises only while the block runs; an alarm that comes as the block ends is noted and
    raised once the handler and timer are put back as they were."""
    state = {"active": True, "fired": False}

    def fire(signum: int, frame: Any) -> None:
        state["fired"] = True
        if not state["active"]:
            return
        if frame is not None and frame.f_code.co_name in ("__enter__", "__exit__"):
            # Entering or leaving a context manager (this limit's own, as the block ends, or
            # one of the render's): raised here, the exception would skip its clean-up (this
            # handler and the timer would stay, and be put back whenever the exception is
            # freed, disarming whatever timer is armed then). Try again in a moment.
            signal.setitimer(signal.ITIMER_REAL, _ALARM_RETRY)
            return
        # Again, until the block is left (the clean-up below stops it): this one may be
        # swallowed (``_AGAIN``).
        signal.setitimer(signal.ITIMER_REAL, _AGAIN)
        raise RenderTimeout

    previous = signal.signal(signal.SIGALRM, fire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    except RenderTimeout as exc:
        state["active"] = False  # first: no alarm interrupts the clean-up (a plain store)
        if not state["fired"]:
            raise  # the template's own (a limit breached), not the alarm's
        message = f"still running after {seconds:g} s (an endless loop?)"
        raise RenderTimeout(message).with_traceback(exc.__traceback__) from None
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if state["fired"]:
        raise RenderTimeout(f"still running after {seconds:g} s (an endless loop?)")


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    import resource

    return pages * resource.getpagesize()


@contextmanager
def memory_limit(extra: int = MEMORY_LIMIT) -> Iterator[None]:
    """On Linux: let the address space grow by at most ``extra`` bytes in the block."""
    used = _address_space() if sys.platform.startswith("linux") else None
    if used is None:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + extra
    if (soft != resource.RLIM_INFINITY and soft <= cap) or (
        hard != resource.RLIM_INFINITY and hard < cap
    ):
        yield  # already limited more tightly by the user's own settings
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    except MemoryError as exc:
        message = f"used more than {extra >> 20:,} MiB of memory while rendering"
        raise RenderLimitError(message).with_traceback(exc.__traceback__) from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
