"""The CSV loader: clean data comes back, every bad input gets its own clear error."""

from __future__ import annotations

import numpy as np
import pytest

from playground.data import CSVError, csv_bytes, from_array, load_csv


def test_two_columns_with_header_round_trip():
    values = np.random.default_rng(0).normal(size=(50, 2))
    target = load_csv(csv_bytes(values, header=("x", "y")), name="pts.csv")
    np.testing.assert_allclose(target.data, values)
    assert target.dim == 2 and target.column_names == ("x", "y")
    assert not target.has_log_prob


def test_one_column_without_header_and_semicolons_and_whitespace():
    assert load_csv(b"1\n2\n3\n").data.ravel().tolist() == [1.0, 2.0, 3.0]
    assert load_csv(b"a;b\n1;2\n3;4\n").data.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert load_csv(b"1 2\n3 4\n").data.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_utf8_bom_and_utf16_text_are_read():
    assert load_csv("x\n1\n2\n".encode("utf-8-sig")).data.ravel().tolist() == [1.0, 2.0]
    assert load_csv("x,y\n1,2\n3,4\n".encode("utf-16")).data.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_sampling_resamples_rows_reproducibly():
    target = from_array(np.arange(10.0))
    a = target.sample(5, seed=1)
    np.testing.assert_array_equal(a, target.sample(5, seed=1))
    assert len(np.unique(a)) == 5  # without replacement while possible
    assert target.sample(30, seed=1).shape == (30, 1)  # bootstrap beyond N


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"x,y\n", "header .* but no data rows"),
        (b"1,2\n3,abc\n", r"Row 2, column 2: 'abc' is not a number"),
        (b"1,2\nnan,4\n", "NaN or infinity"),
        (b"1,2\n3,inf\n", "NaN or infinity"),
        (b"1,2,3\n4,5,6\n", "Expected 1 or 2 numeric columns, found 3"),
        (b"1,2\n3\n", "Row 2 has 1 columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"1,2\n1e308,1\n", "overflow"),
        (b"5\n", "single data row"),
    ],
    ids=["empty", "blank", "header-only", "non-numeric", "nan", "inf", "three-columns", "ragged", "binary",
         "huge-values", "one-row"],
)
def test_bad_csv_gets_a_specific_message(raw, message):
    with pytest.raises(CSVError, match=message):
        load_csv(raw)


def test_too_many_rows_are_capped_with_a_note():
    raw = "\n".join(str(i) for i in range(1200)).encode()
    target = load_csv(raw, max_rows=1000)
    assert target.data.shape == (1000, 1)
    assert "1,200 rows" in target.notes[0] and "1,000" in target.notes[0]


def test_a_million_rows_load_capped():
    raw = ("x\n" + "\n".join("0.5" for _ in range(1_000_000))).encode()
    target = load_csv(raw)
    assert target.data.shape == (100_000, 1)
    assert target.notes
