"""The Python package against the CLI, on arrays of every dtype and order, with a numpy model,
bad inputs, threads, codes, sweeps and Ctrl-C."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import rewind
from conftest import ROOT, cli, cli_report, flags, without_source, write_csv


def teacher(n=48, features=3, seed=7):
    """Non-integer Gaussian features with labels from a linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    y = (X @ rng.normal(size=features) > 0).astype(np.int64)
    return X, y


CONFIGS = {
    "default-digits": ("digits", dict(epochs=1)),
    "certify-least-squares": (
        "teacher",
        dict(model="least-squares", certify=True, frac_bits=16, batch=4, q=0.2, epochs=2,
             early_stop=False),
    ),
    "sgd-prime": (
        "teacher",
        dict(algorithm="sgd-prime", batch=8, epochs=1, frac_bits=24, epsilon="0.1",
             max_gd_steps=20),
    ),
    "softmax-no-code": ("digits", dict(model="softmax", classes=[3, 8], epochs=1, code=False,
                                       seed=3, alpha="1/64")),
    "momentum-nearest": ("digits", dict(optimizer="momentum", beta="7/8", epochs=1)),
    "momentum-bits-back": (
        "teacher",
        dict(model="least-squares", optimizer="momentum", beta="3/4",
             momentum_rounding="bits-back", batch=8, epochs=2),
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_dict_equals_the_cli_json(name, digits, tmp_path):
    which, options = CONFIGS[name]
    X, y = digits if which == "digits" else teacher()
    ours = rewind.verify(X, y, **options)
    theirs = cli_report(tmp_path, X, y, options)
    assert ours["config"]["data"].startswith("numpy arrays")
    assert without_source(ours) == without_source(theirs)
    if options.get("certify"):
        assert ours["certification"] is not None
    if options.get("algorithm") == "sgd-prime":
        assert ours["algorithm"] is not None and ours["gd_steps"] is not None
    if options.get("optimizer") == "momentum":
        assert ours["momentum"]["beta"] == options["beta"]
        assert ours["reconstruction"]["initial_model_bit_exact"]


def test_momentum_has_no_trajectory_or_code_file(digits):
    X, y = digits
    for fn in (rewind.trajectory, rewind.encode):
        with pytest.raises(ValueError, match="optimizer='momentum'"):
            fn(X, y, optimizer="momentum", beta="7/8", epochs=1)
    with pytest.raises(ValueError, match="needs beta"):
        rewind.verify(X, y, optimizer="momentum", epochs=1)


def test_no_arrays_takes_the_data_option(tmp_path):
    ours = rewind.verify(data="synthetic", synthetic_n=40, batch=4, epochs=1, frac_bits=16)
    p = cli("verify", "--json", "--quiet", "--data", "synthetic", "--synthetic-n", "40",
            "--batch", "4", "--epochs", "1", "--frac-bits", "16")
    assert p.returncode in (0, 3), p.stderr
    assert ours == json.loads(p.stdout)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("order", ["C", "F"])
def test_dtypes_and_memory_orders_give_the_same_run(digits, dtype, order):
    X, y = digits
    base = rewind.verify(X, y, epochs=1)
    Xc = np.array(X.astype(dtype), order=order)
    assert Xc.flags["F_CONTIGUOUS" if order == "F" else "C_CONTIGUOUS"]
    for ydtype in (np.int64, np.int32, np.uint8):
        assert rewind.verify(Xc, y.astype(ydtype), epochs=1) == base


def test_a_strided_view_is_read_as_its_values(digits):
    X, y = digits
    wide = np.repeat(X, 2, axis=1)[:, ::2]
    assert not wide.flags["C_CONTIGUOUS"]
    assert rewind.verify(wide, y, epochs=1) == rewind.verify(X, y, epochs=1)


class NumpyLogistic(rewind.Model):
    """Logistic regression on class indices 0/1, written in numpy."""

    def __init__(self, d):
        self.d = d

    @property
    def dim(self):
        return self.d

    def gradient(self, w, X, y):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        return X.T @ (p - y) / len(y)

    def correct(self, w, X, y):
        return (X @ w > 0) == (y == 1)


def test_a_numpy_model_is_rewound_bit_for_bit(digits):
    X, y = digits
    r = rewind.verify(X, y, model=NumpyLogistic(X.shape[1] + 1), epochs=1, frac_bits=32)
    assert r["config"]["model"] == "NumpyLogistic"
    assert r["steps"] > 0
    assert r["reconstruction"]["initial_model_bit_exact"] is True
    assert r["reconstruction"]["all_models_bit_exact"] is True
    assert r["code"]["roundtrip_bit_exact"] is True
    assert r["config"]["smoothness"]["certified"] is False


def test_a_numpy_model_with_its_own_init(digits):
    class Zero(NumpyLogistic):
        def init(self, X, y):
            return np.zeros(self.d)

    X, y = digits
    t = rewind.trajectory(X, y, model=Zero(X.shape[1] + 1), epochs=1)
    assert not t["models"][0].any()
    assert t["report"]["reconstruction"]["initial_model_bit_exact"] is True


def test_a_gradient_of_the_wrong_length_is_a_value_error(digits):
    class Short(NumpyLogistic):
        def gradient(self, w, X, y):
            return super().gradient(w, X, y)[:-1]

    X, y = digits
    with pytest.raises(ValueError, match="returned 64 values but dim is 65"):
        rewind.verify(X, y, model=Short(65), epochs=1)


def test_an_exception_in_the_model_is_raised_as_it_was(digits):
    class Broken(NumpyLogistic):
        def correct(self, w, X, y):
            raise ZeroDivisionError("the model's own bug")

    X, y = digits
    with pytest.raises(ZeroDivisionError, match="the model's own bug"):
        rewind.verify(X, y, model=Broken(65), epochs=1)


def test_a_numpy_model_refuses_the_exact_backend(digits):
    X, y = digits
    with pytest.raises(ValueError, match="f64 only"):
        rewind.verify(X, y, model=NumpyLogistic(65), backend="exact", alpha="1/64", epochs=1)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y),
         ValueError, "finite"),
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y),
         ValueError, "finite"),
        (lambda X, y: (X.ravel(), y), ValueError, "2-D"),
        (lambda X, y: (X, y.reshape(-1, 1)), ValueError, "1-D"),
        (lambda X, y: (X, y[:-1]), ValueError, "labels"),
        (lambda X, y: (X, y.astype(float)), TypeError, "integer class labels"),
        (lambda X, y: (X, y - 10), ValueError, "not a class label"),
        (lambda X, y: (X.astype(str), y), TypeError, "real numbers"),
        (lambda X, y: (X.tolist(), y.tolist()), None, None),
    ],
)
def test_bad_inputs_raise_clear_exceptions(digits, bad, exc, match):
    X, y = bad(*digits)
    if exc is None:  # lists are converted, not refused
        assert rewind.verify(X, y, epochs=1)["steps"] > 0
        return
    with pytest.raises(exc, match=match):
        rewind.verify(X, y, epochs=1)


def test_unknown_options_list_the_valid_ones(digits):
    with pytest.raises(TypeError) as e:
        rewind.verify(*digits, bach=20)
    msg = str(e.value)
    assert "bach" in msg and "batch" in msg and "q_inf" in msg and "algorithm" in msg


@pytest.mark.parametrize(
    "options, exc, match",
    [
        (dict(batch=0), ValueError, "--batch must be at least 1"),
        (dict(batch="twenty"), TypeError, "batch must be a non-negative integer"),
        (dict(model="lasso"), ValueError, "use one of least-squares"),
        (dict(alpha="1/8", q=0.1), ValueError, "at most one"),
        (dict(classes=[3, 4, 8]), ValueError, "exactly two classes"),
    ],
)
def test_bad_option_values_raise(digits, options, exc, match):
    with pytest.raises(exc, match=match):
        rewind.verify(*digits, **options)


def test_a_missing_file_is_an_os_error():
    with pytest.raises(OSError, match="does not exist"):
        rewind.load_dataset("/nonexistent/data.csv")


def test_two_threads_give_the_sequential_dicts(digits):
    X, y = digits
    runs = [dict(epochs=1, seed=1), dict(epochs=1, seed=2, model="least-squares")]
    sequential = [rewind.verify(X, y, **o) for o in runs]
    with ThreadPoolExecutor(2) as pool:
        parallel = list(pool.map(lambda o: rewind.verify(X, y, **o), runs))
    assert parallel == sequential


def test_the_gil_is_released_while_rust_works(digits):
    """A Python thread counts while a run is under way on another thread."""
    X, y = digits
    ticks, done = [0], threading.Event()

    def count():
        while not done.is_set():
            ticks[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        rewind.verify(X, y, epochs=2)
    finally:
        done.set()
        t.join()
    assert ticks[0] > 1000


def test_the_trajectory_holds_every_model_and_batch(digits):
    X, y = digits
    t = rewind.trajectory(X, y, epochs=1, early_stop=False)
    r = t["report"]
    steps, d, b = r["steps"], r["config"]["d"], r["config"]["batch"]
    assert t["models"].shape == (steps + 1, d) and t["models"].dtype == np.int64
    assert t["batches"].shape == (steps, b)
    assert (t["models"][-1] == t["final"]).all()
    assert len(t["outcomes"]) == steps and len(t["hints"]) == steps
    for outcome, hint in zip(t["outcomes"], t["hints"]):
        assert (hint is None) == (outcome == "recovered")
    assert sum(h is not None for h in t["hints"]) == r["hints"]["steps"]
    # Every batch is the run's permutation cut into pieces of b.
    assert (t["batches"].ravel() == t["permutations"][0][: steps * b]).all()


def test_encode_writes_the_cli_bytes_and_decode_walks_back(digits, tmp_path):
    X, y = digits
    code, final = rewind.encode(X, y, epochs=1, early_stop=False)
    data = tmp_path / "d.csv"
    write_csv(data, X, y)
    p = cli("encode", "--data", str(data), "--epochs", "1", "--no-early-stop", "--quiet",
            "--code", str(tmp_path / "c.bin"), "--final", str(tmp_path / "f.json"))
    assert p.returncode == 0, p.stderr
    assert code == (tmp_path / "c.bin").read_bytes()
    assert final == json.loads((tmp_path / "f.json").read_text())
    decoded = rewind.decode(code, final, X, y)
    t = rewind.trajectory(X, y, epochs=1, early_stop=False)
    assert (decoded["models"] == t["models"]).all()
    assert (decoded["batches"] == t["batches"]).all()


def test_a_corrupted_code_is_a_value_error(digits):
    X, y = digits
    code, final = rewind.encode(X, y, epochs=1)
    with pytest.raises(ValueError):
        rewind.decode(code[: len(code) // 2], final, X, y)


def test_a_plan_file_reads_its_data_from_its_own_folder(tmp_path, monkeypatch):
    (tmp_path / "plans").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    rows = "".join(f"{i % 5},{(i * 7) % 11},{i % 2}\n" for i in range(24))
    (tmp_path / "data" / "d.csv").write_text(rows)
    plan = tmp_path / "plans" / "p.toml"
    plan.write_text(
        'name = "p"\n[axes]\ndata = ["../data/d.csv"]\nmodel = ["least-squares"]\n'
        "batch = [4]\nepochs = [1]\n[phases]\ncode = false\n"
    )
    # From a folder where ../data/d.csv names nothing: the plan's folder decides.
    monkeypatch.chdir(tmp_path / "a" / "b")
    (line,) = rewind.sweep(plan, threads=1)
    assert "error" not in line, line.get("error")
    assert line["report"]["config"]["data"] == "../data/d.csv"


def test_sweep_claims_and_frame_match_the_cli(tmp_path):
    plan = ROOT / "plans" / "smoke.toml"
    ours = rewind.sweep(plan, threads=2)
    out = tmp_path / "results.jsonl"
    p = cli("sweep", str(plan), "--out", str(out), "--threads", "1", "--quiet")
    assert p.returncode == 0, p.stderr
    theirs = [json.loads(line) for line in out.read_text().splitlines()]
    assert ours == theirs
    as_dict = rewind.sweep(__import__("tomllib").loads(plan.read_text()) if sys.version_info >= (3, 11) else plan)
    assert [r["report"] for r in as_dict] == [r["report"] for r in ours]
    p = cli("claims", str(out), "--json")
    assert p.returncode == 0, p.stderr
    theirs = json.loads(p.stdout)
    assert rewind.claims(out) == theirs
    from_list = rewind.claims(ours)
    assert from_list.pop("source") == "results" and theirs.pop("source") == str(out)
    assert from_list == theirs
    frame = rewind.results_frame(ours)
    pd = pytest.importorskip("pandas")
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(ours)
    assert frame["report.reconstruction.initial_model_bit_exact"].all()


def test_progress_true_draws_a_bar(digits, capfd):
    rewind.verify(*digits, epochs=1, progress=True)
    err = capfd.readouterr().err
    # Each step is inverted as the run goes; the walk back is its own phase.
    assert "rewind run" in err and "walk back" in err


def test_help_lists_the_options_with_defaults():
    doc = rewind.verify.__doc__
    for name, default, _ in rewind.options():
        assert f"{name}" in doc
    assert "batch" in doc and "default 20" in doc and "default logistic" in doc


def test_ctrl_c_stops_a_long_run():
    script = textwrap.dedent(
        """
        import os, signal, threading, time, rewind
        X, y = rewind.load_dataset("digits")
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            rewind.verify(X, y, model="softmax", epochs=500, early_stop=False, q=0.1)
            print("finished")
        except KeyboardInterrupt:
            print("interrupted after %.1f s" % (time.monotonic() - t))
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("interrupted after"), p.stdout
    assert float(p.stdout.split()[2]) < 30
