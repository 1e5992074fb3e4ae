"""A JSON form of the metrics layer's results, for the derived views stored in the database.

JSON rather than pickle: the rows live in a database other processes (and, on a shared
PostgreSQL, other people) can write, and unpickling runs whatever a payload names. Decoding
builds only plain values, dates, DataFrames and dataclasses defined in ``metrics.*``.

Tagged objects keep what JSON has no word for: ``{"$tuple": [...]}``, ``{"$dict": [[k, v],
...]}`` (every dict, so keys keep their types and no payload key can pass for a tag),
``{"$datetime": iso}``, ``{"$date": iso}``, ``{"$timedelta": seconds}``, ``{"$float": "nan"}``,
``{"$set": [...]}``, ``{"$frame": {...}}`` and ``{"$dataclass": "module:Name", "fields": {...}}``.
:func:`decode` of :func:`encode` gives a value equal to the original (DataFrames: same
columns, dtypes and cells). Anything else raises TypeError: such a value is not stored.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

ALLOWED_MODULES = "metrics."


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (TypeError for a type this form does not carry)."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text: str) -> Any:
    """The value :func:`dumps` wrote (ValueError for anything this form did not write)."""
    return decode(json.loads(text))


def encode(x: Any) -> Any:
    if x is None or type(x) in (bool, int, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else {"$float": repr(x)}
    if isinstance(x, str):  # str subclasses (SQLAlchemy's quoted names) as plain text
        return str(x)
    if x is pd.NaT:
        return {"$nat": True}
    if isinstance(x, datetime):
        return {"$datetime": x.isoformat()}
    if isinstance(x, date):
        return {"$date": x.isoformat()}
    if isinstance(x, timedelta):
        return {"$timedelta": x.total_seconds()}
    if isinstance(x, list):
        return [encode(v) for v in x]
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return {"$tuple": [encode(v) for v in x]}
    if isinstance(x, (set, frozenset)):
        return {"$set": [encode(v) for v in sorted(x, key=repr)],
                "frozen": isinstance(x, frozenset)}
    if isinstance(x, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in x.items()]}
    if isinstance(x, pd.DataFrame):
        return {"$frame": _encode_frame(x)}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        cls = type(x)
        if not cls.__module__.startswith(ALLOWED_MODULES):
            raise TypeError(f"dataclass {cls.__module__}.{cls.__qualname__} is not storable")
        return {"$dataclass": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(x, f.name))
                           for f in dataclasses.fields(x) if f.init}}
    raise TypeError(f"{type(x).__module__}.{type(x).__qualname__} is not storable")


def _encode_frame(df: pd.DataFrame) -> dict:
    index = df.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        raise TypeError("a DataFrame with an index other than 0..n-1 is not storable")
    if len(set(df.columns)) != len(df.columns):
        raise TypeError("a DataFrame with repeated column names is not storable")
    return {"columns": [encode(c) for c in df.columns],
            "dtypes": [str(t) for t in df.dtypes],
            "data": [[None if _missing(v) else encode(v) for v in df[c].tolist()]
                     if str(t) != "object" else [encode(v) for v in df[c].tolist()]
                     for c, t in zip(df.columns, df.dtypes)]}


def _missing(v: Any) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def decode(x: Any) -> Any:
    if isinstance(x, list):
        return [decode(v) for v in x]
    if not isinstance(x, dict):
        return x
    if len(x) == 1 or "$set" in x or "$dataclass" in x:
        tag = next(iter(k for k in x if k.startswith("$")), None)
        body = x.get(tag)
        if tag == "$tuple":
            return tuple(decode(v) for v in body)
        if tag == "$dict":
            return {decode(k): decode(v) for k, v in body}
        if tag == "$datetime":
            return datetime.fromisoformat(body)
        if tag == "$date":
            return date.fromisoformat(body)
        if tag == "$timedelta":
            return timedelta(seconds=body)
        if tag == "$float":
            return float(body)
        if tag == "$nat":
            return pd.NaT
        if tag == "$set":
            items = [decode(v) for v in body]
            return frozenset(items) if x.get("frozen") else set(items)
        if tag == "$frame":
            return _decode_frame(body)
        if tag == "$dataclass":
            return _decode_dataclass(body, x.get("fields") or {})
    raise ValueError(f"not a stored value: {sorted(x)[:3]}")


def _decode_frame(body: dict) -> pd.DataFrame:
    columns = [decode(c) for c in body["columns"]]
    series = {}
    for name, dtype, cells in zip(columns, body["dtypes"], body["data"]):
        values = [decode(v) for v in cells]
        series[name] = (pd.Series(values, dtype=object) if dtype == "object"
                        else pd.Series(values, dtype=dtype))
    return pd.DataFrame(series, columns=columns)


def _decode_dataclass(path: str, fields: dict) -> Any:
    module, _, name = path.partition(":")
    if not module.startswith(ALLOWED_MODULES) or not name.isidentifier():
        raise ValueError(f"not a storable class: {path}")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"not a storable class: {path}")
    return cls(**{k: decode(v) for k, v in fields.items()})
