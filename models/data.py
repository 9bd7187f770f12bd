"""Data: ETTh2-format CSV files, a synthetic ETT-like series generator, forecast windows and metrics.

ETT (Electricity Transformer Temperature) hourly files have a ``date`` column and 7 channels
HUFL, HULL, MUFL, MULL, LUFL, LULL, OT.  The usual split (Informer / PatchTST / TTM papers, tsfm_public's
``etth2.yaml``) is by hours: 12 months train, 4 months validation, 4 months test (a month = 30 days), where
validation and test segments start ``context_length`` steps early so that their first window's context
overlaps the previous segment.  A standard scaler (mean, population std) is fitted on the train segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
HOURS_PER_MONTH = 30 * 24


def synthetic_series(length: int, channels: int = 7, seed: int = 0, start: str = "2016-07-01 00:00:00",
                     freq: str = "h"):
    """An ETT-like multivariate hourly series as a DataFrame: ``date`` + ``channels`` columns.

    Each channel: a level, a slow trend, daily and weekly seasonality with channel-specific phases, and AR(1)
    noise; the last channel is smoother (like the oil temperature OT).  Deterministic for a seed.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    cols = {}
    names = ETT_COLUMNS if channels == len(ETT_COLUMNS) else [f"ch{i}" for i in range(channels)]
    for i, name in enumerate(names):
        level = rng.uniform(5, 40)
        trend = rng.uniform(-2, 2) * t / max(length, 1)
        daily = rng.uniform(1, 6) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 2 * np.pi))
        weekly = rng.uniform(0.5, 3) * np.sin(2 * np.pi * t / (24 * 7) + rng.uniform(0, 2 * np.pi))
        phi, sigma = (0.95, 0.3) if i == channels - 1 else (0.7, 1.0)
        eps = rng.normal(0, sigma, length)
        noise = np.empty(length)
        acc = 0.0
        for k in range(length):
            acc = phi * acc + eps[k]
            noise[k] = acc
        cols[name] = (level + trend + daily + weekly + noise).astype(np.float32)
    df = pd.DataFrame(cols)
    df.insert(0, "date", pd.date_range(start=start, periods=length, freq=freq).strftime("%Y-%m-%d %H:%M:%S"))
    return df


def write_synthetic_csv(path: str | Path, length: int = 20 * HOURS_PER_MONTH, channels: int = 7,
                        seed: int = 0) -> Path:
    path = Path(path)
    synthetic_series(length, channels, seed).to_csv(path, index=False)
    return path


def load_ett_csv(path: str | Path, columns: list[str] | None = None):
    """Read an ETTh2-format CSV: the ``date`` column is parsed, the channels kept in file order
    (or ``columns``)."""
    import pandas as pd

    df = pd.read_csv(path)
    if "date" not in df.columns:
        raise ValueError(f"{path}: no 'date' column")
    df["date"] = pd.to_datetime(df["date"])
    channels = columns or [c for c in df.columns if c != "date"]
    missing = [c for c in channels if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return df[["date"] + channels]


@dataclass
class ETTSplits:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    columns: list[str] = field(default_factory=list)
    borders: dict = field(default_factory=dict)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return x * self.std + self.mean


def ett_splits(df, context_length: int = 512, months: tuple[int, int, int] = (12, 4, 4),
               hours_per_month: int = HOURS_PER_MONTH, scale: bool = True) -> ETTSplits:
    """The standard ETT hourly split with context overlap; values standard-scaled with train statistics."""
    values = df.drop(columns=["date"]).to_numpy(dtype=np.float64)
    n_train, n_val, n_test = (m * hours_per_month for m in months)
    end = n_train + n_val + n_test
    if len(values) < end:
        raise ValueError(f"the split needs {end} rows, the data has {len(values)}")
    if context_length > n_train:
        raise ValueError("context_length longer than the train segment")
    b1 = [0, n_train - context_length, n_train + n_val - context_length]
    b2 = [n_train, n_train + n_val, end]
    train = values[b1[0]:b2[0]]
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    if not scale:
        mean, std = np.zeros_like(mean), np.ones_like(std)
    seg = [((values[a:b] - mean) / std).astype(np.float32) for a, b in zip(b1, b2)]
    return ETTSplits(seg[0], seg[1], seg[2], mean.astype(np.float32), std.astype(np.float32),
                     [c for c in df.columns if c != "date"],
                     {"train": (b1[0], b2[0]), "val": (b1[1], b2[1]), "test": (b1[2], b2[2])})


def windows(series: np.ndarray, context_length: int, prediction_length: int, stride: int = 1,
            limit: int | None = None):
    """Sliding (context, future) windows of a (T, C) series: X (n, context, C), Y (n, horizon, C)."""
    total = context_length + prediction_length
    n = (len(series) - total) // stride + 1
    if n <= 0:
        raise ValueError(f"series of {len(series)} steps is shorter than one window of {total}")
    starts = np.arange(n) * stride
    if limit is not None:
        starts = starts[:limit]
    x = np.stack([series[s:s + context_length] for s in starts])
    y = np.stack([series[s + context_length:s + total] for s in starts])
    return x.astype(np.float32), y.astype(np.float32)


def mse(pred, truth) -> float:
    d = np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.mean(d * d))


def mae(pred, truth) -> float:
    return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64))))


def forecast_metrics(pred, truth, reference=None) -> dict:
    """MSE / MAE against the ground truth, and (if given) of the reference and between ours and the reference."""
    out = {"mse": mse(pred, truth), "mae": mae(pred, truth)}
    if reference is not None:
        out.update({"reference_mse": mse(reference, truth), "reference_mae": mae(reference, truth),
                    "mse_vs_reference": mse(pred, reference), "mae_vs_reference": mae(pred, reference)})
    return out
