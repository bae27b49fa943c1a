"""Shared fixtures: throwaway vaults built from a dict of files, the sample vault, shared data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "vault_sample"
SHARED = ROOT.parent / "shared"
SAMPLE_NOTE = "Small cap rotation 2026.md"
SAMPLE_DATA = SAMPLE / "Data" / "market-data"


#: A proxy on a closed loopback port: every real Yahoo request fails at once as
#: "network unreachable", the same on a developer's networked machine as in CI.
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """No test touches the user's cache or the real network."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("ROTATION_NOTES_CACHE", str(cache))
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("ROTATION_NOTES_STATE", str(state))  # locks and scheduler state
    monkeypatch.setenv("ROTATION_NOTES_LOG", str(state / "scheduled.log"))
    for key, value in NO_NETWORK.items():
        monkeypatch.setenv(key, value)
    return cache


def make_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write ``files`` (relative path -> text or bytes) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))


@pytest.fixture
def make_vault(tmp_path: Path) -> Callable[..., Path]:
    """A vault in tmp_path with .obsidian/, the sample's market data and the given files."""

    def make(
        files: Mapping[str, str | bytes],
        *,
        app: str | None = None,
        data: bool = True,
        name: str = "vault",
    ) -> Path:
        root = tmp_path / name
        (root / ".obsidian").mkdir(parents=True)
        if app is not None:
            (root / ".obsidian" / "app.json").write_text(app, encoding="utf-8")
        if data:
            shutil.copytree(SAMPLE_DATA, root / "Data" / "market-data")
            (root / "rotation-notes.toml").write_text('data_dir = "Data/market-data"\n')
        make_files(root, files)
        return root

    return make


@pytest.fixture
def sample_vault(tmp_path: Path) -> Path:
    dest = tmp_path / "vault_sample"
    shutil.copytree(SAMPLE, dest)
    return dest


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: bytes and mtime (ns)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user runs it."""
    env = {**os.environ, **NO_NETWORK, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "rotation_notes", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def run_main(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI's ``main`` in this process, output captured: what ``run_cli`` observes (exit code,
    stdout, stderr) at a fraction of the cost, for the many cases that cannot hang."""
    import contextlib
    import io

    from rotation_notes.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(map(str, args)), code, out.getvalue(), err.getvalue())


def digests_in_a_fresh_process(module: str) -> list[str]:
    """What ``digests()`` of test module ``module`` prints in a new interpreter: charts must be
    the same bytes in every process (what lets a second refresh write nothing)."""
    script = f"import sys\nsys.path.insert(0, 'tests')\nfrom {module} import digests\n"
    script += "print(*digests())\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def python_until_it_ends(
    script: str,
    *,
    deadline: float,
    hang: str,
    extra_env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """``script`` (dedented) in a fresh interpreter with the project importable, output
    captured (``kwargs`` to ``subprocess.run``); the test fails with ``hang`` if it has not
    ended after ``deadline`` seconds (a deadline that catches a hang, never a measure of
    speed)."""
    import textwrap

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", **(extra_env or {})}
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=deadline,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(hang)


def run_scheduled(
    vault: Path, *args: str, now: str = "2026-08-24T23:00:00Z"
) -> subprocess.CompletedProcess[str]:
    """``refresh --scheduled`` as the scheduler runs it, with the clock set to ``now``."""
    env = {**os.environ, **NO_NETWORK, "ROTATION_NOTES_NOW": now}
    return subprocess.run(
        [sys.executable, "-m", "rotation_notes", "refresh", "--scheduled", *args, str(vault)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


# A small thesis any test vault can use; regions for every table.
THESIS_FRONTMATTER = """---
rotation-notes:
  long:
    label: Small caps
    ticker: IWM
    index: ^RUT
  short:
    label: Large caps
    ticker: QQQ
    index: ^IXIC
  history:
    periods:
      - label: 2016-2017
        start: 2016-11-09
        end: 2017-05-09
---
"""

ALL_REGIONS = "".join(
    f"%% rotation-notes:{n} %%\n%% /rotation-notes:{n} %%\n"
    for n in ("headline", "updated", "setup", "catalysts", "history", "charts", "tracking")
)

THESIS = THESIS_FRONTMATTER + "# Thesis\n\n" + ALL_REGIONS


#: Figures tests measured (fuzz inputs tried, kills survived...), printed after the run.
FIGURES: list[str] = []


def pytest_sessionfinish(session) -> None:
    """A pytest-xdist worker hands its figures to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def copy_with_thesis_copies(dest: Path, copies: int) -> None:
    """The sample vault at ``dest`` plus ``copies`` more theses (prose and a chart of their
    own, charts of 60, 120, 180... days): what the crash tests and the crash bench kill."""
    shutil.copytree(SAMPLE, dest)
    src = (dest / SAMPLE_NOTE).read_text(encoding="utf-8")
    for i in range(1, copies + 1):
        text = (
            src.replace("iwm-vs-qqq-price-chart.png", f"chart-{i}.png")
            .replace("      days: 90", f"      days: {60 * i}")
            .replace(
                "SaaSpocalypse week hit QQQ but small caps held.",
                f"Copy {i} of the thesis, with prose of its own: " + "lorem ipsum " * (20 * i),
            )
        )
        path = dest / "Theses" / f"Thesis {i}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")


def file_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) by relative path, with its bytes."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out
