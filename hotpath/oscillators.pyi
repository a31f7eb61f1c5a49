"""Type stubs for cryptobot.hotpath.oscillators."""

import numpy as np
import numpy.typing as npt

class RSI:
    period: int
    value: float
    ready: bool
    count: int
    def __init__(self, period: int = 14) -> None: ...
    def update(self, value: float) -> float: ...
    def reset(self) -> None: ...

class MACD:
    fast_period: int
    slow_period: int
    signal_period: int
    value: float
    macd: float
    signal: float
    histogram: float
    ready: bool
    count: int
    def __init__(self, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9) -> None: ...
    def update(self, value: float) -> float: ...
    def reset(self) -> None: ...

def rsi(values: npt.ArrayLike, period: int = 14) -> npt.NDArray[np.float64]: ...
def macd(
    values: npt.ArrayLike, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
