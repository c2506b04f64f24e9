"""Query results as text: an aligned ``table``, ``csv`` or ``json`` (a list of records).

The one place that turns a DataFrame from the store into what ``megawatch sql``,
``query``, ``sites list``, ``alerts list`` and the demo's summary print.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def render_frame(frame: pd.DataFrame, fmt: str) -> str:
    """A query result as ``table`` (aligned text), ``csv`` or ``json`` (list of records).

    Times are ISO-8601 UTC with milliseconds (``2026-01-02T03:04:05.678Z``), dates
    ``YYYY-MM-DD``; arrays, maps and tuples print as JSON.
    """
    if len(frame.columns) == 0:  # a statement without a result (DDL, INSERT)
        return "[]" if fmt == "json" else ""
    frame = _doubles(frame)
    if fmt == "json":
        text = _with_dates(frame).to_json(
            orient="records",
            date_format="iso",
            date_unit="ms",
            default_handler=str,
            double_precision=15,
        )
        return _exact_json(str(text))
    plain = _plain(frame)
    if fmt == "csv":
        return str(plain.to_csv(index=False)).rstrip("\n")
    return _aligned(plain, _numeric_columns(frame))


def _doubles(frame: pd.DataFrame) -> pd.DataFrame:
    """Single-precision columns (Float32 in the store) as the doubles their digits say:
    a Float32 3.9 is 3.9000000953674316 as a double, which would print as 3.90000009537;
    its own shortest form is 3.9, all that the stored value supports."""
    import numpy as np

    wide = [name for name in frame.columns if frame[name].dtype == np.float32]
    if not wide:
        return frame
    out = frame.copy()
    for name in wide:
        out[name] = [
            float(np.format_float_positional(value, unique=True, trim="-"))
            if not np.isnan(value)
            else np.nan
            for value in frame[name].to_numpy()
        ]
    return out


def _numeric_columns(frame: pd.DataFrame) -> set[Any]:
    import pandas as pd

    return {name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name].dtype)}


def _exact_json(text: str) -> str:
    """pandas' JSON encoder prints binary noise (5312345.678000000305): parse its output
    and write it again with every float at :data:`SIGNIFICANT_DIGITS`, shortest form."""
    import orjson

    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return float(_float_text(value))
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return orjson.dumps(clean(orjson.loads(text))).decode()


def _aligned(frame: pd.DataFrame, numeric_columns: set[Any]) -> str:
    """Columns padded to their widest value: numbers to the right, text to the left."""
    import pandas as pd

    columns = []
    for name in frame.columns:
        cells = [str(name)] + ["" if pd.isna(v) else str(v) for v in frame[name]]
        width = max(len(cell) for cell in cells)
        numeric = name in numeric_columns
        columns.append([c.rjust(width) if numeric else c.ljust(width) for c in cells])
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns (naive, all midnight) as YYYY-MM-DD strings; the rest unchanged."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_dtype(column.dtype) and not isinstance(
            column.dtype, pd.DatetimeTZDtype
        ):
            values = column.dropna()
            if (values == values.dt.normalize()).all():
                out[name] = column.dt.strftime("%Y-%m-%d")
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as text for csv and table output."""
    import pandas as pd

    out = _with_dates(frame)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            text = column.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
            out[name] = text.str[:-3] + "Z"
        elif pd.api.types.is_float_dtype(column.dtype):
            out[name] = [_float_text(value) for value in column]
        elif column.dtype == object:
            out[name] = [_scalar_text(value) for value in column]
    return out


#: Sums of float readings carry binary noise in the 16th digit (3.8303000000000003);
#: 12 significant digits keep every digit a meter reports and drop the noise.
SIGNIFICANT_DIGITS = 12


def _float_text(value: Any) -> str:
    import math

    import numpy as np

    if value is None or math.isnan(value):
        return ""
    if math.isinf(value):
        return str(value)
    return str(
        np.format_float_positional(
            value, precision=SIGNIFICANT_DIGITS, unique=True, fractional=False, trim="-"
        )
    )


def _scalar_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (list, tuple, dict)):
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    return value
