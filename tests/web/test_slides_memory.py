"""Building the tiled pyramid of a large image reads it a band at a time: the peak memory of an
8000 x 8000 uint16 BigTIFF ingest (122 MB of pixels, written in strips) grows by far less than
the image itself (benchmarks/bench_ingest.py, measured in a fresh process)."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ingest.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_8000_square_bigtiff_is_ingested_in_less_memory_than_half_its_pixels():
    report = load_bench().measure(8000)
    assert report["spot_check"]
    assert report["levels"][0] == [8000, 8000] and len(report["levels"]) == 5
    assert report["growth_mb"] < report["image_mb"] / 2, report
