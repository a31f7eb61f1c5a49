"""Benchmark plumbing: collect ``bench_*.py`` files, find the recorded data, print ratios.

Each benchmark records its median time per operation under a group name and
an implementation name.  At the end of the session a table prints each
implementation's time per operation and its ratio to the group's baseline,
the reference book measured in the same run.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from cryptobot.core.config import _default_sample_data

BASELINE = "reference"

_medians: dict[str, dict[str, float]] = defaultdict(dict)


def pytest_collect_file(file_path: Path, parent):
    # Benchmarks are named bench_<area>.py so the test run never collects them.
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The folder of recorded real exchange data; benchmarks that need it skip without it."""
    path = Path(os.environ.get("CRYPTOBOT_SAMPLE_DATA") or _default_sample_data())
    if not (path / "SOURCES.md").is_file():
        pytest.skip(f"recorded exchange data not found at {path}: set CRYPTOBOT_SAMPLE_DATA to the data/real folder")
    return path


@pytest.fixture
def record_median():
    """Return ``record(benchmark, group, implementation, operations)`` storing ns per operation."""

    def record(benchmark, group: str, implementation: str, operations: int) -> float:
        nanoseconds = benchmark.stats.stats.median * 1e9 / operations
        benchmark.extra_info["ns_per_operation"] = round(nanoseconds, 1)
        benchmark.extra_info["operations_per_round"] = operations
        _medians[group][implementation] = nanoseconds
        return nanoseconds

    return record


def pytest_terminal_summary(terminalreporter):
    if not _medians:
        return
    terminalreporter.section("median ns per operation, and ratio to the reference book")
    for group, medians in sorted(_medians.items()):
        baseline = medians.get(BASELINE)
        for implementation, nanoseconds in sorted(medians.items(), key=lambda item: item[1]):
            ratio = f"{nanoseconds / baseline:6.3f}x" if baseline else "   n/a"
            terminalreporter.write_line(f"{group:<28} {implementation:<22} {nanoseconds:10.1f} ns  {ratio}")
