"""Full-resolution latency samples: read, merge, summarize (pure; no locust import).

Sample files are CSV with columns t (start, unix s), cls (request class), method, ms
(duration, float), status (0 = no response: refused, reset or timed out; -1 = still
unanswered when the traffic stopped, bench.traffic.recorder.UNFINISHED), bytes, ok (1/0), lag_ms
(open loop: send time minus scheduled start; 0 for closed loop). The final per-variant file
is the same table gzip-compressed, sorted by t.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.atomic import write_bytes
from bench.traffic.recorder import COLUMNS, UNFINISHED

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_DTYPES = {"t": "float64", "cls": "string", "method": "string", "ms": "float64",
           "status": "int64", "bytes": "int64", "ok": "int8", "lag_ms": "float64"}


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in COLUMNS})


def read_samples(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate sample files (plain or .gz CSV), sorted by start time."""
    frames = [pd.read_csv(p, dtype=_DTYPES) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    df = pd.concat(frames, ignore_index=True)
    if "lag_ms" not in df.columns:  # sample files written before the open-loop lag column
        df["lag_ms"] = 0.0
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"sample file lacks columns {sorted(missing)}")
    return df.loc[:, list(COLUMNS)].sort_values("t", kind="stable").reset_index(drop=True)


def write_samples(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the final samples as gzip CSV (atomically); mtime 0 keeps identical data byte-identical."""
    text = df.loc[:, list(COLUMNS)].to_csv(index=False, float_format="%.6f")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(text.encode())
    return write_bytes(path, buf.getvalue())


def merge_sample_files(parts: Iterable[str | Path], out: str | Path) -> pd.DataFrame:
    df = read_samples(parts)
    write_samples(df, out)
    return df


def latency_summary(ms: np.ndarray | pd.Series) -> LatencySummary:
    values = np.asarray(ms, dtype=np.float64)
    if values.size == 0:
        nan = float("nan")
        return LatencySummary(0, nan, nan, nan, nan, nan, nan)
    p50, p90, p99, p999 = np.percentile(values, PERCENTILES, method="linear")
    return LatencySummary(int(values.size), float(values.mean()), float(p50), float(p90), float(p99),
                          float(p999), float(values.max()))


def summarize(df: pd.DataFrame, long_running: Iterable[str] = ()) -> dict[str, Any]:
    """{"overall": summary, "by_class": {cls: summary}}.

    Long-running classes (watches: their sample is the time to open the stream) appear
    by class but are left out of "overall", as the apiserver's own SLIs leave out watches.
    """
    skip = set(long_running)
    overall = df.loc[~df["cls"].isin(skip), "ms"] if skip else df["ms"]
    by_class = {str(cls): latency_summary(group["ms"]).as_dict()
                for cls, group in df.groupby("cls", sort=True)}
    return {"overall": latency_summary(overall).as_dict(), "by_class": by_class}


def errors_by_code(df: pd.DataFrame) -> dict[str, int]:
    """Failed requests (ok == 0) by HTTP status ("0" = no response, "unfinished" = no answer
    when the traffic stopped)."""
    failed = df.loc[df["ok"] == 0, "status"]
    return {_code(int(code)): int(n) for code, n in failed.value_counts().sort_index().items()}


def _code(status: int) -> str:
    return "unfinished" if status == UNFINISHED else str(status)


def counts_by_class(df: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in df["cls"].value_counts().sort_index().items()}


def status_by_class(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """What each class got back, e.g. {"pods.exec": {"400": 12}}."""
    out: dict[str, dict[str, int]] = {}
    for (cls, status), n in df.groupby(["cls", "status"]).size().items():
        out.setdefault(str(cls), {})[str(status)] = int(n)
    return out
