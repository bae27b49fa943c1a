"""Where the prices come from: every read of prices from outside the note is here.

- ``marketdata``: what every provider answers with (``PriceSet``, ``SymbolSource``
  and its ``status``), the rules that clean every close series, and the provider
  for folders of ``SYMBOL.csv`` files (bundled data, ``--data DIR``);
- ``sources``: ``make_provider``, the one place that picks a run's providers from
  the command line and the vault's settings; and where the cache folder is;
- ``live``: the layer around a live provider's fetch function: the cache, which
  range to fetch, retries, partial answers, the fallback to the cache or the
  bundled data, and what each symbol's ``SymbolSource`` says; the offline provider;
- ``yahoo``: Yahoo Finance's fetch function (yfinance), its failures classified,
  and ``YahooProvider``, that fetch inside the ``live`` layer;
- ``cache/``: the SQLite price cache outside the vault (``schema``, ``aside``,
  ``opening``, ``store``; see its own docstring).
"""
