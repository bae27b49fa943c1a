"""-v/-q are global options: they work before the command and after it, for every command,
and -q leaves only errors on stderr in every mode (scheduled runs and the watcher included)."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys

import pytest

from conftest import SAMPLE, THESIS, THESIS_FRONTMATTER, run_cli, run_main
from rotation_notes.cli import build_parser

BROKEN = THESIS_FRONTMATTER + "# T\n\n%% rotation-notes:setup %%\n"  # never closed


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple]:
    """Every runnable command, as the words that name it (e.g. ("schedule", "install"))."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.extend(commands(sub, (*prefix, name)))
    return out or [prefix]


def required_args(words: tuple[str, ...]) -> list[str]:
    """A placeholder for each positional argument the command requires (adopt's NOTE)."""
    parser = build_parser()
    for word in words:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return [
        "x.md"
        for a in parser._actions
        if not a.option_strings and a.required and a.nargs not in ("?", "*")
    ]


def positions(words: tuple[str, ...], flag: str) -> list[list[str]]:
    """The flag before the command, after it, and between a command group and its action."""
    rest = required_args(words)
    return [[*words[:i], flag, *words[i:], *rest] for i in range(len(words) + 1)]


@pytest.mark.parametrize("words", commands(build_parser()), ids=" ".join)
@pytest.mark.parametrize("flag, dest", [("-q", "quiet"), ("--quiet", "quiet"), ("-v", "verbose")])
def test_every_command_takes_the_global_options_anywhere(words, flag, dest):
    """Every command (one added later too): the flag before, between and after its words."""
    parser = build_parser()
    for argv in positions(words, flag):
        args = parser.parse_args(argv)
        assert getattr(args, dest) is True, argv
        other = {"quiet": "verbose", "verbose": "quiet"}[dest]
        assert getattr(args, other) is False, argv
    assert parser.parse_args([*words, *required_args(words)]).quiet is False


def test_the_commands_are_all_there():
    """What the subprocess tests below cover (a new command needs a run of its own there)."""
    found = {" ".join(w) for w in commands(build_parser())}
    assert found == {
        "refresh",
        "watch",
        "schedule install",
        "schedule uninstall",
        "schedule status",
        "data status",
        "data fetch",
        "adopt",
    }


def where(position: str, words: list[str], *rest: str) -> list[str]:
    return ["-q", *words, *rest] if position == "before" else [*words, "-q", *rest]


POSITIONS = ["before", "after"]


@pytest.fixture
def vault(make_vault):
    return make_vault({"t.md": THESIS, "bad.md": BROKEN})


@pytest.mark.parametrize("position", POSITIONS)
def test_refresh_quiet_says_only_what_failed(vault, position):
    loud = run_main("refresh", vault, "--offline")
    assert "  warning: Offline run" in loud.stderr and "updated    t.md" in loud.stderr
    result = run_main(*where(position, ["refresh"], str(vault), "--offline"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("failed     bad.md:19: region 'setup' is never closed")


@pytest.mark.parametrize("position", POSITIONS)
def test_a_quiet_scheduled_run_prints_nothing_and_still_logs(
    tmp_path, monkeypatch, isolated_cache, position
):
    """Yahoo unreachable: INFO lines (fetch failed, the fallback used) go to the log only."""
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE, vault)
    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-08-24T23:00:00Z")
    log = tmp_path / "scheduled.log"
    monkeypatch.setenv("ROTATION_NOTES_LOG", str(log))
    result = run_cli(*where(position, ["refresh"], "--scheduled", str(vault)))
    assert (result.returncode, result.stderr) == (0, "")
    text = log.read_text(encoding="utf-8")
    assert "INFO IWM: live fetch failed" in text
    assert "INFO refreshed for session 2026-08-24 from stale data" in text


@pytest.mark.parametrize("position", POSITIONS)
def test_a_quiet_scheduled_run_still_says_what_failed(vault, monkeypatch, position):
    monkeypatch.setenv("ROTATION_NOTES_NOW", "2026-08-24T23:00:00Z")
    result = run_cli(*where(position, ["refresh"], "--scheduled", str(vault), "--offline"))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(
        "rotation-notes: ERROR: failed bad.md: bad.md:19: region 'setup' is never closed"
    )
    assert lines[1] == ("refresh for session 2026-08-24 failed (exit 2); will try again next run")


@pytest.mark.parametrize("position", POSITIONS)
def test_schedule_actions_quiet(vault, position):
    opts = ("--platform", "cron", "--no-activate")
    loud = run_main("schedule", "install", vault, *opts)
    assert loud.returncode == 0 and "wrote " in loud.stderr
    for action in ("install", "status", "uninstall"):
        result = run_main(*where(position, ["schedule", action], str(vault), *opts))
        assert (result.returncode, result.stderr) == (0, ""), action
        if action == "status":
            assert result.stdout.startswith("unit: ")  # the answer itself is on stdout


@pytest.mark.parametrize("position", POSITIONS)
def test_data_commands_quiet(vault, tmp_path, position):
    cache = str(tmp_path / "c")
    fetch = run_main(*where(position, ["data", "fetch"], str(vault), "--cache", cache))
    assert fetch.returncode == 2  # Yahoo is unreachable: every line is a failure
    lines = fetch.stderr.splitlines()
    assert lines and all(" failed: " in ln or ln.startswith("skipped") for ln in lines), lines
    assert not any("symbols current" in ln for ln in lines)
    status = run_main(*where(position, ["data", "status"], str(vault), "--cache", cache))
    assert (status.returncode, status.stderr) == (0, "")
    assert "IWM " in status.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("position", POSITIONS)
def test_watch_quiet_logs_only_failures(vault, position):
    from test_watch import WatchProc

    class QuietWatch(WatchProc):
        """The watcher with -q before or after ``watch``."""

        def __init__(self) -> None:
            import os
            import subprocess
            import threading

            from conftest import NO_NETWORK

            env = {**os.environ, **NO_NETWORK, "PYTHONUNBUFFERED": "1"}
            env.pop("ROTATION_NOTES_TEST_HOOK", None)
            args = where(position, ["watch"], str(vault), "--offline", "--debounce", "0.3")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rotation_notes", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            self.lines: list[str] = []
            self.cond = threading.Condition()
            threading.Thread(target=self._read, daemon=True).start()

    w = QuietWatch()
    try:
        w.wait_for(r"failed bad\.md \(trigger: start\)")
        # Saves of the broken note: their failure is logged once the watcher watches. Nothing
        # else is (no "watching"), so it is saved again until a save is seen, as a user would.
        for attempt in range(100):
            mark = w.mark()
            (vault / "bad.md").write_text(BROKEN + f"edit {attempt}\n", encoding="utf-8")
            try:
                w.wait_for(r"failed bad\.md \(trigger: saved\)", timeout=5, after=mark)
                break
            except AssertionError:
                continue
        assert w.count(r"\(trigger: saved\)") >= 1
        assert w.stop(signal.SIGTERM) == 130
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
    # errors only: none of the lines a watcher logs without -q
    info = ("refreshing every thesis", "watching ", " t.md (trigger: ", "stopped: ", "deferred ")
    assert not [line for line in w.lines if any(what in line for what in info)], w.lines
    assert w.count(r" failed bad\.md \(trigger: start\)") == 1


@pytest.mark.parametrize("position", POSITIONS)
def test_adopt_quiet(tmp_path, position):
    """The hand-kept note adopted with -q: it is written, and nothing is said on stderr."""
    from test_adopt import HAND, NAME, vault_with

    root = vault_with(tmp_path, {NAME: HAND.read_bytes()})
    loud = run_main("adopt", root / NAME)
    assert loud.returncode == 0 and "nothing written" in loud.stderr
    args = ("--write", "--create-catalysts")
    result = run_main(*where(position, ["adopt"], str(root / NAME), *args))
    assert (result.returncode, result.stderr) == (0, "")
    assert "rotation-notes:" in (root / NAME).read_text(encoding="utf-8")
