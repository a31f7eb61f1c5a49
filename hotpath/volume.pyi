"""Type stubs for cryptobot.hotpath.volume."""

import numpy as np
import numpy.typing as npt

NS_PER_DAY: int
MAX_SESSION_NS: int

class SessionVWAP:
    session_ns: int
    offset_ns: int
    value: float
    ready: bool
    count: int
    last_timestamp_ns: int
    def __init__(self, session_ns: int = ..., offset_ns: int = 0) -> None: ...
    def update(self, price: float, volume: float, timestamp_ns: int) -> float: ...
    def reset(self) -> None: ...

class RollingVWAP:
    period: int
    value: float
    ready: bool
    count: int
    def __init__(self, period: int) -> None: ...
    def update(self, price: float, volume: float) -> float: ...
    def reset(self) -> None: ...

def session_vwap(
    prices: npt.ArrayLike,
    volumes: npt.ArrayLike,
    timestamps_ns: npt.ArrayLike,
    session_ns: int = ...,
    offset_ns: int = 0,
) -> npt.NDArray[np.float64]: ...
def rolling_vwap(prices: npt.ArrayLike, volumes: npt.ArrayLike, period: int) -> npt.NDArray[np.float64]: ...
