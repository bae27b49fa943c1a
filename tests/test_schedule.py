"""Nightly regeneration: the NYSE calendar decides, runs happen once per session, units validate."""

from __future__ import annotations

import configparser
import datetime as dt
import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import NO_NETWORK, SAMPLE_NOTE, run_main
from rotation_notes.errors import RotationNotesError
from rotation_notes.schedule import (
    UnitSpec,
    cron_line,
    launchd_plist,
    read_state,
    scheduled_refresh,
    systemd_units,
    windows_task_xml,
    write_state,
)

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Counting:
    def __init__(self, result=(0, True)):
        self.calls, self.result = 0, result

    def __call__(self, session):
        self.calls += 1
        return self.result


def test_weekend_and_holiday_do_nothing(tmp_path):
    write_state(tmp_path, {"last_session": "2026-11-20"})
    run = Counting()
    r = scheduled_refresh(tmp_path, run, now=at("2026-11-22T23:00"))
    assert (r.did_work, r.exit_code, run.calls) == (False, 0, 0)
    assert r.message == "nothing to do: no new session since 2026-11-20"
    write_state(tmp_path, {"last_session": "2026-11-25"})
    r = scheduled_refresh(tmp_path, run, now=at("2026-11-26T23:00"))
    assert (r.did_work, run.calls) == (False, 0)
    assert r.message == "nothing to do: no new session since 2026-11-25"


def test_work_once_after_a_close_then_nothing(tmp_path):
    write_state(tmp_path, {"last_session": "2026-11-25"})
    run = Counting()
    r = scheduled_refresh(tmp_path, run, now=at("2026-11-27T19:00"))
    assert (r.did_work, r.session, run.calls) == (True, dt.date(2026, 11, 27), 1)
    assert read_state(tmp_path)["last_session"] == "2026-11-27"
    again = scheduled_refresh(tmp_path, run, now=at("2026-11-28T03:00"))
    assert (again.did_work, run.calls) == (False, 1)


def test_catch_up_after_missed_days_runs_once(tmp_path):
    write_state(tmp_path, {"last_session": "2026-11-18"})
    run = Counting()
    r = scheduled_refresh(tmp_path, run, now=at("2026-11-24T15:00"))
    assert run.calls == 1 and r.session == dt.date(2026, 11, 23)
    assert r.message == "refreshed for session 2026-11-23 (caught up from 2026-11-18)"
    scheduled_refresh(tmp_path, run, now=at("2026-11-24T16:00"))
    assert run.calls == 1


def test_stale_or_failed_runs_are_retried_next_time(tmp_path):
    write_state(tmp_path, {"last_session": "2026-11-20"})
    stale = Counting((0, False))
    r = scheduled_refresh(tmp_path, stale, now=at("2026-11-24T03:00"))
    assert "from stale data; will try again" in r.message
    assert read_state(tmp_path)["last_session"] == "2026-11-20"
    failed = Counting((2, True))
    r = scheduled_refresh(tmp_path, failed, now=at("2026-11-24T04:00"))
    assert r.exit_code == 2 and failed.calls == 1
    assert read_state(tmp_path)["last_session"] == "2026-11-20"


def test_two_scheduled_runs_at_once_refresh_once(sample_vault):
    (sample_vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\nprovider = "bundled"\n'
    )
    env = {**os.environ, **NO_NETWORK, "ROTATION_NOTES_NOW": "2026-08-24T23:00:00Z"}
    cmd = [sys.executable, "-m", "rotation_notes", "refresh", "--scheduled", str(sample_vault)]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    # the outcome is the run's last line, said once (the log line), not repeated bare
    final = [o.strip().splitlines()[-1].removeprefix("rotation-notes: INFO: ") for o in outs]
    assert all(o.count(line) == 1 for o, line in zip(outs, final, strict=True)), outs
    assert sum(line == "refreshed for session 2026-08-24" for line in final) == 1, final
    assert sum(line.startswith("nothing to do") for line in final) == 1, final
    text = (sample_vault / SAMPLE_NOTE).read_text()
    assert (
        text.count("%% rotation-notes:setup %%") == text.count("%% /rotation-notes:setup %%") == 1
    )
    log = Path(os.environ["ROTATION_NOTES_LOG"]).read_text()
    assert "scheduled run for" in log and "refreshed for session 2026-08-24" in log


def spec() -> UnitSpec:
    return UnitSpec(
        Path("/home/u/My Vault"), "18:30", "America/New_York", str(Path(sys.executable).absolute())
    )


def test_systemd_units(tmp_path):
    units = systemd_units(spec())
    timer = configparser.ConfigParser(strict=False)
    timer.read_string(next(b for n, b in units.items() if n.endswith(".timer")))
    assert timer["Timer"]["OnCalendar"] == "*-*-* 18:30:00 America/New_York"
    assert timer["Timer"]["Persistent"] == "true"
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read_string(next(b for n, b in units.items() if n.endswith(".service")))
    assert service["Service"]["ExecStart"].startswith(str(Path(sys.executable).absolute()))
    assert service["Service"]["ExecStart"].endswith('refresh --scheduled "/home/u/My Vault"')
    if shutil.which("systemd-analyze"):
        for name, body in units.items():
            (tmp_path / name).write_text(body)
        done = subprocess.run(
            ["systemd-analyze", "verify", *map(str, tmp_path.iterdir())],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


def test_launchd_plist(tmp_path):
    ((name, body),) = launchd_plist(spec(), tmp_path / "log").items()
    plist = plistlib.loads(body.encode())
    assert name == plist["Label"] + ".plist"
    assert plist["ProgramArguments"][0] == str(Path(sys.executable).absolute())
    assert plist["ProgramArguments"][-2:] == ["--scheduled", "/home/u/My Vault"]
    assert set(plist["StartCalendarInterval"]) == {"Hour", "Minute"}


def test_windows_task_xml():
    ((_, body),) = windows_task_xml(spec()).items()
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    root = ET.fromstring(body.encode("utf-16"))
    assert root.find("t:Settings/t:StartWhenAvailable", ns).text == "true"
    assert root.find("t:Actions/t:Exec/t:Command", ns).text == str(Path(sys.executable).absolute())
    assert '"/home/u/My Vault"' in root.find("t:Actions/t:Exec/t:Arguments", ns).text
    assert root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByDay/t:DaysInterval", ns).text == "1"


def test_cron_line(tmp_path):
    body = cron_line(spec(), tmp_path / "log")["crontab"]
    assert "CRON_TZ=America/New_York\n30 18 * * * " in body
    assert "--scheduled '/home/u/My Vault'" in body


def test_schedule_cli_install_status_uninstall(sample_vault, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    shown = run_main("schedule", "install", sample_vault, "--platform", "linux", "--print")
    assert shown.returncode == 0 and "OnCalendar=*-*-* 18:30:00 America/New_York" in shown.stdout
    assert not (tmp_path / "config").exists()  # --print writes nothing
    inst = run_main(
        "schedule", "install", sample_vault, "--platform", "linux", "--at", "19:05", "--no-activate"
    )
    assert inst.returncode == 0, inst.stderr
    assert "loginctl enable-linger" in inst.stderr
    (timer,) = (tmp_path / "config" / "systemd" / "user").glob("*.timer")
    assert "OnCalendar=*-*-* 19:05:00 America/New_York" in timer.read_text()
    status = run_main("schedule", "status", sample_vault, "--platform", "linux", "--at", "19:05")
    assert str(timer) in status.stdout and "last run: never" in status.stdout
    gone = run_main(
        "schedule",
        "uninstall",
        sample_vault,
        "--platform",
        "linux",
        "--at",
        "19:05",
        "--no-activate",
    )
    assert gone.returncode == 0 and not timer.exists()
    assert run_main("schedule", "install", sample_vault, "--at", "25:00", "--print").returncode == 2


def test_a_second_writer_gets_a_clear_message(sample_vault):
    from rotation_notes.vault.lock import vault_lock

    before = (sample_vault / SAMPLE_NOTE).read_bytes()
    with vault_lock(sample_vault, wait=0):
        busy = run_main("refresh", sample_vault, "--as-of", "2026-02-04", "--lock-wait", "0.5")
    assert busy.returncode == 2
    assert "another rotation-notes run is writing this vault (waited 0.5 s)" in busy.stderr
    assert (sample_vault / SAMPLE_NOTE).read_bytes() == before
    assert run_main("refresh", sample_vault, "--as-of", "2026-02-04").returncode == 0


def test_state_is_written_before_the_lock_is_released(tmp_path, monkeypatch):
    """A run waiting for the lock must see the previous run's state (no refresh twice)."""
    from rotation_notes import schedule
    from rotation_notes.vault import lock

    held_during_write = []
    real_write = schedule.write_state

    def spy(root, state):
        probe = lock.FileLock(str(lock.lock_path(root)))
        try:
            probe.acquire(timeout=0)
            probe.release()
            held_during_write.append(False)
        except lock.Timeout:
            held_during_write.append(True)
        real_write(root, state)

    monkeypatch.setattr(schedule, "write_state", spy)
    write_state(tmp_path, {"last_session": "2026-11-20"})
    held_during_write.clear()
    scheduled_refresh(tmp_path, Counting(), now=at("2026-11-24T03:00"))
    assert held_during_write == [True]


def test_scheduled_cli_guards(sample_vault, tmp_path, monkeypatch):
    bad = run_main("refresh", "--scheduled", sample_vault, "--check")
    assert bad.returncode == 2 and "cannot be combined with --check" in bad.stderr
    tz = run_main("schedule", "install", sample_vault, "--tz", "Mars/Olympus", "--print")
    assert tz.returncode == 2 and "IANA zone" in tz.stderr
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run_main("schedule", "install", sample_vault, "--platform", "linux", "--no-activate")
    (timer,) = (tmp_path / "config" / "systemd" / "user").glob("*.timer")
    dry = run_main("schedule", "uninstall", sample_vault, "--platform", "linux", "--print")
    assert dry.returncode == 0 and f"would remove {timer}" in dry.stdout and timer.exists()
    moved = tmp_path / "moved"
    shutil.move(sample_vault, moved)  # the vault is gone from where the unit points
    gone = run_main("schedule", "uninstall", sample_vault, "--platform", "linux", "--no-activate")
    assert gone.returncode == 0 and not timer.exists()


def test_a_busy_scheduled_run_is_logged_and_recorded(sample_vault):
    from rotation_notes.vault.lock import vault_lock

    env = {"ROTATION_NOTES_NOW": "2026-08-24T23:00:00Z"}
    with vault_lock(sample_vault, wait=0):
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "rotation_notes",
                "refresh",
                "--scheduled",
                str(sample_vault),
                "--lock-wait",
                "0.5",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
    assert busy.returncode == 2
    state = read_state(sample_vault.resolve())
    assert state["last_exit_code"] == 2 and "another rotation-notes run" in state["last_outcome"]
    assert "scheduled run failed: " in Path(os.environ["ROTATION_NOTES_LOG"]).read_text()
    status = run_main("schedule", "status", sample_vault)
    assert "last run: 2026-08-24T23:00:00+00:00 (exit 2)" in status.stdout


def report_with(sources, missing=()):
    from rotation_notes.refresh import RefreshReport

    report = RefreshReport(Path("."), [])
    report.sources = dict(sources)
    report.data = {s: src.to_json() for s, src in sources.items()}
    report.data.update({s: {"kind": "missing", "message": "no data"} for s in missing})
    return report


def test_a_run_is_complete_by_status_never_by_message_text():
    from rotation_notes.prices.marketdata import SymbolSource
    from rotation_notes.schedule import data_complete

    session = dt.date(2026, 11, 27)

    def src(kind="live", last="2026-11-27", status="ok", message=""):
        return SymbolSource("p", kind, last, message, status=status)

    assert data_complete(report_with({"IWM": src(), "QQQ": src("cache")}), session)
    # bundled data is what such a vault asks for: complete whatever its last session
    assert data_complete(report_with({"IWM": src("bundled", "2026-08-21")}), session)
    for status in ("offline", "partial", "fallback"):
        # the status decides, whatever the message says (here: nothing)
        assert not data_complete(report_with({"IWM": src(status=status)}), session), status
    assert not data_complete(report_with({"IWM": src("cache", "2026-11-25")}), session)
    assert not data_complete(report_with({"IWM": src()}, missing=["QQQ"]), session)


def test_units_install_status_uninstall_in_process(tmp_path, monkeypatch, make_vault):
    from rotation_notes.errors import UsageError
    from rotation_notes.schedule import Units, install, status, uninstall

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    vault = make_vault({})
    units = Units.plan(vault, "19:05", "America/New_York", "linux", must_exist=True)
    out: list[str] = []
    err: list[str] = []
    assert install(units, print_only=False, activate=False, out=out.append, err=err.append) == 0
    timer = next(p for p in units.paths if p.suffix == ".timer")
    assert "OnCalendar=*-*-* 19:05:00 America/New_York" in timer.read_text()
    assert f"wrote {timer}" in err and any(e.startswith("to activate: systemctl") for e in err)
    out.clear()
    assert status(units, out=out.append) == 0
    assert out[0] == f"unit: {', '.join(map(str, units.paths))}"
    out.clear()
    assert uninstall(units, print_only=True, activate=True, out=out.append, err=err.append) == 0
    assert f"would remove {timer}" in out and timer.exists()
    assert uninstall(units, print_only=False, activate=False, out=out.append, err=err.append) == 0
    assert not timer.exists()
    timer.parent.mkdir(parents=True, exist_ok=True)
    timer.write_text("[Timer]\nOnCalendar=hourly\n")  # the user's own file at our name
    with pytest.raises(RotationNotesError, match="was not written by rotation-notes"):
        install(units, print_only=False, activate=False, out=out.append, err=err.append)
    with pytest.raises(UsageError, match="IANA zone"):
        Units.plan(vault, "18:30", "Mars/Olympus", "linux", must_exist=True)
    gone = Units.plan(tmp_path / "moved", "18:30", "UTC", "linux", must_exist=False)
    assert gone.spec.vault == (tmp_path / "moved").resolve()
    with pytest.raises(UsageError):
        Units.plan(tmp_path / "moved", "18:30", "UTC", "linux", must_exist=True)
