"""The stream is a promise across versions: these digests must never change
without a stream-version bump (docs/STREAM.md, tools/make_golden.py)."""
import json
import os

import pytest

import fastinit
from golden_cases import cases, digest

with open(os.path.join(os.path.dirname(__file__), "data", "golden.json")) as f:
    GOLDEN = json.load(f)

CASES = dict(cases())


def test_table_matches_stream_version():
    assert GOLDEN["stream_version"] == fastinit.STREAM_VERSION


def test_table_covers_every_case():
    assert set(GOLDEN["sha256"]) == set(CASES)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_golden_digest(case_id):
    if "/bfloat16/" in case_id:
        pytest.importorskip("ml_dtypes")
    assert digest(CASES[case_id]()) == GOLDEN["sha256"][case_id], (
        f"{case_id}: output bits changed; this breaks the stream promise of docs/STREAM.md"
    )
