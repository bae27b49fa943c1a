"""The regions of a thesis note: the one list of them.

Each row names a region, its builder, its template, where ``--init`` puts it and when
it applies. Adding a region = one builder (``thesis.builders``), one template
(``templates/<name>.md.j2``) and one row here; nothing else lists region names.
The order of the rows is the order ``--init`` inserts missing regions in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rotation_notes.note.regions import Placement
from rotation_notes.thesis import builders as b
from rotation_notes.thesis.facts import Facts
from rotation_notes.thesis.spec import ThesisSpec


def _always(spec: ThesisSpec) -> bool:
    return True


def _has_charts(spec: ThesisSpec) -> bool:
    return bool(spec.charts)


def _has_levels(spec: ThesisSpec) -> bool:
    return bool(spec.levels)


def _is_opened(spec: ThesisSpec) -> bool:
    return spec.opened is not None


@dataclass(frozen=True)
class RegionKind:
    name: str
    build: Callable[[Facts], Any]  # -> a dataclass of the names its template uses
    placement: Placement
    #: whether a note with this spec should have the region (a warning and --init otherwise)
    applies: Callable[[ThesisSpec], bool] = _always
    #: a note with this region draws every chart of its spec (else only the embedded ones)
    draws_all_charts: bool = False

    @property
    def template(self) -> str:
        return f"{self.name}.md.j2"


REGIONS: tuple[RegionKind, ...] = (
    RegionKind("headline", b.build_headline, Placement(after_title=True)),
    RegionKind("updated", b.build_updated, Placement(glued_to="headline")),
    RegionKind("status", b.build_status, Placement(glued_to="updated"), applies=_has_levels),
    RegionKind(
        "scorecard",
        b.build_scorecard,
        Placement(("scorecard",), "Scorecard", first_section=True),
        applies=_is_opened,
    ),
    RegionKind("setup", b.build_setup, Placement(("setup",), "The setup")),
    RegionKind("catalysts", b.build_catalysts, Placement(("catalysts",), "Catalysts")),
    RegionKind(
        "history",
        b.build_history,
        Placement(("historical parallels", "history"), "Historical parallels"),
    ),
    RegionKind(
        "charts",
        b.build_charts,
        Placement(("tracking",), "Tracking", before="tracking"),
        applies=_has_charts,
        draws_all_charts=True,
    ),
    RegionKind("tracking", b.build_tracking, Placement(("tracking",), "Tracking", after="charts")),
)

BY_NAME: dict[str, RegionKind] = {kind.name: kind for kind in REGIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def wanted(spec: ThesisSpec) -> list[RegionKind]:
    """The regions a note with this spec should have, in insertion order."""
    return [kind for kind in REGIONS if kind.applies(spec)]


def placements(names: Iterable[str]) -> list[tuple[str, Placement]]:
    """Where ``--init`` puts each named region, in the registry's order."""
    chosen = set(names)
    return [(kind.name, kind.placement) for kind in REGIONS if kind.name in chosen]
