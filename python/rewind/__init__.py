"""rewind from Python: SGD run exactly on a fixed-point grid and rewound bit for bit.

numpy arrays in, the reports of the ``rewind`` command line out (as dicts), trajectories as
numpy arrays, and models written in numpy. Every function runs the Rust library without the
GIL (Python threads run in parallel), stops on Ctrl-C, and raises the library's one-line
messages as exceptions: ``ValueError`` for bad input, ``OSError`` for files, ``TypeError`` for
unknown options or arguments of the wrong kind.

    import numpy as np, rewind
    X, y = rewind.load_dataset("digits")
    keep = (y == 3) | (y == 8)
    report = rewind.verify(X[keep], y[keep], batch=20, epochs=2)
    report["reconstruction"]["initial_model_bit_exact"]   # True
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _native

__version__: str = _native.__version__

__all__ = [
    "Model",
    "verify",
    "trajectory",
    "encode",
    "decode",
    "sweep",
    "results_frame",
    "claims",
    "audit",
    "load_dataset",
    "options",
]

#: The options of :func:`verify` and friends: (name, default, help), in the CLI's order.
_OPTIONS: List[Tuple[str, str, str]] = list(_native.options())


def options() -> List[Tuple[str, str, str]]:
    """The options every run takes (the ``rewind verify`` flags with underscores), as
    ``(name, default, help)`` in the order ``rewind verify --help`` lists them."""
    return list(_OPTIONS)


def _options_table() -> str:
    width = max(len(n) for n, _, _ in _OPTIONS)
    return "\n".join(f"    {n:<{width}}  default {d}: {h}" for n, d, h in _OPTIONS)


class Model:
    """A model written in numpy, run by the same pipeline as rewind's own models on the f64
    backend: the run, every inversion, the walk back to W₁,₁ and the Lemma 3.1 code.

    Subclass it and define:

    - ``dim``: the number of weights (an ``int`` attribute or property);
    - ``gradient(w, X, y) -> ndarray``: the mean gradient of the loss over the rows of ``X``,
      ``dim`` float64 values; ``w`` is a float64 array of ``dim`` weights (each on the grid),
      ``X`` a float64 (rows × features) array as the run sees the data (quantised, scaled into
      [-1, 1], the bias column of ones last), ``y`` an int64 array of class indices 0, 1, …;
    - ``correct(w, X, y) -> ndarray``: one bool per row, whether the row is classified
      correctly;
    - optionally ``init(X, y) -> ndarray``: the initial model (rounded onto the grid). Without
      it, W₁,₁ is drawn from the run's seed as for the built-in models.

    Pass an instance as ``model=`` to :func:`verify`, :func:`trajectory` or :func:`encode`.
    A gradient of the wrong length is a ``ValueError``; an exception inside the model stops the
    run and is raised again as it was.
    """

    @property
    def dim(self) -> int:
        raise NotImplementedError("define dim, the number of weights")

    def gradient(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError("define gradient(w, X, y)")

    def correct(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError("define correct(w, X, y)")

    def init(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # never called: the marker below selects the default draw

    init.__rewind_default__ = True  # type: ignore[attr-defined]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"option value {o!r} is not a bool, number, string or list")


def _split(options: Dict[str, Any]) -> Tuple[str, Any, Any]:
    """(options as JSON, the numpy model or None, the progress setting)."""
    options = dict(options)
    progress = options.pop("progress", False)
    model = options.get("model")
    numpy_model = None
    if model is not None and not isinstance(model, str):
        if isinstance(model, Model) or hasattr(model, "gradient"):
            numpy_model = options.pop("model")
        else:
            raise TypeError(
                f"model must be a name (e.g. 'logistic') or a rewind.Model, got {type(model).__name__}"
            )
    return json.dumps(options, default=_json_default), numpy_model, progress


def _arrays(X: Any, y: Any) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    if X is None and y is None:
        return None, None
    if X is None or y is None:
        raise ValueError("give both X and y, or neither (then the option data names the data set)")
    return np.asarray(X), np.asarray(y)


class _Bar:
    """A one-line progress display on stderr: phase, done/total and a bar."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(f"\rrewind {phase:<9} [{'#' * filled}{' ' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _call(fn: Any, *args: Any, progress: Any = False, **kw: Any) -> Any:
    """Runs a native function; on the main thread it runs in a worker thread so that Ctrl-C
    (KeyboardInterrupt) reaches Python at once and stops the run within one gradient step."""
    bar = _Bar() if progress is True else None
    callback = bar if bar is not None else (progress if callable(progress) else None)
    token = _native.CancelToken(callback)
    try:
        if threading.current_thread() is not threading.main_thread():
            return fn(*args, token=token, **kw)
        box: Dict[str, Any] = {}
        # An Event, not Thread.join: a join interrupted by Ctrl-C marks a running thread as
        # stopped (CPython's bpo-45274 handling), and the interpreter could then exit under a
        # run that is still unwinding.
        finished = threading.Event()

        def target() -> None:
            try:
                box["value"] = fn(*args, token=token, **kw)
            except BaseException as e:  # re-raised on the calling thread
                box["error"] = e
            finally:
                finished.set()

        threading.Thread(target=target, name="rewind", daemon=True).start()
        try:
            while not finished.wait(0.5):
                pass
        except KeyboardInterrupt:
            token.cancel()
            while not finished.is_set():
                try:
                    finished.wait()
                except KeyboardInterrupt:
                    continue
            raise
        if "error" in box:
            raise box["error"]
        return box["value"]
    finally:
        if bar is not None:
            bar.close()


def verify(X: Any = None, y: Any = None, **options: Any) -> Dict[str, Any]:
    """Runs, inverts, walks back, codes and reports: what ``rewind verify --json`` prints.

    ``X`` is a 2-D array of examples × features (float or integer, C or Fortran order), ``y``
    a 1-D integer array of labels; both are quantised onto the grid by the library exactly as
    a CSV file's values are. With neither, the option ``data`` names the data set. The dict
    equals the CLI's JSON report for the same data and options, key for key (``config.data``
    describes the arrays instead of a file).

    ``model`` is a built-in model's name or an instance of :class:`rewind.Model`.
    ``progress=True`` shows a progress bar on stderr (or pass a callable
    ``progress(phase, done, total)``).

    Options (the ``rewind verify`` flags with underscores) and their defaults:

{options}
    """
    opts, model, progress = _split(options)
    X, y = _arrays(X, y)
    text = _call(_native.verify, X, y, opts, model, progress=progress)
    return json.loads(text)


def trajectory(X: Any = None, y: Any = None, **options: Any) -> Dict[str, Any]:
    """A run as numpy arrays, what ``--dump-trajectory`` holds and what inversion found.

    Keys: ``models`` (steps + 1, d) int64 grid integers (model k before step k, the final
    model last; value = integer · 2^-frac_bits), ``batches`` (steps, b) int64 example indices,
    ``epoch`` and ``step`` (steps,) int64, ``permutations`` (epochs, n), ``final`` (d,),
    ``frac_bits``, ``alpha`` (text), ``outcomes`` (per step: ``recovered``,
    ``other-preimage`` or ``no-preimage``), ``hints`` (per step ``None`` or a pair of arrays
    (coordinates, corrections) that turn the inverter's point into the logged model) and
    ``report`` (the :func:`verify` dict). Takes the options of :func:`verify`.
    """
    opts, model, progress = _split(options)
    X, y = _arrays(X, y)
    out = _call(_native.trajectory, X, y, opts, model, progress=progress)
    out["report"] = json.loads(out["report"])
    return out


def encode(X: Any = None, y: Any = None, **options: Any) -> Tuple[bytes, Dict[str, Any]]:
    """Runs and encodes: ``(code, final)``, the same bytes as ``rewind encode --code`` writes
    and the dict of its ``--final`` file. Takes the options of :func:`verify`."""
    opts, model, progress = _split(options)
    X, y = _arrays(X, y)
    code, final = _call(_native.encode, X, y, opts, model, progress=progress)
    return code, json.loads(final)


def decode(code: bytes, final: Any, X: Any = None, y: Any = None, **options: Any) -> Dict[str, Any]:
    """Decodes a code (bytes, or a path to a code file) with its final model (the dict from
    :func:`encode`, its weights as an int64 array, or a path to the ``--final`` file) on the
    data it was written for: every model from W₁,₁ on, every batch and permutation, as in
    :func:`trajectory`. The run's parameters come from the code; ``options`` give only the
    data's (``classes``, ``random_labels``, ``seed``, or ``data`` without arrays)."""
    if isinstance(code, (str, os.PathLike)):
        with open(code, "rb") as f:
            code = f.read()
    if isinstance(final, (str, os.PathLike)):
        with open(final, encoding="utf-8") as f:
            final = json.load(f)
    if isinstance(final, dict):
        final = final["final"]
    weights = np.asarray(final)
    if weights.ndim != 1 or weights.dtype.kind not in "iu":
        raise TypeError("final must be the final model's dict, or a 1-D integer array of grid integers")
    opts, _, progress = _split(options)
    X, y = _arrays(X, y)
    return _call(
        _native.decode, bytes(code), np.ascontiguousarray(weights, dtype=np.int64), X, y, opts,
        progress=progress,
    )


def sweep(plan: Union[str, "os.PathLike[str]", Dict[str, Any]], threads: Optional[int] = None) -> List[Dict[str, Any]]:
    """Every run of a plan, as ``rewind sweep`` writes them (one dict per results line).

    ``plan`` is a plan file (TOML, see plans/smoke.toml; relative data paths are read from its folder)
    or a dict of the same shape (relative data paths from the working directory)
    (``{"name": ..., "axes": {...}, "fixed": {...}, "phases": {...}}``). ``threads`` defaults
    to one per core; the results do not depend on it.
    """
    if isinstance(plan, dict):
        text, name, is_json = json.dumps(plan, default=_json_default), str(plan.get("name", "plan")), True
    else:
        name = os.fspath(plan)
        with open(name, encoding="utf-8") as f:
            text = f.read()
        is_json = False
    lines = _call(_native.sweep, text, name, is_json, threads)
    return [json.loads(line) for line in lines.splitlines() if line.strip()]


def claims(results: Union[str, "os.PathLike[str]", List[Dict[str, Any]]]) -> Dict[str, Any]:
    """What ``rewind claims --json`` prints for sweep results: a list from :func:`sweep` or a
    results file (JSON lines)."""
    if isinstance(results, (str, os.PathLike)):
        name = os.fspath(results)
        with open(name, encoding="utf-8") as f:
            text = f.read()
    else:
        name = "results"
        text = "".join(json.dumps(r) + "\n" for r in results)
    return json.loads(_native.claims(text, name))


def audit(
    log: Union[str, "os.PathLike[str]"],
    X: Any = None,
    y: Any = None,
    *,
    tolerance: int = 0,
    shard: Optional[Tuple[int, int]] = None,
    backward: bool = True,
    threads: Optional[int] = None,
    progress: Any = False,
    **options: Any,
) -> Dict[str, Any]:
    """What ``rewind audit LOG --json`` prints: a training log (docs/log-format.md) replayed
    bit for bit, its first divergence, the steps the walk back needs side information for and,
    with ``certify=True``, which steps could have been forged.

    The model, grid, α, backend and batch size come from the log's header. The data come from
    ``X`` and ``y`` (as in :func:`verify`) or, with neither, from the option ``data``; the
    other data options (``classes``, ``random_labels``, ``seed``) and ``certify``,
    ``certify_budget`` and ``max_iterations`` are those of :func:`verify`. ``tolerance``
    accepts a logged model within that many ulps of the replay; ``shard=(K, N)`` audits every
    N-th segment between checkpoints from the K-th; ``backward=False`` skips the walk back.
    The dict's ``verified`` is true when every step replayed within the tolerance. A log that
    cannot be read is an ``OSError``; a malformed log, or one made on other data, a
    ``ValueError``."""
    opts, _, _ = _split(options)
    X, y = _arrays(X, y)
    text = _call(
        _native.audit,
        os.fspath(log),
        X,
        y,
        opts,
        tolerance=tolerance,
        shard=shard,
        backward=backward,
        threads=threads,
        progress=progress,
    )
    return json.loads(text)


def _flatten(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def results_frame(results: Union[Dict[str, Any], List[Dict[str, Any]]]) -> Any:
    """One row per run, nested keys joined by dots (``report.config.batch``,
    ``report.reconstruction.initial_model_bit_exact``): a pandas DataFrame when pandas is
    installed, else a list of flat dicts. Takes sweep results or :func:`verify` reports."""
    rows = [_flatten(r) for r in ([results] if isinstance(results, dict) else results)]
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def load_dataset(name: str, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a data set: ``"digits"`` (the bundled UCI optical digits, 8×8 pixels 0–16),
    ``"synthetic"`` (400 Gaussian examples of 8 features from a random linear teacher, drawn
    from ``seed``) or a CSV/IDX file as ``--data`` reads it. ``X`` is float64, ``y`` int64."""
    return _native.load_dataset(os.fspath(name), seed)


verify.__doc__ = (verify.__doc__ or "").replace("{options}", _options_table())
