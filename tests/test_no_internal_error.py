"""The class behind "errors without file, key or line" (issue 11, defect 8).

Any value, at any key of a thesis's properties or a catalyst note's, ends in either a
refreshed note or an error that names the note and the key or line: never an "internal
error", never a Python exception text, and never a byte changed outside the regions.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_DATA
from rotation_notes.note.regions import find_regions
from rotation_notes.note.text import decode_note
from rotation_notes.prices.marketdata import CsvDirectoryProvider
from rotation_notes.refresh import RefreshOptions, refresh

REGIONS = "".join(
    f"%% rotation-notes:{n} %%\n%% /rotation-notes:{n} %%\n"
    for n in ("headline", "updated", "setup", "catalysts", "history", "tracking")
)  # the same order as REGION_ORDER below

#: The sample's spec, every key present once (charts left out: drawing is slow and the
#: chart keys are checked by test_stranger_vault.py).
SPEC = {
    "long": {"label": "Small caps", "ticker": "IWM", "index": "^RUT"},
    "short": {"label": "Large caps", "ticker": "QQQ", "index": "^IXIC"},
    "names": {"IWM": "iShares Russell 2000 ETF"},
    "setup": {
        "stale_after_days": 90,
        "metrics": [
            {
                "name": "Forward P/E",
                "long": 18,
                "short": 26,
                "unit": "x",
                "source": "hand",
                "as_of": "2026-02-04",
                "gap": True,
            }
        ],
    },
    "tracking": {"tickers": ["IWM", "QQQ"], "compare": "QQQ"},
    "catalysts": {"symbols": ["^RUT", "^IXIC"]},
    "history": {
        "symbols": ["^RUT", "^GSPC"],
        "periods": [{"label": "2016-2017", "start": "2016-11-09", "end": "2017-05-09"}],
        "since": "2026-01-01",
    },
}
EVENT = {"event_start": "2026-02-03", "event_end": "2026-02-05"}


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


SPEC_PATHS = [p for p in _paths(SPEC) if p]

#: Values that broke or nearly broke a key once (issue 11), tried at every key.
NASTY = [
    None,
    True,
    0,
    -1,
    10**9,
    3_000_000,
    2**63,
    10**400,
    1e308,
    1e-300,
    float("inf"),
    float("nan"),
    "",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "x\n%% /rotation-notes:setup %%",
    "a\rb",
    "```",
    "con.png",
    "\u202e",
    [],
    {},
    ["0001-01-01"],
    {"a": None},
]
odd_value = st.recursive(
    st.one_of(
        st.sampled_from(NASTY),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _set(tree, path, value):
    tree = yaml.safe_load(yaml.safe_dump(tree))  # a deep copy
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def _dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


#: One provider for every example: its CSVs are read once.
PROVIDER = CsvDirectoryProvider(SAMPLE_DATA, label="bundled CSV")


def check(target: str, path: tuple, value) -> None:
    """Refresh a thesis whose ``path`` (in its spec, or the catalyst's) holds ``value``."""
    spec, event = SPEC, EVENT
    if target == "spec":
        spec = _set(SPEC, path, value)
    else:
        event = _set(EVENT, path, value)
    front = _dump({"catalysts": ["[[Event]]"], "rotation-notes": spec})
    text = f"---\n{front}---\n# Thesis\n\nMy words.\n\n{REGIONS}\nMore words.\n"
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp)
        (vault / ".obsidian").mkdir()
        (vault / "t.md").write_text(text, encoding="utf-8")
        (vault / "Event.md").write_text(f"---\n{_dump(event)}---\n", encoding="utf-8")
        report = refresh(vault, RefreshOptions(), provider=PROVIDER)
        (note,) = report.notes
        after = (vault / "t.md").read_text(encoding="utf-8")
    where = f"{target} {path} = {value!r}"
    # a catalyst note's value costs at most that catalyst's row, never the thesis (issue 13)
    assert target == "spec" or note.status != "failed", (where, note.error)
    if note.status == "failed":
        error = note.error or ""
        assert "internal error" not in error, (where, error)
        assert "Traceback" not in error and "Errno" not in error, (where, error)
        assert re.search(r"^t\.md:\d+: |\(key: |Event\.md:\d+: ", error), (where, error)
        assert after == text, where
        return
    # refreshed: the regions are intact and no byte outside them changed
    new = decode_note(after.encode())
    regions = find_regions(new, "t.md")
    assert [r.name for r in regions] == list(REGION_ORDER), where
    kept = [ln for i, ln in enumerate(new.lines) if not any(r.begin < i < r.end for r in regions)]
    assert "".join(kept) == text, where


REGION_ORDER = ("headline", "updated", "setup", "catalysts", "history", "tracking")
EVENT_PATHS = [("event_start",), ("event_end",)]


KEYS = [("spec", p) for p in SPEC_PATHS] + [("event", p) for p in EVENT_PATHS]


@pytest.mark.parametrize(
    ("target", "path"), KEYS, ids=[f"{t}-{'.'.join(map(str, p))}" for t, p in KEYS]
)
def test_every_nasty_value_at_every_key(target, path):
    """Exhaustive: each value of NASTY at each key of the spec and of the catalyst note."""
    for value in NASTY:
        check(target, path, value)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    target=st.sampled_from(["spec"] * 4 + ["event"]),
    path_index=st.integers(min_value=0, max_value=len(SPEC_PATHS) - 1),
    value=odd_value,
)
def test_any_value_at_any_key_is_refreshed_or_named(target, path_index, value):
    if target == "spec":
        check("spec", SPEC_PATHS[path_index], value)
    else:
        check("event", EVENT_PATHS[path_index % 2], value)
