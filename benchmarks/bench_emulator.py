"""Benchmarks of the exchange emulator and the recording loaders.

* ``test_send_rate[...]``: frames per second sent to one client in another
  process (see ``emulator_send_rate.py``), for the emulator and two
  baseline servers measured in the same run.  The rates and their ratios
  to ``picows_send`` are stored in ``extra_info``.
* ``test_load_*``: loading the spot BTCUSDT capture (99,573 frames, every
  line validated) against a baseline that only gunzips and parses each line.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import orjson
import pytest
import uvloop

from cryptobot.gateways.recordings import load_f1

# The measurement lives in a script runnable on its own; load it by path
# because this folder is not a package.
_spec = importlib.util.spec_from_file_location("emulator_send_rate", Path(__file__).with_name("emulator_send_rate.py"))
send_rate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(send_rate)
SERVERS, SPOT_FILES = send_rate.SERVERS, send_rate.SPOT_FILES

DATA = Path(os.environ.get("CRYPTOBOT_SAMPLE_DATA", "../shared/data/real"))
RATES: dict[str, tuple[float, float]] = {}

pytestmark = pytest.mark.skipif(not (DATA / "SOURCES.md").is_file(), reason="recorded data not found")


@pytest.mark.parametrize("server", ["picows_send", "aiohttp_send_str", "emulator"])
def test_send_rate(benchmark, server):
    measure = SERVERS[server]

    def run():
        return uvloop.run(measure(DATA))

    wall, cpu = benchmark.pedantic(run, rounds=3, iterations=1)
    RATES[server] = (wall, cpu)
    benchmark.extra_info["frames_per_second"] = round(wall)
    benchmark.extra_info["frames_per_server_cpu_second"] = round(cpu)
    if "picows_send" in RATES:
        base_wall, base_cpu = RATES["picows_send"]
        benchmark.extra_info["ratio_vs_picows_send"] = round(wall / base_wall, 2)
        benchmark.extra_info["cpu_ratio_vs_picows_send"] = round(cpu / base_cpu, 2)


def _parse_only(paths):
    count = 0
    for path in paths:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                if line.strip():
                    orjson.loads(line.partition(b" ")[2])
                    count += 1
    return count


def test_load_baseline_parse_only(benchmark):
    count = benchmark.pedantic(_parse_only, args=([DATA / name for name in SPOT_FILES],), rounds=3, iterations=1)
    assert count == 99574


def test_load_f1_validated(benchmark):
    recording = benchmark.pedantic(load_f1, args=([DATA / name for name in SPOT_FILES],), rounds=3, iterations=1)
    assert len(recording.frames) == 99573
