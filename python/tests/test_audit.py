"""rewind.audit against `rewind audit --json`: the numpy producer's logs audit clean from
Python as from the command line, a flipped bit is found at its step, and bad input raises."""

import json
import subprocess
import sys

import numpy as np
import pytest

import rewind
from conftest import ROOT, cli

PRODUCER = ROOT / "examples" / "python" / "train_and_log.py"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs")
    subprocess.run(
        [sys.executable, str(PRODUCER), "--out", str(out), "--steps", "40", "--checkpoint-every", "4"],
        check=True,
        capture_output=True,
    )
    return out


def data_arrays(path):
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return rows[:, :-1], rows[:, -1].astype(np.int64)


@pytest.mark.parametrize("model", ["least-squares", "logistic"])
def test_a_clean_log_audits_as_the_cli_says(logs, model):
    log, data = logs / f"{model}.jsonl", logs / "data.csv"
    p = cli("audit", str(log), "--data", str(data), "--json")
    assert p.returncode == 0, p.stderr
    expected = json.loads(p.stdout)
    got = rewind.audit(log, data=str(data))
    assert got == expected
    assert got["verified"] and got["counts"]["verified"] == 40
    # The same data as arrays give the same verdicts.
    X, y = data_arrays(data)
    from_arrays = rewind.audit(log, X, y)
    assert from_arrays["counts"] == expected["counts"]
    assert from_arrays["verified"]


def test_a_flipped_bit_is_found_at_its_step_and_threads_do_not_change_it(logs, tmp_path):
    lines = (logs / "logistic.jsonl").read_text().splitlines()
    # The first checkpoint (a line with the model itself) from line 20 on.
    k = next(i for i in range(20, len(lines)) if "w" in json.loads(lines[i]))
    step = json.loads(lines[k])
    step["w"][0] ^= 1
    lines[k] = json.dumps(step)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    data = str(logs / "data.csv")
    one = rewind.audit(bad, data=data, threads=1)
    two = rewind.audit(bad, data=data, threads=2)
    assert one == two
    assert not one["verified"]
    p = cli("audit", str(bad), "--data", data, "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout) == one


def test_bad_input_raises(logs, tmp_path):
    data = str(logs / "data.csv")
    with pytest.raises(OSError):
        rewind.audit(tmp_path / "missing.jsonl", data=data)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    with pytest.raises(ValueError, match="log"):
        rewind.audit(junk, data=data)
    with pytest.raises(ValueError, match="shard"):
        rewind.audit(logs / "logistic.jsonl", data=data, shard=(0, 2))
    with pytest.raises(ValueError):
        rewind.audit(logs / "logistic.jsonl", data="digits")
