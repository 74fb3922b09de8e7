"""What the pages' CSV-upload tests share: writing a CSV by hand, uploading it to a data picker,
the files every 2D page must refuse, and telling which trained rows came from a file."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

ROWS_2D = np.random.default_rng(0).normal(size=(150, 2)) * [1.0, 0.3] + [2.0, -1.0]  # the 2D pages' good file
ROWS = {1: np.random.default_rng(0).normal(size=(150, 1)) * 0.5 + 3.0,  # pages that take 1D or 2D files
        2: np.random.default_rng(1).normal(size=(150, 2)) * [1.0, 0.3] + [2.0, -1.0]}

BAD_CSV = {  # the file, and what every page that reads CSV must say about it
    "one row": (b"1,2\n", "single data row"),
    "non-numeric": (b"x,y\n1,2\nfoo,3\n", "Row 3, column 1: 'foo' is not a number"),
    "3 columns": (b"1,2,3\n4,5,6\n", "Expected 1 or 2 numeric columns, found 3"),
    "NaN": (b"1,2\nnan,3\n", "hold NaN or infinity"),
}
ONE_COLUMN_ON_A_2D_PAGE = (b"0.1\n0.4\n0.3\n", "This page needs 2D data; the file has 1 column(s)")
BAD_CSV_2D = {**BAD_CSV, "1 column": ONE_COLUMN_ON_A_2D_PAGE}


def rows_csv(rows: np.ndarray, header: str = "") -> bytes:
    """A CSV written by hand (repr keeps every digit), not by the playground's own writer."""
    body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in np.atleast_2d(rows))
    return (header + body).encode()


def upload(at: AppTest, picker: str, name: str, raw: bytes) -> AppTest:
    """Upload ``raw`` to the CSV box of the data picker ``picker`` and rerun."""
    return at.file_uploader(key=f"{picker}__upload").set_value((name, raw, "text/csv")).run()


def from_the_file(rows: np.ndarray, file_rows: np.ndarray) -> np.ndarray:
    """For each row, whether it is one of the file's rows (to float32 precision)."""
    distances = np.abs(rows[:, None, :] - file_rows[None, :, :]).max(-1)
    return distances.min(1) < 1e-5
