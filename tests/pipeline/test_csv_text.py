"""pipeline/csv_text.py: no cell of a CSV the toolkit writes starts a spreadsheet formula."""

import csv
import io

import pytest

from pipeline.csv_text import csv_text, safe_cell


@pytest.mark.parametrize("cell, written", [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-inf", "'-inf"), ("--1", "'--1"), ("-", "'-"),
    ("-0.500", "-0.500"), ("+3", "+3"), ("1e-05", "1e-05"), ("-.5E+3", "-.5E+3"), ("0.640", "0.640"),
    ("a=b", "a=b"), (" =1", " =1"), ("", ""), (None, ""), (-0.5, -0.5), (3, 3),
])
def test_text_that_starts_a_formula_is_quoted_numbers_are_data(cell, written):
    assert safe_cell(cell) == written


def test_every_cell_of_header_and_rows_is_neutralised_and_reads_back():
    text = csv_text(["video_id", "=neg_s"], [["=1+2", "-1.250"], ["a,\"b\"\n=c", "@x"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["video_id", "'=neg_s"], ["'=1+2", "-1.250"], ["a,\"b\"\n=c", "'@x"]]
