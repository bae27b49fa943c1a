"""Command line: parse, call one library function, print, map errors to exit codes.

Exit codes (also in README.md): 0 everything refreshed; 1 ``--check`` found a
note or chart that would change; 2 a note failed, or bad usage; 130
interrupted. A command returns its outcome's code; every error is raised, as a
``RotationNotesError`` (or a bug, or Ctrl-C/SIGTERM), and ``main`` alone turns it
into a message and a code. The logic lives in ``refresh``, ``watch`` and
``schedule``. Heavy modules are imported inside commands so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import shutil
import sys
import textwrap
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


EPILOG_ADOPT = """\
examples:
  rotation-notes adopt "Theses/Small cap rotation 2026.md"           # show the proposal
  rotation-notes adopt "Theses/Small cap rotation 2026.md" --write   # make it (backup in .trash/)
  rotation-notes refresh ~/Vault --note "Theses/Small cap rotation 2026.md"
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
        "--full",
        action="store_true",
        help="recompute every thesis and redraw every chart, whatever the last run recorded "
        "(the scan index is rebuilt; the files change only if their bytes do)",
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
        parents=[common],
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
        parents=[common],
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

    ad = sub.add_parser(
        "adopt",
        parents=[common],
        help="turn a thesis note you keep by hand into one rotation-notes keeps",
        description="Propose the rotation-notes properties for NOTE from what it already says "
        "(its tables, tickers, chart embed, catalyst links) and show the change as a diff. "
        "With --write: add the properties as text, turn the hand tables and chart embed that "
        "regions replace into regions, and save the note as it was under the vault's .trash/. "
        "Every other line stays as it is. See docs/adopt.md.",
        epilog=EPILOG_ADOPT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ad.add_argument("note", type=Path, metavar="NOTE", help="the note (a .md file in a vault)")
    ad.add_argument("--write", action="store_true", help="make the change (default: only show it)")
    ad.add_argument(
        "--create-catalysts",
        action="store_true",
        help="with --write: create the catalyst notes the note links to that do not exist yet "
        "(with empty event_start/event_end properties and nothing else)",
    )
    ad.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    ad.add_argument(
        "--lock-wait",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another run writing this vault (default 60)",
    )
    ad.set_defaults(func=cmd_adopt)
    return parser


#: The name of the handler that logs to stderr (``-q``: errors only, in every mode).
STDERR_HANDLER = "rotation-notes-stderr"


def _configure_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rotation-notes: %(levelname)s: %(message)s"))
    handler.set_name(STDERR_HANDLER)
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

    from rotation_notes.errors import UsageError
    from rotation_notes.refresh import (
        RefreshOptions,
        group_warnings,
        no_thesis_message,
        refresh,
    )

    # no monitor thread: a refresh forks chart workers, and a process with threads never forks
    tqdm.monitor_interval = 0

    if args.json and args.diff:  # both want stdout: a script would get a diff and no JSON
        raise UsageError(
            "--json and --diff cannot be combined",
            hint="--json --check reports each note that would change (status would_update); "
            "--diff prints the text",
        )
    options = RefreshOptions(
        notes=args.notes,
        as_of=args.as_of,
        offline=args.offline,
        check=args.check,
        diff=args.diff,
        init=args.init,
        data_dir=args.data,
        cache_dir=args.cache,
        use_index=not args.full,
    )
    bar: tqdm | None = None

    def progress(done: int, total: int, rel: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                file=sys.stderr,
                disable=True if args.quiet else None,
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
    if args.as_of is not None and not args.quiet:
        from rotation_notes.clock import now_utc

        today = now_utc().date()
        if args.as_of > today:  # a typo in the year, most likely: say so, render all the same
            print(
                f"rotation-notes: warning: --as-of {args.as_of} is after today ({today}): "
                "the notes are rendered as of the last session the data holds",
                file=sys.stderr,
            )
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
        own, shared = group_warnings(report.notes)
        for n in report.notes:
            if n.status == "failed":  # one that fails writing has its warnings all the same
                print(f"failed     {n.error}", file=sys.stderr)
            else:
                print(_note_line(n, dry), file=sys.stderr)
            for w in own[n.path]:
                print(f"  warning: {w}", file=sys.stderr)
        for sw in shared:  # said by several notes: once, for all of them
            print(f"warning ({sw.scope}): {sw.text}", file=sys.stderr)
        counts = {
            s: sum(n.status == s for n in report.notes)
            for s in ("updated", "would_update", "unchanged", "failed")
        }
        charts = sum(len(n.charts_changed) for n in report.notes)
        if not report.notes:
            print(no_thesis_message(report.vault, report.near_misses), file=sys.stderr)
        else:
            print(
                f"{counts['would_update']} would update, "
                if dry
                else f"{counts['updated']} updated, ",
                f"{counts['unchanged']} unchanged, {counts['failed']} failed",
                _charts_written(charts, dry),
                sep="",
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


def _note_line(n, dry: bool) -> str:  # noqa: ANN001 - a NoteReport (imported lazily)
    """A note's outcome: the note's own file first, then its charts, which change apart
    from it (a note without regions is unchanged even when its chart is drawn)."""
    verb = n.status.replace("_", " ")
    line = f"{verb:<10} {n.path}" + (f" (as of {n.as_of})" if n.as_of else "")
    if n.status == "unchanged" and n.no_regions:
        line += ": it has no rotation-notes regions ('refresh --init' inserts them)"
    return line + _charts_written(len(n.charts_changed), dry)


def _charts_written(count: int, dry: bool) -> str:
    if not count:
        return ""
    return f"; {count} chart{'s' if count != 1 else ''} {'would be ' if dry else ''}written"


def _scheduled(args: argparse.Namespace, root: Path, options) -> int:  # noqa: ANN001
    from rotation_notes.errors import UsageError
    from rotation_notes.schedule import attach_run_log, run_scheduled

    if options.check or options.diff or options.as_of or options.notes or options.init:
        raise UsageError(
            "--scheduled refreshes the whole vault as of today; "
            "it cannot be combined with --check, --diff, --as-of, --note or --init"
        )
    path = attach_run_log()
    # The run log gets every step; stderr (what the scheduler keeps) too, unless -q: errors only.
    logger = logging.getLogger("rotation_notes")
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for handler in logger.handlers:
        if handler.get_name() == STDERR_HANDLER:
            handler.setLevel(logging.ERROR if args.quiet and not args.verbose else logging.NOTSET)
    log.info("scheduled run for %s (log: %s)", root, path)
    result = run_scheduled(root, options, wait=args.lock_wait)
    if result.exit_code and args.quiet:  # else the log line above already said it on stderr
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


def _interrupt_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt (exit 130), from this moment on."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # main() turns it into exit 130; writes clean up their temp file

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupted)


def _mark_warnings(record: logging.LogRecord) -> bool:
    """The watch log says a warning is one (its other lines start with what happened:
    "updated", "failed", "watching")."""
    record.mark = "warning: " if record.levelno == logging.WARNING else ""
    return True


def cmd_watch(args: argparse.Namespace) -> int:
    _interrupt_on_signals()  # before anything slow: a stop at any moment exits 130
    watch_log = logging.getLogger("rotation_notes.watch")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(mark)s%(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_mark_warnings)
    watch_log.handlers[:] = [handler]
    watch_log.setLevel(logging.ERROR if args.quiet else logging.INFO)
    watch_log.propagate = False

    from rotation_notes.watch import run_watch

    return run_watch(
        args.vault,
        offline=args.offline,
        data_dir=args.data,
        cache_dir=args.cache,
        poll=args.poll,
        debounce=args.debounce,
        prices_every=args.prices_every,
    )


def cmd_schedule(args: argparse.Namespace) -> int:
    from rotation_notes.schedule import Units, install, status, uninstall

    units = Units.plan(
        args.vault, args.at, args.tz, args.platform, must_exist=args.schedule_command == "install"
    )
    if args.schedule_command == "status":
        return status(units, out=_out)
    action = install if args.schedule_command == "install" else uninstall
    return action(
        units,
        print_only=args.print_only,
        activate=not args.no_activate,
        out=_out,
        err=_err,
        info=_silent if args.quiet else _err,
    )


def _out(text: str) -> None:
    print(text)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _silent(text: str) -> None:
    """What -q leaves unsaid: anything on stderr that is not an error."""


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
    width = shutil.get_terminal_size().columns
    for r in rows:
        f = r.last_fetch
        fetch = f"{f.fetched_at} {f.outcome} ({f.provider})" if f else "never"
        row = f"{r.symbol:<8} {r.first or '-':<10} {r.last or '-':<10} {r.rows:>6}  {fetch}"
        if not (f and f.message and f.outcome.startswith("failed")):
            print(row)
            continue
        # the whole reason, on the lines below, wrapped at spaces (a host name or a URL is
        # never cut), hanging under the "last fetch" column (a short indent when narrow)
        column = len(row) - len(fetch)
        indent = " " * (column if width - column >= 40 else 4)
        lines = textwrap.wrap(
            f.message,
            width=max(width, len(indent) + 20),
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        print(row + ":")
        print("\n".join(lines))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from rotation_notes.prices.cache import CacheUnusable, PriceCache
    from rotation_notes.prices.sources import make_provider
    from rotation_notes.refresh import no_thesis_message, thesis_symbols

    vault, symbols, failed = thesis_symbols(args.vault)
    for n in failed:
        print(f"skipped    {n.error}", file=sys.stderr)
    say = _silent if args.quiet else _err  # -q: only what failed
    if not symbols:
        say(no_thesis_message(vault.root, []))
        return EXIT_FAILED if failed else 0
    provider = make_provider(
        vault, offline=False, data_dir=None, cache_dir=args.cache, fetch_only=True
    )
    cache = getattr(provider, "cache", None)  # a live provider's; bundled CSVs have none
    if not isinstance(cache, PriceCache):
        cache = None
        say(
            f'provider = "bundled" in rotation-notes.toml: nothing to fetch; prices come '
            f"from {provider.name}"
        )
    prices = provider.load(symbols)
    if cache is not None and not cache.persistent:  # it failed mid-fetch (disk full, locked)
        raise CacheUnusable(cache.problem or f"the price cache {cache.path} failed")
    bad = 0
    for s in symbols:
        src = prices.sources.get(s)
        if s in prices.unknown:
            bad += 1
            print(f"{s:<8} failed: {prices.unknown[s]}", file=sys.stderr)
        elif src is None:
            bad += 1
            print(f"{s:<8} failed: {prices.missing.get(s, 'no data')}", file=sys.stderr)
        elif not src.complete:
            bad += 1
            print(f"{s:<8} {src.message}; cache holds data to {src.last_session}", file=sys.stderr)
        else:
            what = {"live": "fetched", "cache": "already current"}.get(src.kind, src.provider)
            say(f"{s:<8} {what}, data to {src.last_session}")
    say(
        f"{len(symbols) - bad} of {len(symbols)} symbols current in "
        f"{cache.path if cache is not None else provider.name}"
    )
    return EXIT_FAILED if bad or failed else 0


def cmd_adopt(args: argparse.Namespace) -> int:
    from rotation_notes.adopt import adopt

    if args.create_catalysts and not args.write:
        log.debug("--create-catalysts without --write: listing them only")
    try:
        report = adopt(
            args.note,
            write=args.write,
            create_catalysts=args.create_catalysts,
            lock_wait=args.lock_wait,
        )
    except RotationNotesError as exc:
        if args.json:  # a script reads why from stdout too
            print(json.dumps({"note": str(args.note), "status": "refused", "error": str(exc)}))
        raise
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:  # the diff is the command's output, -q or not
        sys.stdout.write(report.diff)
        sys.stdout.flush()
    if not args.quiet:
        for line in report.summary():
            print(line, file=sys.stderr)
    else:  # -q: errors only, and a catalyst note asked for but not created is one
        for failure in report.failed_catalysts:
            print(f"rotation-notes: error: catalyst {failure}: not created", file=sys.stderr)
    return EXIT_FAILED if report.failed_catalysts else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the one place where errors become messages and exit codes."""
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
