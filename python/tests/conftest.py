"""Shared helpers: the `rewind` binary (REWIND_BIN, else target/{release,debug}/rewind, else
PATH) and a runner that writes arrays as the CSV the CLI reads and returns its JSON report."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def rewind_bin() -> str:
    env = os.environ.get("REWIND_BIN")
    if env:
        return env
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "rewind"
        if p.exists():
            return str(p)
    found = shutil.which("rewind")
    if found:
        return found
    raise RuntimeError(
        "no rewind binary: build it with `cargo build -p rewind-cli` or set REWIND_BIN"
    )


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    """Features then the label, no header; repr() reads back as the same float64."""
    with open(path, "w", encoding="utf-8") as f:
        for row, label in zip(np.asarray(X, dtype=np.float64), y):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")


def flags(options: dict) -> list:
    out = []
    for k, v in options.items():
        name = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            if k in ("early_stop", "code", "bias"):
                if not v:
                    out.append("--no-" + k.replace("_", "-"))
            elif v:
                out.append(name)
        elif isinstance(v, (list, tuple)):
            out += [name, ",".join(str(x) for x in v)]
        else:
            out += [name, str(v)]
    return out


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [rewind_bin(), *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def cli_report(tmp_path: Path, X, y, options: dict) -> dict:
    data = tmp_path / "data.csv"
    write_csv(data, X, y)
    p = cli("verify", "--data", str(data), "--json", "--quiet", *flags(options))
    assert p.returncode in (0, 3), p.stderr
    return json.loads(p.stdout)


def without_source(report: dict) -> dict:
    """The report apart from the description of the data source."""
    r = json.loads(json.dumps(report))
    source = r["config"].pop("data")
    if "warnings" in r:
        r["warnings"] = [w.replace(source, "<data>") for w in r["warnings"]]
    return r


@pytest.fixture(scope="session")
def digits():
    import rewind

    X, y = rewind.load_dataset("digits")
    keep = (y == 3) | (y == 8)
    return X[keep], y[keep]
