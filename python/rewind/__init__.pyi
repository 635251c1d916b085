"""Type stubs of rewind: SGD run exactly on a fixed-point grid and rewound bit for bit."""

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, "os.PathLike[str]"]
_Report = Dict[str, Any]

class Model:
    """A model written in numpy; subclass it and define dim, gradient and correct."""

    @property
    def dim(self) -> int: ...
    def gradient(
        self, w: npt.NDArray[np.float64], X: npt.NDArray[np.float64], y: npt.NDArray[np.int64]
    ) -> npt.ArrayLike: ...
    def correct(
        self, w: npt.NDArray[np.float64], X: npt.NDArray[np.float64], y: npt.NDArray[np.int64]
    ) -> npt.ArrayLike: ...
    def init(self, X: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> npt.ArrayLike: ...

def options() -> List[Tuple[str, str, str]]: ...
def verify(X: Optional[npt.ArrayLike] = None, y: Optional[npt.ArrayLike] = None, **options: Any) -> _Report: ...
def trajectory(
    X: Optional[npt.ArrayLike] = None, y: Optional[npt.ArrayLike] = None, **options: Any
) -> Dict[str, Any]: ...
def encode(
    X: Optional[npt.ArrayLike] = None, y: Optional[npt.ArrayLike] = None, **options: Any
) -> Tuple[bytes, Dict[str, Any]]: ...
def decode(
    code: Union[bytes, _Path],
    final: Union[Dict[str, Any], npt.ArrayLike, _Path],
    X: Optional[npt.ArrayLike] = None,
    y: Optional[npt.ArrayLike] = None,
    **options: Any,
) -> Dict[str, Any]: ...
def sweep(plan: Union[_Path, Dict[str, Any]], threads: Optional[int] = None) -> List[Dict[str, Any]]: ...
def claims(results: Union[_Path, List[Dict[str, Any]]]) -> Dict[str, Any]: ...
def audit(
    log: _Path,
    X: Any = None,
    y: Any = None,
    *,
    tolerance: int = 0,
    shard: Optional[Tuple[int, int]] = None,
    backward: bool = True,
    threads: Optional[int] = None,
    progress: Any = False,
    **options: Any,
) -> Dict[str, Any]: ...
def results_frame(results: Union[Dict[str, Any], List[Dict[str, Any]]]) -> Any: ...
def load_dataset(name: _Path, seed: int = 0) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
