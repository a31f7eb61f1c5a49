"""Type stubs for cryptobot.hotpath.volatility."""

import numpy as np
import numpy.typing as npt

class RollingStd:
    period: int
    ddof: int
    value: float
    ready: bool
    count: int
    def __init__(self, period: int, ddof: int = 0) -> None: ...
    def update(self, value: float) -> float: ...
    def reset(self) -> None: ...

class BollingerBands:
    period: int
    num_std: float
    value: float
    middle: float
    upper: float
    lower: float
    ready: bool
    count: int
    def __init__(self, period: int = 20, num_std: float = 2.0) -> None: ...
    def update(self, value: float) -> float: ...
    def reset(self) -> None: ...

class ZScore:
    period: int
    ddof: int
    value: float
    ready: bool
    count: int
    def __init__(self, period: int, ddof: int = 0) -> None: ...
    def update(self, value: float) -> float: ...
    def reset(self) -> None: ...

class ATR:
    period: int
    value: float
    ready: bool
    count: int
    def __init__(self, period: int = 14) -> None: ...
    def update(self, high: float, low: float, close: float) -> float: ...
    def reset(self) -> None: ...

def rolling_std(values: npt.ArrayLike, period: int, ddof: int = 0) -> npt.NDArray[np.float64]: ...
def bollinger_bands(
    values: npt.ArrayLike, period: int = 20, num_std: float = 2.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def zscore(values: npt.ArrayLike, period: int, ddof: int = 0) -> npt.NDArray[np.float64]: ...
def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> npt.NDArray[np.float64]: ...
