"""Command line: parse, call one library function, map errors to exit codes.

Exit codes (also in README.md): 0 everything refreshed; 1 ``--check`` found a
note or chart that would change; 2 a note failed, or bad usage; 130
interrupted. Heavy modules are imported inside commands so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rotation_notes import __version__
from rotation_notes.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, RotationNotesError

log = logging.getLogger("rotation_notes")

EPILOG_REFRESH = """\
examples:
  rotation-notes refresh vault_sample
  rotation-notes refresh ~/Vault --note "Theses/Small cap rotation 2026.md" --as-of 2026-02-04
  rotation-notes refresh ~/Vault --check      # exit 1 if anything is stale (for CI or hooks)
  rotation-notes refresh ~/Vault --init       # insert the generated regions a thesis lacks

exit codes: 0 refreshed, 1 --check found changes, 2 a note failed or bad usage, 130 interrupted
"""


def _date(text: str) -> dt.date:
    from rotation_notes.thesis.spec import MAX_DATE, MIN_DATE

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise argparse.ArgumentTypeError(f"{day} is outside {MIN_DATE} to {MAX_DATE}")
    return day


def _seconds(text: str) -> float:
    """A duration: a finite number of seconds, 0 or more ("nan" would wait forever)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value > 86_400:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds from 0 to 86400")
    return value


def _positive_minutes(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be more than 0 minutes")
    return value


def _vault_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "vault",
        nargs="?",
        type=Path,
        default=Path("."),
        help="the vault (the folder holding .obsidian/, or one inside it); default: current folder",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rotation-notes",
        description="Keep the figures, tables and charts of Obsidian thesis notes current.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # -v/-q before or after the command; SUPPRESS keeps a subcommand's default from
    # overwriting what was given before it
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    common = argparse.ArgumentParser(add_help=False)
    for flags, helptext in (
        (("-v", "--verbose"), "log debug detail"),
        (("-q", "--quiet"), "only errors on stderr"),
    ):
        common.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=helptext)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser(
        "refresh",
        parents=[common],
        help="re-render every thesis note of a vault",
        description="Re-render the generated regions and charts of every thesis note in VAULT. "
        "Only the lines between rotation-notes markers change.",
        epilog=EPILOG_REFRESH,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _vault_argument(r)
    r.add_argument(
        "--note",
        action="append",
        type=Path,
        metavar="PATH",
        dest="notes",
        help="refresh only this note (repeatable)",
    )
    r.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="render as of this date, using only data up to its session",
    )
    r.add_argument(
        "--offline",
        action="store_true",
        help="use only data the vault or cache already holds; no network",
    )
    r.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any note or chart would change",
    )
    r.add_argument(
        "--diff",
        action="store_true",
        help="write nothing; print unified diffs of what would change",
    )
    r.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    r.add_argument(
        "--init",
        action="store_true",
        help="insert the generated regions a thesis note lacks (docs/regions.md)",
    )
    r.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="read prices from a folder of SYMBOL.csv files (Date, Close columns)",
    )
    r.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="the price cache folder (default: the platform's user cache dir)",
    )
    r.add_argument(
        "--lock-wait",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another run writing this vault (default 60)",
    )
    r.add_argument(
        "--scheduled",
        action="store_true",
        help="what the nightly scheduler runs: refresh only if a new NYSE session has closed "
        "since the last scheduled run (see 'rotation-notes schedule')",
    )
    r.set_defaults(func=cmd_refresh)

    sc = sub.add_parser(
        "schedule",
        help="install, remove or show the nightly regeneration",
        description="Write the platform's scheduler unit that runs 'refresh --scheduled' nightly: "
        "a systemd user timer (Linux), a launchd agent (macOS), a Task Scheduler task "
        "(Windows), or a crontab line.",
    )
    ssub = sc.add_subparsers(dest="schedule_command", metavar="ACTION")
    ssub.required = True
    for action, helptext in (
        ("install", "write (and enable) the unit"),
        ("uninstall", "disable and remove the unit"),
        ("status", "is it installed, when did it last run, and what happened"),
    ):
        a = ssub.add_parser(action, parents=[common], help=helptext, description=helptext)
        _vault_argument(a)
        a.add_argument(
            "--at",
            default="18:30",
            metavar="HH:MM",
            help="time of day to run (default 18:30, after the US close)",
        )
        a.add_argument(
            "--tz",
            default="America/New_York",
            metavar="ZONE",
            help="time zone of --at (default America/New_York)",
        )
        a.add_argument(
            "--platform",
            choices=("linux", "macos", "windows", "cron"),
            help="which scheduler (default: this machine's)",
        )
        a.add_argument(
            "--print",
            action="store_true",
            dest="print_only",
            help="show the unit instead of writing it",
        )
        a.add_argument(
            "--no-activate",
            action="store_true",
            help="write the files but do not call systemctl/launchctl/schtasks",
        )
        a.set_defaults(func=cmd_schedule)

    w = sub.add_parser(
        "watch",
        parents=[common],
        help="keep thesis notes current as the vault changes",
        description="Refresh every thesis note once, then re-render a note when it is saved, "
        "when a note it links to changes, or when a template override changes. "
        "Ctrl-C (or SIGTERM) finishes the write in progress and exits 130.",
    )
    _vault_argument(w)
    w.add_argument(
        "--poll",
        action="store_true",
        help="poll for changes (macOS network drives, some synced folders)",
    )
    w.add_argument(
        "--debounce",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="re-render this long after the last change to a note (default 0.5)",
    )
    w.add_argument(
        "--prices-every",
        type=_positive_minutes,
        metavar="MINUTES",
        help="refresh prices on this interval (default: after each US market close)",
    )
    w.add_argument("--offline", action="store_true", help="never touch the network")
    w.add_argument("--data", type=Path, metavar="DIR", help="read prices from this CSV folder")
    w.add_argument("--cache", type=Path, metavar="DIR", help="the price cache folder")
    w.set_defaults(func=cmd_watch)

    d = sub.add_parser(
        "data",
        help="the market-data cache: status, fetch",
        description="Inspect or fill the price cache without touching notes.",
    )
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    for action, helptext, func in (
        (
            "status",
            "per symbol: first and last cached session, last fetch and outcome",
            cmd_data_status,
        ),
        ("fetch", "fetch every thesis symbol into the cache (no note is written)", cmd_data_fetch),
    ):
        a = dsub.add_parser(action, parents=[common], help=helptext, description=helptext)
        _vault_argument(a)
        a.add_argument("--cache", type=Path, metavar="DIR", help="the price cache folder")
        a.set_defaults(func=func)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rotation-notes: %(levelname)s: %(message)s"))
    root = logging.getLogger("rotation_notes")
    root.handlers[:] = [handler]
    root.setLevel(
        logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    )
    root.propagate = False
    # Other libraries' words never reach the terminal raw. A Python warning (matplotlib,
    # pandas, numpy: ``warnings.warn``) becomes a ``py.warnings`` log record, and what
    # libraries log themselves (matplotlib reading a matplotlibrc in the current folder)
    # would otherwise go to ``logging.lastResort``, printed bare. Both are shown, prefixed,
    # only with -v; a library's error always.
    logging.captureWarnings(True)
    others = logging.getLogger()
    theirs = logging.StreamHandler(sys.stderr)
    theirs.setFormatter(logging.Formatter("rotation-notes: %(levelname)s: %(name)s: %(message)s"))
    theirs.set_name("rotation-notes")
    others.handlers[:] = [h for h in others.handlers if h.get_name() != "rotation-notes"]
    others.addHandler(theirs)
    others.setLevel(logging.WARNING if args.verbose else logging.ERROR)


def cmd_refresh(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rotation_notes.refresh import RefreshOptions, refresh

    options = RefreshOptions(
        notes=args.notes,
        as_of=args.as_of,
        offline=args.offline,
        check=args.check,
        diff=args.diff,
        init=args.init,
        data_dir=args.data,
        cache_dir=args.cache,
    )
    bar: tqdm | None = None

    def progress(done: int, total: int, rel: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                file=sys.stderr,
                disable=None,
                delay=0.5,
                leave=False,
                unit="note",
                desc="refreshing",
            )
        bar.set_postfix_str(rel[-40:], refresh=False)
        bar.update(1 if done else 0)

    from rotation_notes.vault.lock import vault_lock
    from rotation_notes.vault.vault import find_vault_root

    root = find_vault_root(args.vault)
    if args.scheduled:
        return _scheduled(args, root, options)
    try:
        if options.dry_run:  # reads only: no need to wait for a writer
            report = refresh(root, options, progress=progress)
        else:
            with vault_lock(root, wait=args.lock_wait):
                report = refresh(root, options, progress=progress)
    finally:
        if bar is not None:
            bar.close()

    dry = options.dry_run
    if not args.quiet:
        for n in report.notes:
            if n.status == "failed":
                print(f"failed     {n.error}", file=sys.stderr)
                continue
            verb = "would update" if dry and n.status == "updated" else n.status
            when = f" (as of {n.as_of})" if n.as_of else ""
            print(f"{verb:<10} {n.path}{when}", file=sys.stderr)
            for w in n.warnings:
                print(f"  warning: {w}", file=sys.stderr)
        counts = {
            s: sum(n.status == s for n in report.notes) for s in ("updated", "unchanged", "failed")
        }
        if not report.notes:
            print(f"no thesis notes in {report.vault}", file=sys.stderr)
        else:
            print(
                f"{counts['updated']} {'would update' if dry else 'updated'}, "
                f"{counts['unchanged']} unchanged, {counts['failed']} failed",
                file=sys.stderr,
            )
    else:
        for n in report.notes:
            if n.status == "failed":
                print(f"failed     {n.error}", file=sys.stderr)
    if args.diff:
        for n in report.notes:
            if n.diff:
                sys.stdout.write(n.diff)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return report.exit_code(args.check)


def _scheduled(args: argparse.Namespace, root: Path, options) -> int:  # noqa: ANN001

    from rotation_notes.refresh import refresh
    from rotation_notes.schedule import (
        Calendar,
        attach_run_log,
        now_utc,
        record_run,
        scheduled_refresh,
    )

    if options.check or options.diff or options.as_of or options.notes or options.init:
        print(
            "rotation-notes: error: --scheduled refreshes the whole vault as of today; "
            "it cannot be combined with --check, --diff, --as-of, --note or --init",
            file=sys.stderr,
        )
        return EXIT_FAILED
    path = attach_run_log()
    logging.getLogger("rotation_notes").setLevel(logging.INFO)
    log.info("scheduled run for %s (log: %s)", root, path)

    def run(session: dt.date) -> tuple[int, bool]:
        report = refresh(root, options)
        for n in report.notes:
            log.info("%s %s%s", n.status, n.path, f": {n.error}" if n.error else "")
        sources = report.data.values()
        # any symbol from a fallback (a failed fetch, --offline) leaves the session to retry
        live = not any(d.get("message") for d in sources)
        # live data must also reach the session (Yahoo settles after the calendar's close)
        reaches = all(
            (d.get("last_session") or "") >= session.isoformat()
            for d in sources
            if d.get("kind") in ("live", "cache") and not d.get("message")
        )
        return report.exit_code(False), live and reaches

    now = now_utc()
    try:
        result = scheduled_refresh(root, run, now=now, calendar=Calendar(), wait=args.lock_wait)
    except Exception as exc:  # e.g. the vault is busy, a bad data_dir; recorded, then reported
        log.error("scheduled run failed: %s", exc)
        record_run(root, now, None, EXIT_FAILED, f"failed: {exc}", done=False)
        raise
    print(result.message, file=sys.stderr)
    return result.exit_code


def _open_cache(args: argparse.Namespace):  # noqa: ANN202 - lazy import keeps --help fast
    from rotation_notes.errors import UsageError
    from rotation_notes.prices.cache import PriceCache
    from rotation_notes.prices.sources import cache_dir_for
    from rotation_notes.vault.vault import Vault

    try:
        vault = Vault.open(args.vault)
    except UsageError:
        vault = None  # the cache is usable without a vault
    # About the cache itself: one that cannot be used is an error here, not a fallback.
    return vault, PriceCache(cache_dir_for(vault, args.cache), fallback=False)


def cmd_watch(args: argparse.Namespace) -> int:
    import datetime as dt

    from rotation_notes.prices.sources import make_provider
    from rotation_notes.prices.yahoo import last_closed_session
    from rotation_notes.refresh import RefreshOptions, refresh
    from rotation_notes.vault.lock import vault_lock
    from rotation_notes.vault.vault import Vault
    from rotation_notes.watch import MemoryPrices, Watcher

    watch_log = logging.getLogger("rotation_notes.watch")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    watch_log.handlers[:] = [handler]
    watch_log.setLevel(logging.ERROR if args.quiet else logging.INFO)
    watch_log.propagate = False

    vault = Vault.open(args.vault)
    prices = MemoryPrices(
        make_provider(vault, offline=args.offline, data_dir=args.data, cache_dir=args.cache)
    )

    def render(rels: list[str] | None):  # noqa: ANN202
        options = RefreshOptions(
            candidates=rels, offline=args.offline, data_dir=args.data, cache_dir=args.cache
        )
        with vault_lock(vault.root, wait=10.0):  # one writer: a scheduled run may be at work
            return refresh(vault.root, options, provider=prices)

    live = not (args.offline or args.data or vault.config.provider == "bundled")
    session = [last_closed_session(dt.datetime.now(dt.UTC))]

    def prices_tick() -> list[str]:
        if args.prices_every is None:
            latest = last_closed_session(dt.datetime.now(dt.UTC))
            if latest <= session[0]:
                return []
            session[0] = latest
            why = f"after the close of {latest}"
        else:
            why = f"every {args.prices_every:g} min"
        try:
            count = prices.reload()
        except Exception as exc:  # noqa: BLE001 - keep watching with the prices held
            log.debug("price reload failed", exc_info=True)
            watch_log.info("prices not refreshed (%s): %s; keeping the ones held", why, exc)
            return []
        watch_log.info("prices refreshed (%s): %d symbols", why, count)
        return ["prices"]

    import signal

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # main() turns it into exit 130; writes clean up their temp file

    signal.signal(signal.SIGTERM, interrupted)  # until the watcher installs its own handlers
    watch_log.info("refreshing every thesis note in %s", vault.root)
    initial = render(None)
    for n in initial.notes:
        if n.status == "failed":
            watch_log.info("failed %s (trigger: start): %s", n.path, n.error)
        else:
            watch_log.info("%s %s (trigger: start)", n.status, n.path)
    watcher = Watcher(
        vault.root,
        render,
        debounce=args.debounce,
        poll=args.poll,
        templates_dir=vault.config.templates_dir,
        on_tick=prices_tick if live else None,
        tick_every=60.0 if args.prices_every is None else args.prices_every * 60,
    )
    return watcher.run(initial)


def cmd_schedule(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from rotation_notes.errors import UsageError
    from rotation_notes.schedule import (
        UnitSpec,
        current_platform,
        foreign_units,
        log_file,
        read_state,
        state_file,
        unit_dir,
        units_for,
    )
    from rotation_notes.vault.vault import find_vault_root

    try:
        root = find_vault_root(args.vault)
    except UsageError:
        if args.schedule_command == "install":
            raise
        root = Path(args.vault).expanduser().resolve()  # a vault moved or deleted since
    platform = args.platform or current_platform()
    spec = UnitSpec(root, args.at, args.tz, str(Path(sys.executable).absolute()))
    try:
        ZoneInfo(args.tz)
        spec.hour_minute()
        units = units_for(platform, spec, log_file())
    except (ValueError, KeyError, ZoneInfoNotFoundError) as exc:
        print(
            f"rotation-notes: error: {exc} (--at HH:MM, --tz an IANA zone like America/New_York)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    folder = unit_dir(platform)

    failures = 0

    def run(cmd: list[str]) -> None:
        nonlocal failures
        if args.no_activate or args.print_only or not shutil.which(cmd[0]):
            print(
                f"to {'run' if args.print_only else 'activate'}: {' '.join(cmd)}", file=sys.stderr
            )
            return
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            failures += 1
            print(f"{' '.join(cmd)} failed: {done.stderr.strip()}", file=sys.stderr)

    if args.schedule_command == "install":
        if args.print_only:
            for name, body in units.items():
                print(f"# {folder / name}\n{body}")
            return 0
        foreign = foreign_units(folder, units)
        if foreign:
            print(
                f"rotation-notes: error: {', '.join(map(str, foreign))} exists and was not "
                "written by rotation-notes; not replaced. Move it away, or install for "
                "another vault folder name",
                file=sys.stderr,
            )
            return EXIT_FAILED
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in units.items():
            # Task Scheduler XML declares (and schtasks expects) UTF-16
            encoding = "utf-16" if name.endswith(".xml") else "utf-8"
            (folder / name).write_text(body, encoding=encoding)
            print(f"wrote {folder / name}", file=sys.stderr)
        first = folder / next(iter(units))
        if platform == "linux":
            run(["systemctl", "--user", "daemon-reload"])
            run(["systemctl", "--user", "enable", "--now", f"{spec.name}.timer"])
            print("to run while logged out: loginctl enable-linger $USER", file=sys.stderr)
        elif platform == "macos":
            run(["launchctl", "load", "-w", str(first)])
        elif platform == "windows":
            run(["schtasks", "/Create", "/TN", spec.name, "/XML", str(first), "/F"])
        else:
            print(
                f"add it to your crontab: (crontab -l; cat '{first}') | crontab -", file=sys.stderr
            )
        return EXIT_FAILED if failures else 0
    if args.schedule_command == "uninstall":
        if platform == "linux":
            run(["systemctl", "--user", "disable", "--now", f"{spec.name}.timer"])
        elif platform == "macos":
            run(["launchctl", "unload", "-w", str(folder / next(iter(units)))])
        elif platform == "windows":
            run(["schtasks", "/Delete", "/TN", spec.name, "/F"])
        foreign = foreign_units(folder, units)
        for name in units:
            if folder / name in foreign:
                failures += 1
                print(
                    f"not removed {folder / name}: not written by rotation-notes", file=sys.stderr
                )
                continue
            if args.print_only:
                print(f"would remove {folder / name}")
                continue
            (folder / name).unlink(missing_ok=True)
            print(f"removed {folder / name}", file=sys.stderr)
        return EXIT_FAILED if failures else 0
    installed = [str(folder / n) for n in units if (folder / n).exists()]
    print(f"unit: {', '.join(installed) if installed else 'not installed'}")
    state = read_state(root)
    if not state:
        print(f"last run: never (state: {state_file(root)})")
    else:
        print(f"last run: {state.get('last_run')} (exit {state.get('last_exit_code')})")
        print(f"last session processed: {state.get('last_session', 'none yet')}")
        print(f"outcome: {state.get('last_outcome')}")
    path = log_file()
    if path.exists():
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        print(f"log ({path}):")
        for line in tail:
            print(f"  {line}")
    return 0


def cmd_data_status(args: argparse.Namespace) -> int:
    _, cache = _open_cache(args)
    rows = cache.status()
    print(f"cache: {cache.path}")
    if cache.moved_aside:
        print(f"it could not be read: moved aside to {cache.moved_aside}; this is a fresh cache")
    if not rows:
        print("empty: nothing fetched yet ('rotation-notes data fetch VAULT' fills it)")
        return 0
    print(f"{'symbol':<8} {'first':<10} {'last':<10} {'rows':>6}  last fetch")
    for r in rows:
        f = r.last_fetch
        fetch = f"{f.fetched_at} {f.outcome} ({f.provider})" if f else "never"
        if f and f.message and f.outcome.startswith("failed"):
            fetch += f": {f.message[:80]}"
        print(f"{r.symbol:<8} {r.first or '-':<10} {r.last or '-':<10} {r.rows:>6}  {fetch}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from rotation_notes.prices.cache import PriceCache
    from rotation_notes.prices.sources import cache_dir_for
    from rotation_notes.prices.yahoo import YahooProvider
    from rotation_notes.refresh import thesis_symbols

    vault, symbols, failed = thesis_symbols(args.vault)
    for n in failed:
        print(f"skipped    {n.error}", file=sys.stderr)
    if not symbols:
        print(f"no thesis notes in {vault.root}", file=sys.stderr)
        return EXIT_FAILED if failed else 0
    provider = YahooProvider(PriceCache(cache_dir_for(vault, args.cache), fallback=False))
    prices = provider.load(symbols)
    if not provider.cache.persistent:  # it failed mid-fetch (disk full, locked): say so
        print(f"rotation-notes: error: {provider.cache.problem}", file=sys.stderr)
        return EXIT_FAILED
    bad = 0
    for s in symbols:
        src = prices.sources.get(s)
        if s in prices.unknown:
            bad += 1
            print(f"{s:<8} failed: {prices.unknown[s]}", file=sys.stderr)
        elif src is None:
            bad += 1
            print(f"{s:<8} failed: {prices.missing.get(s, 'no data')}", file=sys.stderr)
        elif src.message:
            bad += 1
            print(f"{s:<8} {src.message}; cache holds data to {src.last_session}", file=sys.stderr)
        else:
            what = "fetched" if src.kind == "live" else "already current"
            print(f"{s:<8} {what}, data to {src.last_session}", file=sys.stderr)
    print(
        f"{len(symbols) - bad} of {len(symbols)} symbols current in {provider.cache.path}",
        file=sys.stderr,
    )
    return EXIT_FAILED if bad or failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    _configure_logging(args)
    try:
        return int(args.func(args))
    except RotationNotesError as exc:
        print(f"rotation-notes: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rotation-notes: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``refresh --json | head``): the work is done, stay quiet.
        # Python would print a traceback flushing stdout at exit; point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: one line, never exit 1 ("--check found")
        log.debug("internal error", exc_info=True)
        print(
            f"rotation-notes: internal error: {type(exc).__name__}: {exc} "
            "(run with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
