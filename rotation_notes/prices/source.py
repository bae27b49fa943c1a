"""Where one symbol's prices came from (a light module: the no-op path of a refresh reads
it without importing pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SymbolSource:
    provider: str  # e.g. "bundled CSV (market-data/)"
    kind: str  # "live" | "cache" | "bundled" | "csv"
    last_session: str | None  # YYYY-MM-DD
    message: str = ""  # e.g. "live fetch failed: network unreachable"
    #: What decisions read (never ``message``): "ok" as fresh as the provider was asked
    #: for; "offline" not fetched (an offline run); "partial" the provider sent fewer
    #: sessions than for the other symbols; "fallback" a live fetch failed, older data used.
    status: str = "ok"

    @property
    def complete(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """The report's shape for scripts (``status`` is internal; ``message`` says it)."""
        return {
            "provider": self.provider,
            "kind": self.kind,
            "last_session": self.last_session,
            "message": self.message,
        }
