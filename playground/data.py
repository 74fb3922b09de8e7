"""User data: a CSV of one or two numeric columns, behind the same interface as a target.

``load_csv`` returns an ``EmpiricalTarget`` (sample-only, ``.data`` holds the rows) or
raises ``CSVError`` whose message says exactly what is wrong and how to fix it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from playground.targets import Target

MAX_ROWS = 100_000
MAX_BYTES = 10 * 1024 * 1024  # the upload limit in .streamlit/config.toml
MAX_ABS_VALUE = 1e100  # beyond this, squares overflow float64 and every estimate breaks


class CSVError(ValueError):
    """A CSV file that cannot be used, with a message meant for the person who uploaded it."""


@dataclass(frozen=True)
class EmpiricalTarget(Target):
    """A target defined by data rows: sampling resamples the rows."""

    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)), repr=False)
    notes: tuple[str, ...] = ()
    column_names: tuple[str, ...] = ()


def _decode(raw: bytes) -> str:
    if not raw.strip():
        raise CSVError("The file is empty: expected one or two columns of numbers.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    if b"\x00" in raw[:4096]:
        raise CSVError("This looks like a binary file, not a text CSV: save it as CSV (comma-separated text).")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise CSVError("The file is not readable text: save it as UTF-8 CSV.") from None


def _split_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CSVError("The file is empty: expected one or two columns of numbers.")
    sample = "\n".join(lines[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    if delimiter == " ":
        return [line.split() for line in lines]
    return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse(raw: bytes, max_rows: int) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    rows = _split_rows(_decode(raw))
    notes: list[str] = []
    header: tuple[str, ...] = ()
    if not all(_is_number(cell) for cell in rows[0]):
        header = tuple(rows[0])
        rows = rows[1:]
        if not rows:
            raise CSVError(f"The file has a header ({', '.join(header)}) but no data rows.")
    width = len(rows[0])
    if width not in (1, 2):
        raise CSVError(f"Expected 1 or 2 numeric columns, found {width}. Keep only the column(s) to model.")
    if len(rows) > max_rows:
        notes.append(f"The file has {len(rows):,} rows; only the first {max_rows:,} are used.")
        rows = rows[:max_rows]
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        line = i + 1 + (1 if header else 0)
        if len(row) != width:
            raise CSVError(f"Row {line} has {len(row)} columns, the first row has {width}: every row needs the same count.")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise CSVError(f"Row {line}, column {j + 1}: {cell[:30]!r} is not a number.") from None
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CSVError(
            f"Row {i + 1 + (1 if header else 0)}, column {j + 1} is {values[i, j]}: "
            f"{int(bad.any(axis=1).sum())} row(s) hold NaN or infinity. Remove or fill them."
        )
    if np.abs(values).max() > MAX_ABS_VALUE:
        raise CSVError(f"Values as large as {np.abs(values).max():.3g} overflow the computations: rescale the data.")
    if len(values) < 2:
        raise CSVError("The file has a single data row: at least 2 are needed to estimate anything.")
    return values, header, notes


def load_csv(source: bytes | str | Path | BinaryIO, *, name: str = "your data", max_rows: int = MAX_ROWS) -> EmpiricalTarget:
    """Read a CSV of one or two numeric columns (an optional header row is detected).

    Raises ``CSVError`` for an empty file, a header without rows, non-numeric cells,
    NaN/inf, a column count other than 1 or 2, binary content or unreadable text.
    More than ``max_rows`` rows are truncated with a note (``.notes``).
    """
    if isinstance(source, (str, Path)):
        raw = Path(source).read_bytes()
    elif isinstance(source, bytes):
        raw = source
    else:
        raw = source.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise CSVError(f"The file is larger than {MAX_BYTES // 2**20} MB: keep at most {max_rows:,} rows.")
    values, header, notes = _parse(raw, max_rows)
    return from_array(values, name=name, notes=tuple(notes), column_names=header)


def from_array(values: np.ndarray, *, name: str = "your data", notes: tuple[str, ...] = (),
               column_names: tuple[str, ...] = ()) -> EmpiricalTarget:
    """Wrap an (n, 1) or (n, 2) array as a sample-only target that resamples its rows."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    low, high = values.min(axis=0), values.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 1e-9)
    bounds = tuple((float(lo - p), float(hi + p)) for lo, hi, p in zip(low, high, pad))

    def resample(n: int, generator: np.random.Generator) -> np.ndarray:
        # Without replacement while there are enough rows, bootstrap beyond that.
        replace = n > len(values)
        return values[generator.choice(len(values), size=n, replace=replace)]

    return EmpiricalTarget(
        name="csv",
        label=f"{name} ({len(values):,} rows)",
        description="Data you uploaded (sample-only: its density is what the estimators try to find).",
        dim=values.shape[1],
        sampler=resample,
        log_density=None,
        bounds=bounds,
        data=values,
        notes=notes,
        column_names=column_names,
    )


DRAW_BOX = 4.0  # the drawing plane spans [-DRAW_BOX, DRAW_BOX]^2
DRAW_GRID = 33  # clickable points per axis (a click or a lasso selects grid points)


def drawing_grid() -> np.ndarray:
    """The clickable points of the drawing plane, (DRAW_GRID^2, 2)."""
    ticks = np.linspace(-DRAW_BOX, DRAW_BOX, DRAW_GRID)
    x, y = np.meshgrid(ticks, ticks)
    return np.column_stack([x.ravel(), y.ravel()])


def drawn_data(centres: np.ndarray, *, per_click: int = 30, spread: float = 0.18, seed: int = 0) -> np.ndarray:
    """Data drawn by hand: ``per_click`` points scattered N(centre, spread^2 I) around each clicked
    centre (the same centres and seed give the same points)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)  # an empty list gives (0, 2)
    generator = np.random.default_rng(seed)
    return np.repeat(centres, per_click, axis=0) + spread * generator.standard_normal((len(centres) * per_click, 2))


def csv_bytes(values: np.ndarray, header: tuple[str, ...] = ()) -> bytes:
    """The inverse of ``load_csv``: an array as CSV bytes (for downloads and tests)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(header)
    writer.writerows(np.asarray(values).reshape(len(values), -1).tolist())
    return buffer.getvalue().encode()


def fingerprint(source) -> str:
    """A short key that changes when the data change: a hash of an array's bytes, of a target's
    rows (an uploaded CSV), or a registry target's name. Pages key their steppers on it."""
    data = source if isinstance(source, np.ndarray) else getattr(source, "data", None)
    if data is None:
        return str(source.name)
    return hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]
