"""A stand-in for Yahoo's chart API, fed to the real yfinance through an injected session.

It answers ``/v8/finance/chart/SYMBOL`` in the JSON layout of the recorded responses in
``../shared/yahoo-fixtures/`` (their ``meta`` block is reused), from our own daily closes, and
can misbehave on demand: rate-limit the first tries, not know a symbol, be unreachable, return
a partial range, revise past closes (a split), or be slow.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pandas as pd
import requests
from requests.adapters import BaseAdapter

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "yahoo-fixtures"
_META = json.loads((FIXTURES / "chart-QQQ-2020-01-01-to-2020-01-03.json").read_text())["response"][
    "bodyJson"
]["chart"]["result"][0]["meta"]
NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


def load_closes(folder: Path, symbols: list[str]) -> dict[str, pd.Series]:
    out = {}
    for s in symbols:
        df = pd.read_csv(folder / f"{s}.csv", usecols=["Date", "Close"])
        out[s] = pd.Series(df["Close"].to_numpy(), index=pd.to_datetime(df["Date"]), name=s)
    return out


def chart_body(symbol: str, closes: pd.Series) -> dict:
    # each session's 09:30 New York, in Unix seconds (vectorised: a history has ~6,600 rows)
    opens = (closes.index.normalize() + pd.Timedelta(hours=9, minutes=30)).tz_localize(
        "America/New_York"
    )
    stamps = ((opens - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).tolist()
    values = [round(float(v), 6) for v in closes.to_numpy()]
    meta = {
        **_META,
        "symbol": symbol,
        "longName": f"{symbol} long name",
        "shortName": f"{symbol} short",
        "firstTradeDate": stamps[0] if stamps else 0,
        "regularMarketTime": stamps[-1] if stamps else 0,
        "regularMarketPrice": values[-1] if values else 0,
    }
    return {
        "chart": {
            "result": [
                {
                    "meta": meta,
                    "timestamp": stamps,
                    "indicators": {
                        "quote": [
                            {
                                "open": values,
                                "high": values,
                                "low": values,
                                "close": values,
                                "volume": [1000] * len(values),
                            }
                        ],
                        "adjclose": [{"adjclose": values}],
                    },
                }
            ],
            "error": None,
        }
    }


@dataclass
class Request:
    symbol: str
    params: dict[str, str]

    @property
    def is_price_history(self) -> bool:
        """A download's date-range request (not a time-zone probe or metadata look-up)."""
        return "period1" in self.params


@dataclass
class FakeYahoo(BaseAdapter):
    closes: dict[str, pd.Series]
    unknown: set[str] = field(default_factory=set)
    down: bool = False
    rate_limit: dict[str, int] = field(default_factory=dict)  # symbol -> 429s on its data request
    partial_until: dict[str, str] = field(default_factory=dict)  # symbol -> last date served
    until: str | None = None  # the market's "today": nothing after it is served
    slow: float = 0.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        s = requests.Session()
        s.mount("https://", self)
        s.mount("http://", self)
        return s

    def data_requests(self) -> list[Request]:
        return [r for r in self.requests if r.is_price_history]

    def _response(self, request, status: int, body: bytes | str, ctype="application/json"):
        r = requests.Response()
        r.status_code = status
        r._content = body.encode() if isinstance(body, str) else body
        r.headers["Content-Type"] = ctype
        r.url = request.url
        r.request = request
        return r

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter signature
        url = urlparse(request.url)
        if "getcrumb" in url.path:
            return self._response(request, 200, "dummycrumb", "text/plain")
        if "/v8/finance/chart/" not in url.path:
            return self._response(request, 404, "", "text/html")  # cookies, consent, quoteSummary
        if self.down:
            raise requests.exceptions.ConnectionError(
                f"Failed to resolve '{url.hostname}' "
                "([Errno -3] Temporary failure in name resolution)"
            )
        symbol = unquote(url.path.rsplit("/", 1)[1]).upper()
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append(Request(symbol, params))
            if "period1" in params and self.rate_limit.get(symbol, 0) > 0:
                self.rate_limit[symbol] -= 1
                return self._response(request, 429, "Too Many Requests", "text/plain")
        if self.slow:
            time.sleep(self.slow)
        if symbol in self.unknown or symbol not in self.closes:
            return self._response(request, 404, json.dumps(NOT_FOUND))
        series = self.closes[symbol]
        last = self.partial_until.get(symbol) or self.until
        if last:
            series = series.loc[:last]
        if params.get("range", "").removesuffix("d").isdigit():  # "1d", "5d": the last sessions
            series = series.iloc[-int(params["range"][:-1]) :]
        elif "period1" in params:
            p1 = (
                pd.Timestamp(int(params["period1"]), unit="s", tz="UTC")
                .tz_convert("America/New_York")
                .tz_localize(None)
                .normalize()
            )
            p2 = (
                pd.Timestamp(int(params.get("period2", 4102444800)), unit="s", tz="UTC")
                .tz_convert("America/New_York")
                .tz_localize(None)
            )
            series = series.loc[(series.index >= p1) & (series.index < p2)]
        return self._response(request, 200, json.dumps(chart_body(symbol, series)))

    def close(self) -> None:
        pass
