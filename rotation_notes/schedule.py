"""Nightly regeneration: decide by the NYSE calendar, run once per closed session, install units.

``scheduled_refresh`` is what the platform scheduler runs (``refresh --scheduled``). It asks the
exchange calendar (holidays and early closes, via ``exchange_calendars``) for the last session
that has closed; if the state file says that session was already processed it logs "nothing to
do" and returns without touching anything. Otherwise it takes the vault lock, checks the state
again (a run started at the same moment may have just done it), refreshes, and records the
session. A run that could only use stale data (a live fetch failed) or that failed is not
recorded as done, so the next scheduled run tries again.

Whether a run was complete is ``data_complete``, decided by each symbol's status. The session
comes from the one market clock (``clock.py``).

The unit generators are pure functions: systemd user timer + service (Linux), launchd agent
(macOS), Task Scheduler XML (Windows), a crontab line elsewhere. ``install``, ``uninstall`` and
``status`` write, enable, remove and report them (the only subprocess calls: systemctl,
launchctl, schtasks); they say what they do through the ``out``/``err`` callables they are given.
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
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import platformdirs

from rotation_notes.clock import last_closed_session, now_utc
from rotation_notes.errors import EXIT_FAILED
from rotation_notes.vault.files import read_regular
from rotation_notes.vault.lock import state_dir, vault_key, vault_lock

if TYPE_CHECKING:
    from rotation_notes.refresh import RefreshOptions, RefreshReport

log = logging.getLogger(__name__)


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
    wait: float = 600.0,
) -> ScheduledResult:
    """Refresh once per closed NYSE session.

    ``run_refresh(session)`` returns (exit code, complete): complete when the data was live and
    reaches the session. The state is written while the lock is held, so a run waiting for the
    lock always sees what the run before it did.
    """
    session = last_closed_session(now)
    state = read_state(root)
    done = state.get("last_session")
    if done and dt.date.fromisoformat(done) >= session:
        msg = f"nothing to do: no new session since {done}"
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


def data_complete(report: RefreshReport, session: dt.date) -> bool:
    """Whether a run's prices let ``session`` count as processed.

    Decided by each symbol's ``SymbolSource.status``, never by its message: every symbol
    was found, none is from a fallback (a failed fetch), an offline run or a partial range;
    and live or cached data reaches the session (Yahoo settles after the calendar's close).
    """
    if set(report.data) - set(report.sources):  # a symbol missing, or unknown to the provider
        return False
    reached = session.isoformat()
    return all(
        src.complete and (src.kind not in ("live", "cache") or (src.last_session or "") >= reached)
        for src in report.sources.values()
    )


def run_scheduled(
    root: Path, options: RefreshOptions, *, wait: float, now: dt.datetime | None = None
) -> ScheduledResult:
    """What ``refresh --scheduled`` does: refresh the vault once per closed session.

    A run that fails before it can say how (a busy vault, a bad setting) is recorded as
    failed, then the error goes on to the caller.
    """
    from rotation_notes.refresh import log_warnings, refresh

    now = now or now_utc()

    def run(session: dt.date) -> tuple[int, bool]:
        report = refresh(root, options)
        for n in report.notes:
            if n.status == "failed":
                log.error("failed %s: %s", n.path, n.error)
            else:
                log.info("%s %s", n.status, n.path)
        log_warnings(log, report.notes)  # what refresh prints under its notes
        return report.exit_code(False), data_complete(report, session)

    try:
        return scheduled_refresh(root, run, now=now, wait=wait)
    except Exception as exc:  # recorded, then reported by the caller
        log.error("scheduled run failed: %s", exc)
        record_run(root, now, None, EXIT_FAILED, f"failed: {exc}", done=False)
        raise


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


# --- install, uninstall, status ------------------------------------------------------------

Say = Callable[[str], None]


@dataclass(frozen=True)
class Units:
    """The units one vault's schedule consists of, on one platform."""

    spec: UnitSpec
    platform: str
    folder: Path
    bodies: dict[str, str]  # file name -> contents

    @classmethod
    def plan(
        cls, vault: Path, at: str, tz: str, platform: str | None, *, must_exist: bool
    ) -> Units:
        """The units for ``vault``; a UsageError for a bad ``--at`` or ``--tz``.

        Without ``must_exist`` (uninstall, status) a vault moved or deleted since the
        install is named by the path given.
        """
        from zoneinfo import ZoneInfoNotFoundError

        from rotation_notes.errors import UsageError
        from rotation_notes.vault.vault import find_vault_root

        try:
            root = find_vault_root(vault)
        except UsageError:
            if must_exist:
                raise
            root = Path(vault).expanduser().resolve()
        platform = platform or current_platform()
        spec = UnitSpec(root, at, tz, str(Path(sys.executable).absolute()))
        try:
            ZoneInfo(tz)
            spec.hour_minute()
            bodies = units_for(platform, spec, log_file())
        except (ValueError, KeyError, ZoneInfoNotFoundError) as exc:
            raise UsageError(
                f"{exc} (--at HH:MM, --tz an IANA zone like America/New_York)"
            ) from None
        return cls(spec, platform, unit_dir(platform), bodies)

    @property
    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.bodies]


class _Commands:
    """Runs the scheduler's own commands (systemctl, launchctl, schtasks), or says them."""

    def __init__(self, *, dry: bool, print_only: bool, err: Say, info: Say) -> None:
        self.dry, self.print_only, self.err, self.info = dry, print_only, err, info
        self.failures = 0

    def __call__(self, cmd: list[str]) -> None:
        import shutil
        import subprocess

        if self.dry or not shutil.which(cmd[0]):
            self.info(f"to {'run' if self.print_only else 'activate'}: {' '.join(cmd)}")
            return
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            self.failures += 1
            self.err(f"{' '.join(cmd)} failed: {done.stderr.strip()}")


def install(
    units: Units, *, print_only: bool, activate: bool, out: Say, err: Say, info: Say | None = None
) -> int:
    """Write the units (and enable them); exit 2 if a scheduler command failed.

    ``err`` says what failed; ``info`` (``err`` by default; silent with ``-q``) the rest.
    """
    from rotation_notes.errors import RotationNotesError

    info = info or err

    folder = units.folder
    if print_only:
        for path, body in zip(units.paths, units.bodies.values(), strict=True):
            out(f"# {path}\n{body}")
        return 0
    foreign = foreign_units(folder, units.bodies)
    if foreign:
        raise RotationNotesError(
            f"{', '.join(map(str, foreign))} exists and was not written by rotation-notes; "
            "not replaced. Move it away, or install for another vault folder name"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for path, body in zip(units.paths, units.bodies.values(), strict=True):
        # Task Scheduler XML declares (and schtasks expects) UTF-16
        encoding = "utf-16" if path.name.endswith(".xml") else "utf-8"
        path.write_text(body, encoding=encoding)
        info(f"wrote {path}")
    run = _Commands(dry=not activate, print_only=False, err=err, info=info)
    first, name = units.paths[0], units.spec.name
    if units.platform == "linux":
        run(["systemctl", "--user", "daemon-reload"])
        run(["systemctl", "--user", "enable", "--now", f"{name}.timer"])
        info("to run while logged out: loginctl enable-linger $USER")
    elif units.platform == "macos":
        run(["launchctl", "load", "-w", str(first)])
    elif units.platform == "windows":
        run(["schtasks", "/Create", "/TN", name, "/XML", str(first), "/F"])
    else:
        info(f"add it to your crontab: (crontab -l; cat '{first}') | crontab -")
    return EXIT_FAILED if run.failures else 0


def uninstall(
    units: Units, *, print_only: bool, activate: bool, out: Say, err: Say, info: Say | None = None
) -> int:
    """Disable and remove the units; a unit rotation-notes did not write is never removed."""
    info = info or err
    run = _Commands(dry=print_only or not activate, print_only=print_only, err=err, info=info)
    name = units.spec.name
    if units.platform == "linux":
        run(["systemctl", "--user", "disable", "--now", f"{name}.timer"])
    elif units.platform == "macos":
        run(["launchctl", "unload", "-w", str(units.paths[0])])
    elif units.platform == "windows":
        run(["schtasks", "/Delete", "/TN", name, "/F"])
    failures = run.failures
    foreign = foreign_units(units.folder, units.bodies)
    for path in units.paths:
        if path in foreign:
            failures += 1
            err(f"not removed {path}: not written by rotation-notes")
            continue
        if print_only:
            out(f"would remove {path}")
            continue
        path.unlink(missing_ok=True)
        info(f"removed {path}")
    return EXIT_FAILED if failures else 0


def status(units: Units, *, out: Say) -> int:
    """Whether the units are installed, when the last scheduled run was, what it did."""
    installed = [str(p) for p in units.paths if p.exists()]
    out(f"unit: {', '.join(installed) if installed else 'not installed'}")
    root = units.spec.vault
    state = read_state(root)
    if not state:
        out(f"last run: never (state: {state_file(root)})")
    else:
        out(f"last run: {state.get('last_run')} (exit {state.get('last_exit_code')})")
        out(f"last session processed: {state.get('last_session', 'none yet')}")
        out(f"outcome: {state.get('last_outcome')}")
    path = log_file()
    if path.exists():
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        out(f"log ({path}):")
        for line in tail:
            out(f"  {line}")
    return 0
