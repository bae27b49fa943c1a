"""Choosing where a run's prices come from: ``make_provider`` is the one place that
picks, from the command line and the vault's settings; and where the cache is.

- ``--data DIR``: the user's own CSV folder, nothing else.
- ``--offline``: the cache, then the vault's bundled CSVs; never the network.
- the vault's ``provider = "bundled"``: only its bundled CSVs.
- otherwise (the default): Yahoo Finance through yfinance, with the cache and
  the bundled CSVs as the fallback when a fetch fails.

A further live provider (Tiingo, Alpha Vantage) is one module with a fetch
function (``live.Fetch``), wrapped in ``live.CachedLiveProvider`` as
``yahoo.YahooProvider`` wraps Yahoo's, and one branch here.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from rotation_notes.errors import UsageError
from rotation_notes.prices.cache import ENV_VAR, PriceCache, default_cache_dir
from rotation_notes.prices.live import OfflineProvider
from rotation_notes.prices.marketdata import CsvDirectoryProvider, MarketDataProvider
from rotation_notes.vault.files import stays_inside
from rotation_notes.vault.vault import Vault


def cache_dir_for(vault: Vault | None, override: Path | None) -> Path:
    if override is not None:
        return override.expanduser()
    if os.environ.get(ENV_VAR):
        return default_cache_dir()
    if vault is not None and vault.config.cache_dir:
        # A vault may be someone else's: its settings cannot send writes outside it.
        where = "cache_dir in rotation-notes.toml"
        hint = "to keep the cache elsewhere, use --cache DIR or ROTATION_NOTES_CACHE"
        try:
            rel = vault.inside(vault.config.cache_dir, what=where)
        except UsageError as exc:
            raise UsageError(exc.message, hint=hint) from None
        path = vault.abs(rel)
        if not stays_inside(path, vault.root):
            raise UsageError(
                f"{where} '{vault.config.cache_dir}' links outside the vault", hint=hint
            )
        return path
    return default_cache_dir()


def bundled_provider(vault: Vault) -> CsvDirectoryProvider | None:
    if not vault.config.data_dir:
        return None
    rel = vault.inside(vault.config.data_dir, what="data_dir")
    folder = vault.abs(rel)
    if folder.exists() and not stays_inside(folder, vault.root):
        raise UsageError(
            f"data_dir '{vault.config.data_dir}' in rotation-notes.toml links outside the vault",
            hint="bundled data must live inside the vault; use --data DIR for a folder elsewhere",
        )
    if not folder.is_dir():
        raise UsageError(
            f"data_dir '{vault.config.data_dir}' in rotation-notes.toml is not a vault folder"
        )
    return CsvDirectoryProvider(
        folder, label=f"bundled CSV ({rel}/)", kind="bundled", confine=vault.root
    )


def make_provider(
    vault: Vault,
    *,
    offline: bool,
    data_dir: Path | None,
    cache_dir: Path | None,
    fetch_only: bool = False,
    as_of: dt.date | None = None,
) -> MarketDataProvider:
    """``fetch_only`` (``data fetch``): the vault's provider as chosen above, but the live one
    without a fallback and with a cache that must be usable, so what failed is said.
    ``as_of`` (``--as-of``): the live provider fetches nothing the cache or the bundled data
    already holds up to that day's session."""
    if data_dir is not None:
        folder = data_dir.resolve()
        if not folder.is_dir():
            raise UsageError(f"--data {data_dir}: no such folder")
        return CsvDirectoryProvider(folder, label=f"CSV ({vault.shown(folder)})", kind="csv")
    use_bundled = not fetch_only or vault.config.provider == "bundled"
    bundled = bundled_provider(vault) if use_bundled else None
    if vault.config.provider == "bundled":
        if bundled is None:
            raise UsageError('provider = "bundled" needs data_dir in rotation-notes.toml')
        return bundled
    cache = PriceCache(cache_dir_for(vault, cache_dir), fallback=not fetch_only)
    if offline:
        return OfflineProvider(cache, bundled)
    from rotation_notes.prices.yahoo import YahooProvider

    provider = YahooProvider(cache, fallback=bundled)
    provider.until = as_of
    return provider
