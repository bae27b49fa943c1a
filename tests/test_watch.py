"""The real watcher as a subprocess on a temp vault: edits, atomic saves, no loops, no lost edits.

Waits are on log lines with generous deadlines (a reader thread and a Condition), never fixed
sleeps. A user edit or a signal is placed inside a render with the watcher's test hook
(``ROTATION_NOTES_TEST_HOOK``: it stops at a named step until released); that nothing happened
is proved by a later event being handled first.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import NO_NETWORK, THESIS, THESIS_FRONTMATTER, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: How long to wait for anything the watcher should do: generous, so a busy machine passes.
DEADLINE = 120.0

#: ``python -c`` the watcher with every walk of a folder tree (``walk_vault``, whatever
#: module calls it) and every ``Vault.rescan`` reported on stderr, so a test can tell that
#: the watcher kept its index current without walking the vault (issue 15).
COUNT_WALKS = """
import sys
import rotation_notes.vault.vault as v

real_walk, real_rescan = v.walk_vault, v.Vault.rescan

def walk_vault(root):
    print(f"test: walked {root}", file=sys.stderr, flush=True)
    return real_walk(root)

def rescan(self):
    print(f"test: rescanned {self.root}", file=sys.stderr, flush=True)
    return real_rescan(self)

v.Vault.rescan = rescan
for mod in list(sys.modules.values()):
    if getattr(mod, "walk_vault", None) is real_walk:
        mod.walk_vault = walk_vault
from rotation_notes.cli import main
sys.argv[0] = "rotation-notes"
raise SystemExit(main())
"""


class WatchProc:
    def __init__(
        self,
        vault: Path,
        *args: str,
        offline: bool = True,
        hook: str | None = None,
        count_walks: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        env = {**os.environ, **NO_NETWORK, "PYTHONUNBUFFERED": "1", **(env or {})}
        env.pop("ROTATION_NOTES_TEST_HOOK", None)
        if hook:
            env["ROTATION_NOTES_TEST_HOOK"] = hook
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(["-c", COUNT_WALKS] if count_walks else ["-m", "rotation_notes"]),
                "watch",
                str(vault),
                *(["--offline"] if offline else []),
                "--debounce",
                "0.3",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = DEADLINE, after: int = 0) -> str:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[after:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"no line matching {pattern!r}; got:\n" + "\n".join(self.lines)
                    )
                self.cond.wait(left)

    def count(self, pattern: str) -> int:
        with self.cond:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def mark(self) -> int:
        with self.cond:
            return len(self.lines)

    def lines_after(self, mark: int) -> list[str]:
        with self.cond:
            return self.lines[mark:]

    def vault_walks(self, vault: Path) -> list[str]:
        """Every walk of the whole vault and every rescan since "watching" (``count_walks``)."""
        with self.cond:
            start = next(i for i, line in enumerate(self.lines) if "watching" in line)
            return [
                line
                for line in self.lines[start:]
                if line == f"test: walked {vault.resolve()}" or line.startswith("test: rescanned")
            ]

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=DEADLINE)


@pytest.fixture
def watch():
    procs: list[WatchProc] = []

    def start(
        vault: Path,
        *args: str,
        offline: bool = True,
        hook: str | None = None,
        count_walks: bool = False,
    ) -> WatchProc:
        w = WatchProc(vault, *args, offline=offline, hook=hook, count_walks=count_walks)
        procs.append(w)
        w.wait_for(r"watching \d+ thesis notes in ")
        return w

    yield start
    for w in procs:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def add_ticker(text: str, ticker: str) -> str:
    return text.replace(
        "  history:", f"  tracking:\n    tickers: [IWM, QQQ, {ticker}]\n  history:", 1
    )


def test_frontmatter_edit_updates_the_table_and_own_write_is_not_rewritten(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault)
    note = vault / "t.md"
    note.write_text(add_ticker(note.read_text(), "IWN"))
    w.wait_for(r"updated t\.md \(trigger: saved\)")
    # the one warning the edit brought, said after the render's line (IWN's data ends earlier)
    w.wait_for(r"warning: t\.md: Offline run: not fetched: IWN from .*, data to 2026-07-31")
    assert "| IWN | IWN (data to 2026-07-31) |" in note.read_text()
    stamp = note.stat().st_mtime_ns
    mark = w.mark()
    # Proving a negative: a later save of another thesis is handled, and a render our own
    # write had caused would have been due before it (and logged first: t.md < u.md).
    (vault / "u.md").write_text(THESIS)
    w.wait_for(r"(updated|unchanged) u\.md \(trigger: (created|saved)", after=mark)
    assert [line for line in w.lines_after(mark) if "t.md" in line] == []
    assert note.stat().st_mtime_ns == stamp
    assert w.stop() == 130


def test_a_warning_is_said_when_it_comes_not_on_every_save(make_vault, watch):
    vault = make_vault({"t.md": THESIS, "u.md": THESIS})
    w = watch(vault)
    # at start, once for both notes (not once under each), marked as a warning
    offline = [line for line in w.lines_after(0) if "Offline run" in line]
    assert len(offline) == 1 and " warning: all 2 notes: Offline run: " in offline[0], offline
    # a save that renders t.md again, its warnings as they were: none said again
    mark = w.mark()
    note = vault / "t.md"
    note.write_text(note.read_text().replace("label: 2016-2017", "label: 2016 to 2017"))
    w.wait_for(r"updated t\.md \(trigger: saved\)", after=mark)
    # a later render is logged after all that t.md's said; it brings a warning of its own
    (vault / "u.md").write_text(add_ticker(THESIS, "IWN"))
    w.wait_for(r"warning: u\.md: Offline run: not fetched: IWN ", after=mark)
    said = [line for line in w.lines_after(mark) if "warning" in line]
    assert len(said) == 1 and "u.md" in said[0], said
    assert w.stop() == 130


def test_atomic_save_temp_then_rename_is_picked_up(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault)
    note = vault / "t.md"
    tmp = vault / ".t.md.editor-tmp"
    tmp.write_text(add_ticker(note.read_text(), "IWO"))
    os.replace(tmp, note)
    w.wait_for(r"updated t\.md \(trigger: saved \(renamed into place\)\)")
    assert "| IWO | IWO (data to 2026-07-31) |" in note.read_text()
    assert w.stop() == 130


def test_linked_catalyst_and_template_changes_rerender_the_thesis(make_vault, watch):
    thesis = (
        THESIS_FRONTMATTER.replace(
            "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Ev]]"\nrotation-notes:', 1
        )
        + "%% rotation-notes:catalysts %%\n%% /rotation-notes:catalysts %%\n"
        + ("%% rotation-notes:headline %%\n%% /rotation-notes:headline %%\n")
    )
    vault = make_vault(
        {"t.md": thesis, "Ev.md": "---\nevent_start: 2026-02-03\n---\n", "_tpl/keep.txt": ""}
    )
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\ntemplates_dir = "_tpl"\n'
    )
    w = watch(vault)
    (vault / "Ev.md").write_text("---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n")
    w.wait_for(r"updated t\.md \(trigger: linked note Ev\.md saved\)")
    assert "| [[Ev]] | 2026-02-03 → 2026-02-04 |" in (vault / "t.md").read_text()
    (vault / "_tpl" / "headline.md.j2").write_text("Custom headline {{ long.ticker }}\n")
    w.wait_for(r"updated t\.md \(trigger: _tpl/headline\.md\.j2 changed\)")
    assert "Custom headline IWM" in (vault / "t.md").read_text()
    assert w.stop() == 130


def test_invalid_frontmatter_is_logged_and_the_watcher_recovers(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault)
    note = vault / "t.md"
    good = note.read_text()
    note.write_text(good.replace("  long:\n", "  long: [\n", 1))
    w.wait_for(r"failed t\.md \(trigger: saved\).*not valid YAML")
    mark = w.mark()
    note.write_text(add_ticker(good, "IWN"))
    w.wait_for(r"updated t\.md \(trigger: saved\)", after=mark)
    assert "| IWN | IWN (data to 2026-07-31) |" in note.read_text()
    assert w.stop() == 130


def test_new_renamed_and_deleted_theses(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault)
    (vault / "new.md").write_text(THESIS)
    w.wait_for(r"updated new\.md \(trigger: (created|saved)")
    os.rename(vault / "new.md", vault / "renamed.md")
    w.wait_for(r"stopped watching new\.md \(renamed away\)")
    w.wait_for(r"(unchanged|updated) renamed\.md \(trigger: saved \(renamed into place\)\)")
    (vault / "renamed.md").unlink()
    w.wait_for(r"stopped watching renamed\.md \(deleted\)")
    assert w.stop(signal.SIGTERM) == 130


def test_user_edit_during_a_render_is_not_lost(make_vault, watch, tmp_path):
    vault = make_vault({"t.md": THESIS})
    go = tmp_path / "go"
    w = watch(vault, hook=f"render:{go}")  # renders stop after reading the notes, until go
    note = vault / "t.md"
    mark = w.mark()
    note.write_text(add_ticker(note.read_text(), "IWN"))
    w.wait_for(r"test hook: at render", after=mark)  # the note is read, nothing written yet
    with open(note, "a", encoding="utf-8") as fh:
        fh.write("A line the user typed while the tool was rendering.\n")
    go.touch()
    w.wait_for(r"deferred t\.md", after=mark)
    w.wait_for(r"updated t\.md", after=mark)
    text = note.read_text()
    assert "A line the user typed while the tool was rendering." in text
    assert "| IWN | IWN (data to 2026-07-31) |" in text
    assert w.stop() == 130
    assert "1 deferred because of a concurrent edit" in w.lines[-1]


def test_sigint_during_render_exits_130_and_leaves_no_partial_file(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault, hook="render")  # a render stops after reading the notes until stopped
    note = vault / "t.md"
    edited = add_ticker(note.read_text(), "IWN")
    note.write_text(edited)
    w.wait_for(r"test hook: at render")
    assert w.stop(signal.SIGINT) == 130  # the render in progress finishes first
    assert "| IWN | IWN (data to 2026-07-31) |" in note.read_text()
    assert not [p.name for p in vault.rglob("*") if ".rotation-notes-" in p.name]


def test_prices_refresh_on_an_interval_and_are_logged(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault, "--prices-every", "0.02", offline=False)  # 1.2 s; the network is down here
    w.wait_for(r"prices refreshed \(every 0.02 min\): \d+ symbols")
    w.wait_for(r"(unchanged|updated) t\.md \(trigger: prices refreshed\)")
    assert w.stop() == 130


def test_edits_reuse_prices_in_memory():
    """Re-rendering after an edit never asks the provider again for a known symbol."""
    from rotation_notes.prices.marketdata import PriceSet
    from rotation_notes.watch import MemoryPrices

    asked: list[list[str]] = []

    class Counting:
        name = "counting"

        def load(self, symbols):
            asked.append(list(symbols))
            return PriceSet(missing={s: "none" for s in symbols})

    prices = MemoryPrices(Counting())
    prices.load(["IWM", "QQQ"])
    prices.load(["IWM", "QQQ"])
    prices.load(["IWM", "IWN"])
    assert asked == [["IWM", "QQQ"], ["IWN"]]
    assert prices.reload() == 3 and asked[-1] == ["IWM", "IWN", "QQQ"]


def test_poll_mode_picks_up_a_save(make_vault, watch):
    vault = make_vault({"t.md": THESIS})
    w = watch(vault, "--poll")
    assert "(polling)" in w.wait_for("watching")
    (vault / "t.md").write_text(add_ticker((vault / "t.md").read_text(), "IWN"))
    w.wait_for(r"updated t\.md \(trigger: (saved|created)")
    assert "| IWN | IWN (data to 2026-07-31) |" in (vault / "t.md").read_text()
    assert w.stop() == 130


def test_ignores_obsidian_trash_git_and_hidden_files(make_vault, watch):
    vault = make_vault({"t.md": THESIS, ".trash/old.md": THESIS})
    w = watch(vault)
    mark = w.mark()
    (vault / ".obsidian" / "workspace.json").write_text("{}")
    (vault / ".trash" / "old.md").write_text(add_ticker(THESIS, "IWN"))
    (vault / ".git").mkdir()
    (vault / ".git" / "x.md").write_text(THESIS)
    (vault / ".hidden.md").write_text(THESIS)
    # a real edit after them: once it is handled, the ignored ones would have been too
    (vault / "t.md").write_text(add_ticker((vault / "t.md").read_text(), "IWO"))
    w.wait_for(r"updated t\.md", after=mark)
    # and a later save of it: anything ignored that had been taken up was due before it
    # (and logged first: every ignored path sorts before t.md)
    again = w.mark()
    (vault / "t.md").write_text(add_ticker(THESIS, "IWN"))
    w.wait_for(r"updated t\.md", after=again)
    assert [line for line in w.lines_after(mark) if "t.md" not in line] == []
    assert "IWN" not in (vault / ".trash" / "old.md").read_text().split("---")[2]
    assert w.stop() == 130


def test_poll_mode_keeps_watching_a_note_after_its_own_write(make_vault, watch):
    """Polling sees our os.replace as deleted + created; the thesis must stay watched."""
    thesis = THESIS.replace(
        "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Ev]]"\nrotation-notes:', 1
    )
    vault = make_vault({"t.md": thesis, "Ev.md": "---\nevent_start: 2026-02-03\n---\n"})
    w = watch(vault, "--poll")
    note = vault / "t.md"
    note.write_text(add_ticker(note.read_text(), "IWN"))
    w.wait_for(r"updated t\.md \(trigger: (saved|created)")
    # a thesis created after our write: once the poller has seen it, it has seen our write
    (vault / "u.md").write_text(THESIS)
    w.wait_for(r"(updated|unchanged) u\.md \(trigger: (created|saved)")
    assert w.count(r"stopped watching t\.md") == 0
    mark = w.mark()
    (vault / "Ev.md").write_text("---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n")
    w.wait_for(r"updated t\.md \(trigger: linked note Ev\.md", after=mark)
    assert w.stop() == 130


def test_a_linked_note_created_later_rerenders_the_thesis(make_vault, watch):
    thesis = THESIS.replace(
        "---\nrotation-notes:", '---\ncatalysts:\n  - "[[Ev]]"\nrotation-notes:', 1
    )
    vault = make_vault({"t.md": thesis})
    w = watch(vault)
    w.wait_for(r"updated t\.md \(trigger: start\)")  # the row says n/a (issue 13)
    assert "| [[Ev]] | n/a |" in (vault / "t.md").read_text()
    (vault / "Events").mkdir()
    (vault / "Events" / "Ev.md").write_text("---\nevent_start: 2026-02-03\n---\n")
    w.wait_for(r"updated t\.md \(trigger: linked note Events/Ev\.md")
    assert "| [[Ev]] | 2026-02-03 |" in (vault / "t.md").read_text()
    assert w.stop() == 130


@pytest.mark.parametrize("step", ["start", "first-refresh"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_before_the_watcher_runs_exits_130(make_vault, step, sig):
    """Stopped before the vault is opened, or inside the first refresh (the watcher is held
    there by its test hook until the signal comes): exit 130, no temp file left."""
    vault = make_vault({"t.md": THESIS})
    before = (vault / "t.md").read_bytes()
    w = WatchProc(vault, hook=step)
    w.wait_for(f"test hook: at {step}")
    assert w.count("watching") == 0
    assert w.stop(sig) == 130
    assert "rotation-notes: interrupted" in w.lines
    assert (vault / "t.md").read_bytes() == before  # stopped before anything was written
    assert not [p.name for p in vault.rglob("*") if ".rotation-notes-" in p.name]


def test_a_stop_signal_while_the_loop_holds_its_event_lock_still_stops(make_vault):
    """Seen once in CI: SIGINT left `watch` running for good. The signal handler runs in the
    main thread, which may be inside `wake.wait()` or `wake.clear()` holding the event's lock
    (a plain Lock); the handler's `wake.set()` then waited for that lock forever. Here the
    handler runs while its own thread holds the lock: it must return, and the event be set
    once the lock is let go."""
    from rotation_notes.watch import Watcher

    w = Watcher(make_vault({"t.md": THESIS}), lambda *a, **k: None)
    returned = threading.Event()

    def loop_holding_the_lock() -> None:
        with w.wake._cond:  # type: ignore[attr-defined]  # as inside Event.wait
            w._signal(signal.SIGINT, None)
            returned.set()

    t = threading.Thread(target=loop_holding_the_lock, daemon=True)
    t.start()
    assert returned.wait(DEADLINE), "the signal handler waited for the lock its thread holds"
    t.join(DEADLINE)
    assert w.wake.wait(DEADLINE) and w.stop_signal == signal.SIGINT


# --- issue 15: the vault is walked once, at start-up; events keep its index current ---------


def linking(*targets: str) -> str:
    """The test thesis with catalysts linking to ``targets`` (a catalysts table row each)."""
    links = "".join(f'  - "[[{t}]]"\n' for t in targets)
    return THESIS.replace("---\nrotation-notes:", f"---\ncatalysts:\n{links}rotation-notes:", 1)


EV = "---\nevent_start: 2026-02-03\n---\n"
EV_ENDED = "---\nevent_start: 2026-02-03\nevent_end: 2026-02-04\n---\n"


def test_a_new_linked_note_is_picked_up_without_walking_the_vault(make_vault, watch):
    vault = make_vault({"t.md": linking("Ev")})
    w = watch(vault, count_walks=True)
    w.wait_for(r"updated t\.md \(trigger: start\)")
    assert "| [[Ev]] | n/a |" in (vault / "t.md").read_text()
    (vault / "Ev.md").write_text(EV)
    w.wait_for(r"updated t\.md \(trigger: linked note Ev\.md (created|saved)")
    assert "| [[Ev]] | 2026-02-03 |" in (vault / "t.md").read_text()
    assert w.vault_walks(vault) == []
    assert w.stop() == 130


def test_a_note_known_by_an_inode_since_given_to_a_new_note_is_still_refreshed(make_vault):
    """The watcher's vault lives as long as the watcher. Its first render rewrites the thesis
    by rename: the walk's state of it names an inode the filesystem is then free to give to
    the next new note. When it did (a linked note created just after "watching", one run in
    three under load), the render of the thesis and its new note took them for one file
    (a hard link) and refreshed neither: the watcher logged nothing, the note stayed stale.
    Here the reuse is made certain: the thesis's recorded state is given the new note's
    inode, as the filesystem had done."""
    from rotation_notes.refresh import RefreshOptions, refresh
    from rotation_notes.vault.vault import Vault

    root = make_vault({"t.md": linking("Ev")})
    vault = Vault.open(root)
    walked = vault.states["t.md"]
    first = refresh(root, RefreshOptions(offline=True), vault=vault)
    assert [n.status for n in first.notes] == ["updated"]
    assert os.stat(root / "t.md").st_ino != walked[3]  # rewritten by rename: a new file
    assert vault.states.get("t.md") != walked  # and the kept vault does not know it by the old
    (root / "Ev.md").write_text(EV)
    vault.add_file("Ev.md")
    ev = os.stat(root / "Ev.md")
    vault.states["t.md"] = (*walked[:3], ev.st_ino, ev.st_dev)
    again = refresh(root, RefreshOptions(offline=True, candidates=["Ev.md", "t.md"]), vault=vault)
    assert [(n.path, n.status) for n in again.notes] == [("t.md", "updated")]
    assert "| [[Ev]] | 2026-02-03 |" in (root / "t.md").read_text()


def test_a_renamed_linked_note_is_followed_without_walking_the_vault(make_vault, watch):
    vault = make_vault({"t.md": linking("Ev"), "Ev.md": EV, "Events/other.md": "x\n"})
    w = watch(vault, count_walks=True)
    mark = w.mark()
    os.rename(vault / "Ev.md", vault / "Events" / "Ev.md")
    w.wait_for(r"(unchanged|updated) t\.md \(trigger: linked note Ev\.md renamed away", after=mark)
    # the index knows the note's new place: an edit there re-renders the thesis
    mark = w.mark()
    (vault / "Events" / "Ev.md").write_text(EV_ENDED)
    w.wait_for(r"updated t\.md \(trigger: linked note Events/Ev\.md saved", after=mark)
    assert "| [[Ev]] | 2026-02-03 → 2026-02-04 |" in (vault / "t.md").read_text()
    # a case-only rename: the link resolves (ignoring case) to the new spelling
    mark = w.mark()
    os.rename(vault / "Events" / "Ev.md", vault / "Events" / "EV.md")
    w.wait_for(r"t\.md \(trigger: linked note Events/Ev\.md renamed away", after=mark)
    mark = w.mark()
    (vault / "Events" / "EV.md").write_text(EV)
    w.wait_for(r"updated t\.md \(trigger: linked note Events/EV\.md saved", after=mark)
    assert "| [[Ev]] | 2026-02-03 |" in (vault / "t.md").read_text()
    assert w.vault_walks(vault) == []
    assert w.stop() == 130


def test_a_folder_with_a_thesis_moved_into_the_vault_is_picked_up(make_vault, watch, tmp_path):
    vault = make_vault({"t.md": THESIS})
    outside = tmp_path / "outside" / "Sub"
    outside.mkdir(parents=True)
    (outside / "t2.md").write_text(linking("Ev2"))
    (outside / "Deeper").mkdir()
    (outside / "Deeper" / "Ev2.md").write_text(EV)
    w = watch(vault, count_walks=True)
    os.rename(outside, vault / "Sub")
    w.wait_for(r"updated Sub/t2\.md \(trigger: (created|saved)")
    assert "| [[Ev2]] | 2026-02-03 |" in (vault / "Sub" / "t2.md").read_text()
    # and it is watched: its linked note, moved in with it, re-renders it
    mark = w.mark()
    (vault / "Sub" / "Deeper" / "Ev2.md").write_text(EV_ENDED)
    w.wait_for(r"updated Sub/t2\.md \(trigger: linked note Sub/Deeper/Ev2\.md saved", after=mark)
    assert "| [[Ev2]] | 2026-02-03 → 2026-02-04 |" in (vault / "Sub" / "t2.md").read_text()
    assert w.vault_walks(vault) == []  # the folder moved in was walked, the vault never
    assert w.stop() == 130


def test_deleted_notes_and_a_folder_moved_out_rerender_their_theses(make_vault, watch, tmp_path):
    vault = make_vault(
        {"t.md": linking("Ev", "Ev2"), "Ev.md": EV, "Events/Deeper/Ev2.md": EV, "u.md": THESIS}
    )
    w = watch(vault, count_walks=True)
    assert "| [[Ev2]] | 2026-02-03 |" in (vault / "t.md").read_text()
    mark = w.mark()
    (vault / "Ev.md").unlink()
    w.wait_for(r"updated t\.md \(trigger: linked note Ev\.md deleted\)", after=mark)
    assert "| [[Ev]] | n/a |" in (vault / "t.md").read_text()
    # A folder moved out of the vault is one event, for the folder: the notes in it are gone
    mark = w.mark()
    os.rename(vault / "Events", tmp_path / "Events")
    w.wait_for(r"updated t\.md \(trigger: linked note Events/Deeper/Ev2\.md", after=mark)
    assert "| [[Ev2]] | n/a |" in (vault / "t.md").read_text()
    (vault / "u.md").unlink()
    w.wait_for(r"stopped watching u\.md \(deleted\)")
    assert w.vault_walks(vault) == []
    assert w.stop() == 130


def test_the_watcher_never_walks_the_vault_after_start_up(make_vault, watch):
    """Saves (and the events of our own writes: the note and its charts), new notes and
    folders, renames and deletions: the index is updated path by path, never by a walk."""
    vault = make_vault({"t.md": THESIS})
    w = watch(vault, count_walks=True)
    assert len([line for line in w.lines if line.startswith("test: rescanned")]) <= 1
    note = vault / "t.md"
    note.write_text(add_ticker(note.read_text(), "IWN"))
    w.wait_for(r"updated t\.md \(trigger: saved\)")
    (vault / "New").mkdir()
    (vault / "New" / "n.md").write_text(THESIS)
    w.wait_for(r"updated New/n\.md \(trigger: (created|saved)")
    os.rename(vault / "New" / "n.md", vault / "New" / "m.md")
    w.wait_for(r"(unchanged|updated) New/m\.md \(trigger: saved \(renamed into place\)\)")
    os.rename(vault / "New", vault / "Old")
    w.wait_for(r"stopped watching New/m\.md")
    w.wait_for(r"(unchanged|updated) Old/m\.md")
    (vault / "Old" / "m.md").unlink()
    w.wait_for(r"stopped watching Old/m\.md \(deleted\)")
    mark = w.mark()
    note.write_text(add_ticker(THESIS, "IWO"))  # the last event: every one before is handled
    w.wait_for(r"updated t\.md \(trigger: saved\)", after=mark)
    assert w.vault_walks(vault) == []
    assert w.stop() == 130


def test_the_index_follows_events_path_by_path(make_vault, monkeypatch, caplog):
    """In process, events given by hand: a polling observer's deleted + created pair for our
    own os.replace keeps the note (and costs no render), a case-only rename drops the old
    spelling, a named pipe is skipped with a warning as a scan skips it; no walk at all."""
    from watchdog.events import FileCreatedEvent, FileDeletedEvent, FileMovedEvent

    import rotation_notes.vault.vault as vault_module
    from rotation_notes import watch as watch_module
    from rotation_notes.watch import Watcher

    vault = make_vault({"t.md": linking("ev"), "Ev.md": EV})
    w = Watcher(vault, lambda rels: None)  # type: ignore[arg-type, return-value]
    walks: list[object] = []
    real_walk = vault_module.walk_vault

    def counting(root):
        walks.append(root)
        return real_walk(root)

    monkeypatch.setattr(vault_module, "walk_vault", counting)
    monkeypatch.setattr(watch_module, "walk_vault", counting)
    w.theses["t.md"] = w._links("t.md")
    assert w.theses["t.md"] == {"Ev.md"}

    def events(*evs) -> None:
        for ev in evs:
            w.on_event(ev)
        w._apply_changes()

    # our own write (os.replace over the note), seen by a poller as deleted + created
    note = vault / "t.md"
    tmp = vault / ".t.md.rotation-notes-tmp"
    tmp.write_bytes(note.read_bytes() + b"rendered\n")
    w.written["t.md"] = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, note)
    events(FileDeletedEvent(str(note)), FileCreatedEvent(str(note)))
    assert "t.md" in w.vault.files and "t.md" in w.theses and w.pending == {}

    for case_blind in (False, True):  # True: a.md is checked by name in its folder's listing
        w.case_blind = case_blind
        old, new = ("Ev.md", "EV.md") if not case_blind else ("EV.md", "Ev.md")
        os.rename(vault / old, vault / new)
        events(FileMovedEvent(str(vault / old), str(vault / new)))
        assert new in w.vault.files and old not in w.vault.files
        assert w.vault.resolve_link("ev", "t.md") == new
        assert set(w.pending) == {"t.md", new}  # and the thesis linking to it is re-rendered
        w.pending.clear()
        w.theses["t.md"] = w._links("t.md")  # as after that render
        assert w.theses["t.md"] == {new}

    os.mkfifo(vault / "pipe.md")
    with caplog.at_level("WARNING", logger="rotation_notes.watch"):
        events(FileCreatedEvent(str(vault / "pipe.md")))
    assert "pipe.md" not in w.vault.files
    assert w.vault.special["pipe.md"] == "a named pipe (FIFO)"
    assert "skipped pipe.md: it is a named pipe (FIFO), not a regular file" in caplog.text
    assert walks == []


def test_a_watcher_of_a_vault_as_recorded_imports_no_pandas_before_watching(sample_vault):
    """Every note as the scan index recorded it: the watcher's first render computes nothing,
    so nothing heavy is imported before "watching" (pandas came with the held prices' empty
    set: a quarter of a second of the start). The warm-up imports it just after."""
    assert run_cli("refresh", sample_vault, "--offline").returncode == 0  # records the index
    w = WatchProc(sample_vault, env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        watching = w.wait_for(r"watching \d+ thesis notes in ")
        w.wait_for(r"\|\s+pandas$")  # the warm-up, once watching
        with w.cond:
            lines = list(w.lines)
        before = lines[: lines.index(watching)]
        assert [line for line in before if re.search(r"\|\s+(pandas|matplotlib)$", line)] == []
        assert any(re.search(r"\|\s+rotation_notes\.watch$", line) for line in before)
        assert w.stop() == 130
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
