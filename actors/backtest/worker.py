"""The function a backtest worker process runs.

It imports no store: the ticks come from the job's spool (see
:mod:`cryptobot.actors.backtest.data`) and the cancel flag and progress
from its control file.  The outcome is returned as a plain dict, never
raised, so nothing depends on exception classes surviving pickling.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from cryptobot.actors.backtest.control import BacktestCancelled, Control
from cryptobot.actors.backtest.data import open_spool
from cryptobot.actors.backtest.results import build_results
from cryptobot.actors.backtest.run import BarColumns, run_bars, run_trades
from cryptobot.actors.backtest.spec import BacktestSpec
from cryptobot.core.errors import CryptobotError

log = logging.getLogger("cryptobot.actors.backtest.worker")

CONTROL_FILE = "control"


def run_job(spec_json: dict[str, Any], folder: str) -> dict[str, Any]:
    """Run one spooled backtest; return ``{"status": "completed" | "cancelled" | "failed", ...}``."""
    path = Path(folder)
    control = Control(path / CONTROL_FILE)
    try:
        spec = BacktestSpec.from_json(spec_json)
        columns = open_spool(path)
        if isinstance(columns, BarColumns):
            output = run_bars(spec, columns, control)
        else:
            output = run_trades(spec, columns, control)
        return {"status": "completed", "results": build_results(output)}
    except BacktestCancelled:
        return {"status": "cancelled"}
    except CryptobotError as exc:
        return {"status": "failed", "error": exc.message}
    except Exception as exc:  # noqa: BLE001 - the service records the reason
        log.error("backtest in %s failed: %s", folder, traceback.format_exc())
        return {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc}"}
    finally:
        control.close()


def warm_up() -> int:
    """Import the replay modules (a no-op task that makes a fresh worker ready)."""
    return 0
