"""Nightly regeneration: decide by the NYSE calendar, run once per closed session, install units.

``scheduled_refresh`` is what the platform scheduler runs (``refresh --scheduled``). It asks the
exchange calendar (holidays and early closes, via ``exchange_calendars``) for the last session
that has closed; if the state file says that session was already processed it logs "nothing to
do" and returns without touching anything. Otherwise it takes the vault lock, checks the state
again (a run started at the same moment may have just done it), refreshes, and records the
session. A run that could only use stale data (a live fetch failed) or that failed is not
recorded as done, so the next scheduled run tries again.

The unit generators are pure functions: systemd user timer + service (Linux), launchd agent
(macOS), Task Scheduler XML (Windows), a crontab line elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import plistlib
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import platformdirs

from rotation_notes.vault.files import read_regular
from rotation_notes.vault.lock import state_dir, vault_key, vault_lock

log = logging.getLogger(__name__)

#: Daily bars settle a little after the close; a scheduled run waits that long.
SETTLE = dt.timedelta(minutes=30)
NOW_ENV = "ROTATION_NOTES_NOW"  # tests only: pretend it is this instant (ISO 8601)


class Calendar:
    """The NYSE session calendar (``exchange_calendars`` XNYS)."""

    def __init__(self) -> None:
        import exchange_calendars as xcals

        self._cal = xcals.get_calendar("XNYS")

    def last_closed_session(self, now: dt.datetime) -> dt.date | None:
        """The latest session whose close (early closes included) settled by ``now``."""
        sched = self._cal.schedule
        closes = sched["close"]
        settled = closes[closes + SETTLE <= now.astimezone(dt.UTC)]
        return settled.index[-1].date() if len(settled) else None


def now_utc() -> dt.datetime:
    fake = os.environ.get(NOW_ENV)
    if fake:
        return dt.datetime.fromisoformat(fake.replace("Z", "+00:00"))
    return dt.datetime.now(dt.UTC)


# --- state ---------------------------------------------------------------------------------


def state_file(root: Path) -> Path:
    return state_dir() / "scheduled" / f"{vault_key(root)}.json"


def read_state(root: Path) -> dict[str, Any]:
    try:
        return json.loads(state_file(root).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def write_state(root: Path, state: dict[str, Any]) -> None:
    path = state_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def log_file() -> Path:
    """The scheduled runs' rotating log (``ROTATION_NOTES_LOG`` overrides it)."""
    env = os.environ.get("ROTATION_NOTES_LOG")
    if env:
        return Path(env)
    return Path(platformdirs.user_log_dir("rotation-notes", appauthor=False)) / "scheduled.log"


def attach_run_log() -> Path:
    """Scheduled runs also log to a rotating file in the platform log folder."""
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("rotation_notes").addHandler(handler)
    return path


# --- the scheduled run ---------------------------------------------------------------------


@dataclass
class ScheduledResult:
    did_work: bool
    session: dt.date | None
    exit_code: int
    message: str


def scheduled_refresh(
    root: Path,
    run_refresh: Callable[[dt.date], tuple[int, bool]],
    *,
    now: dt.datetime,
    calendar: Calendar,
    wait: float = 600.0,
) -> ScheduledResult:
    """Refresh once per closed NYSE session.

    ``run_refresh(session)`` returns (exit code, complete): complete when the data was live and
    reaches the session. The state is written while the lock is held, so a run waiting for the
    lock always sees what the run before it did.
    """
    session = calendar.last_closed_session(now)
    state = read_state(root)
    done = state.get("last_session")
    if session is None or (done and dt.date.fromisoformat(done) >= session):
        msg = f"nothing to do: no new session since {done or session}"
        log.info(msg)
        return ScheduledResult(False, session, 0, msg)
    with vault_lock(root, wait=wait):
        state = read_state(root)  # a run started at the same moment may have done it
        done = state.get("last_session")
        if done and dt.date.fromisoformat(done) >= session:
            msg = f"nothing to do: session {session} was just processed by another run"
            log.info(msg)
            return ScheduledResult(False, session, 0, msg)
        code, complete = run_refresh(session)
        if code == 0 and complete:
            msg = f"refreshed for session {session}" + (f" (caught up from {done})" if done else "")
        elif code == 0:
            msg = f"refreshed for session {session} from stale data; will try again next run"
        else:
            msg = f"refresh for session {session} failed (exit {code}); will try again next run"
        record_run(root, now, session, code, msg, done=code == 0 and complete)
    log.info(msg)
    return ScheduledResult(True, session, code, msg)


def record_run(
    root: Path, now: dt.datetime, session: dt.date | None, code: int, msg: str, *, done: bool
) -> None:
    """Write what a scheduled run did (what ``schedule status`` reports)."""
    state = read_state(root)
    state.update(
        {
            "vault": str(root),
            "last_run": now.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
            "last_exit_code": code,
            "last_attempted_session": session.isoformat() if session else None,
            "last_outcome": msg,
        }
    )
    if done and session is not None:
        state["last_session"] = session.isoformat()
    write_state(root, state)


# --- platform units ------------------------------------------------------------------------

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class UnitSpec:
    vault: Path
    at: str  # HH:MM
    tz: str  # IANA zone the time is in
    python: str  # absolute path of the interpreter

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.vault.name.lower()).strip("-") or "vault"
        return f"rotation-notes-{slug}-{vault_key(self.vault)[:6]}"

    @property
    def command(self) -> list[str]:
        return [self.python, "-m", "rotation_notes", "refresh", "--scheduled", str(self.vault)]

    def hour_minute(self) -> tuple[int, int]:
        m = _TIME.fullmatch(self.at)
        if not m:
            raise ValueError(f"--at {self.at!r}: use HH:MM, e.g. 18:30")
        return int(m.group(1)), int(m.group(2))

    def local_hour_minute(self, today: dt.date | None = None) -> tuple[int, int]:
        """The time in this machine's zone (launchd and Task Scheduler use local time)."""
        h, m = self.hour_minute()
        day = today or dt.date.today()
        there = dt.datetime.combine(day, dt.time(h, m), tzinfo=ZoneInfo(self.tz))
        here = there.astimezone()
        return here.hour, here.minute


def _quote_systemd(arg: str) -> str:
    arg = arg.replace("%", "%%")  # systemd expands %-specifiers in ExecStart
    return (
        '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if re.search(r"\s|\"", arg)
        else arg
    )


def _systemd_text(value: object) -> str:
    return str(value).replace("%", "%%")


def systemd_units(spec: UnitSpec) -> dict[str, str]:
    h, m = spec.hour_minute()
    service = (
        "[Unit]\n"
        f"Description=rotation-notes nightly refresh of {_systemd_text(spec.vault)}\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"ExecStart={' '.join(_quote_systemd(a) for a in spec.command)}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=rotation-notes nightly refresh of {_systemd_text(spec.vault)} "
        f"({spec.at} {spec.tz})\n\n"
        "[Timer]\n"
        f"OnCalendar=*-*-* {h:02d}:{m:02d}:00 {spec.tz}\n"
        "Persistent=true\nRandomizedDelaySec=120\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return {f"{spec.name}.service": service, f"{spec.name}.timer": timer}


def output_log(log_path: Path) -> Path:
    """Where launchd/cron send the process's own stdout/stderr (not the rotating log itself)."""
    return log_path.with_name("scheduled-output.log")


def launchd_plist(spec: UnitSpec, log_path: Path) -> dict[str, str]:
    h, m = spec.local_hour_minute()
    label = "com.github.rotation-notes." + spec.name
    body = plistlib.dumps(
        {
            "Label": label,
            "ProgramArguments": spec.command,
            "StartCalendarInterval": {"Hour": h, "Minute": m},
            "StandardOutPath": str(output_log(log_path)),
            "StandardErrorPath": str(output_log(log_path)),
            "RunAtLoad": False,
        }
    ).decode()
    return {f"{label}.plist": body}


def windows_task_xml(spec: UnitSpec) -> dict[str, str]:
    h, m = spec.local_hour_minute()
    args = " ".join(f'"{a}"' if " " in a else a for a in spec.command[1:])
    body = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>rotation-notes nightly refresh of {escape(str(spec.vault))}</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T{h:02d}:{m:02d}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <ExecutionTimeLimit>PT1H</ExecutionTimeLimit>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(spec.python)}</Command>
      <Arguments>{escape(args)}</Arguments>
    </Exec>
  </Actions>
</Task>
"""
    return {f"{spec.name}.xml": body}


def cron_line(spec: UnitSpec, log_path: Path) -> dict[str, str]:
    h, m = spec.hour_minute()
    # cron ends a command at an unescaped %; shlex quoting handles quotes in names
    cmd = " ".join(shlex.quote(a).replace("%", "\\%") for a in spec.command)
    out = shlex.quote(str(output_log(log_path))).replace("%", "\\%")
    body = (
        f"# rotation-notes nightly refresh of {spec.vault}\n"
        f"CRON_TZ={spec.tz}\n{m} {h} * * * {cmd} >> {out} 2>&1\n"
    )
    return {"crontab": body}


def units_for(platform: str, spec: UnitSpec, log_path: Path) -> dict[str, str]:
    for what, value in (("the vault's path", spec.vault), ("the log's path", log_path)):
        text = str(value)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            # a line break would start a line of its own in a unit file or a crontab
            raise ValueError(f"{what} {text!r} holds a control character; rename that folder")
    return {
        "linux": lambda: systemd_units(spec),
        "macos": lambda: launchd_plist(spec, log_path),
        "windows": lambda: windows_task_xml(spec),
        "cron": lambda: cron_line(spec, log_path),
    }[platform]()


#: Every unit rotation-notes writes says this (a Description, a comment or the label).
UNIT_MARK = "rotation-notes nightly refresh of "


def foreign_units(folder: Path, names: Iterable[str]) -> list[Path]:
    """Files at our unit names that rotation-notes did not write: never replaced or removed."""
    out = []
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        try:
            raw = read_regular(path, 1_000_000)
        except OSError:
            out.append(path)
            continue
        texts = [raw.decode("utf-8", "replace")]
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            texts.append(raw.decode("utf-16", "replace"))
        if not any(UNIT_MARK in t or "com.github.rotation-notes." in t for t in texts):
            out.append(path)
    return out


def current_platform() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "cron"


def unit_dir(platform: str) -> Path:
    home = Path.home()
    if platform == "linux":
        base = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
        return base / "systemd" / "user"
    if platform == "macos":
        return home / "Library" / "LaunchAgents"
    return state_dir() / "units"
