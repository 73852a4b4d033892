"""Numbers a person wrote as text are read only in ASCII digits (digits41b).

``int`` and ``float`` alone also read Arabic-Indic or full-width digits ("٣", "３"),
underscores ("1_000") and, for ``float``, "nan" and "inf": each was a value read from
text nobody meant as that number. These are the reads digits41 left plain.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from agent.csvio import read_table
from agent.errors import InputError

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _csv(tmp_path: Path, cell: str, stamp: str = str(START)) -> Path:
    path = tmp_path / "load.csv"
    path.write_text(f"time,value\n{START - 60},1\n{stamp},{cell}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", ["٣", "３", "1_000", "١٢.٥"])
def test_a_csv_cell_in_other_digits_is_refused_with_file_line_and_column(
    tmp_path: Path, cell: str
) -> None:
    path = _csv(tmp_path, cell)
    with pytest.raises(InputError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: column 'value': {cell!r} is not a number")
    assert "ASCII digits" in message


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999"])
def test_a_csv_cell_that_is_not_finite_is_still_refused(tmp_path: Path, cell: str) -> None:
    path = _csv(tmp_path, cell)
    where = re.escape(f"{path}:3: column 'value':")
    with pytest.raises(InputError, match=rf"^{where} .* not a finite number"):
        read_table(path)


@pytest.mark.parametrize("cell", ["", "nan", "NaN", "NAN", "NA", "null", "None"])
def test_an_empty_or_nan_csv_cell_stays_a_missing_value(tmp_path: Path, cell: str) -> None:
    table = read_table(_csv(tmp_path, cell))
    assert table.columns["value"][0] == 1.0
    assert math.isnan(table.columns["value"][1])


def test_plain_csv_numbers_still_read(tmp_path: Path) -> None:
    table = read_table(_csv(tmp_path, "-1.5e2"))
    assert table.columns["value"] == [1.0, -150.0]


def test_epoch_seconds_in_other_digits_are_refused(tmp_path: Path) -> None:
    arabic = str(START).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    path = _csv(tmp_path, "2", stamp=arabic)
    where = re.escape(f"{path}:3: column 'time':")
    with pytest.raises(InputError, match=rf"^{where} .*neither epoch seconds"):
        read_table(path)
