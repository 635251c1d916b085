#!/usr/bin/env python3
"""Train on rewind's grid without rewind, and write training logs that `rewind audit` checks.

An outside producer of docs/log-format.md: it writes a small data set (data.csv), quantises it
exactly as rewind does, trains

  * least squares on the exact backend, in integer arithmetic (Python integers in numpy
    object arrays: the products exceed int64), and
  * logistic regression on the f64 backend, in IEEE double with rewind's evaluation order
    (8-lane dot products, the sigmoid's two branches, the batch sum in batch order) and a
    port of the `exp` rewind calls (the libm crate's, from FreeBSD's e_exp.c): numpy's own
    np.exp is not the same function and differs from it in the last bit for some arguments,

and writes least-squares.jsonl and logistic.jsonl. Then

    rewind audit OUT/least-squares.jsonl --data OUT/data.csv
    rewind audit OUT/logistic.jsonl --data OUT/data.csv

verify them bit for bit. Usage: train_and_log.py --out DIR [--steps 60] [--checkpoint-every 1]
"""

import argparse
import hashlib
import json
import math
import os
import struct

import numpy as np

P = 24  # fractional bits of the grid
N, FEATURES, BATCH = 48, 4, 8


# ---------------------------------------------------------------- data, as rewind sees it
def make_data(seed):
    """Integer features 0..16 and a 0/1 label from a noisy linear rule."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 17, size=(N, FEATURES))
    y = ((x @ np.array([2, -1, 1, -2]) + rng.integers(-6, 7, size=N)) > 0).astype(int)
    return x, y


def quantise(x):
    """docs/log-format.md, "The data set": v·2^(p−e), e the least e ≥ 0 with max|v| ≤ 2^e,
    then the bias column 2^p. Integer features with p ≥ e land on the grid exactly."""
    m = int(np.abs(x).max())
    e = 0
    while (1 << e) < m:
        e += 1
    assert P >= e
    q = [[int(v) << (P - e) for v in row] + [1 << P] for row in x]
    return np.array(q, dtype=object)


def data_sha256(features, classes):
    rows = np.array(features.tolist(), dtype="<i8").tobytes()
    return hashlib.sha256(rows + np.array(classes, dtype="<i8").tobytes()).hexdigest()


def model_sha256(w):
    return hashlib.sha256(np.array([int(v) for v in w], dtype="<i8").tobytes()).hexdigest()


def round_half_even(num, den):
    """round(num/den), ties to even, for integers with den > 0."""
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2 == 1):
        q += 1
    return q


def check_i64(v):
    if not -(1 << 63) <= v < (1 << 63):
        raise OverflowError("a step increment overflows i64; lower P or alpha")
    return v


# ---------------------------------------------------------------- least squares, exact
def ls_increment(w, X, labels, batch, alpha_num, alpha_shift):
    """s_B(W) = round(α·ĝ·2^p) with ĝ = (1/b)·Σ (⟨x, w⟩ − y)·x, all exact:
    with raw integers X, W and R_i = Σ_k X_ik·W_k − y_i·2^(2p),
    s_k = round(m·Σ_i R_i·X_ik / (b·2^(2p + shift)))."""
    acc = np.zeros(len(w), dtype=object)
    for i in batch:
        x = X[i]
        y = 1 if labels[i] == 1 else -1
        r = int(np.dot(x, w)) - (y << (2 * P))
        acc = acc + r * x
    den = len(batch) << (2 * P + alpha_shift)
    return np.array([check_i64(round_half_even(alpha_num * int(a), den)) for a in acc], dtype=object)


# ---------------------------------------------------------------- logistic, f64
LN2HI = 6.93147180369123816490e-01
LN2LO = 1.90821492927058770002e-10
INVLN2 = 1.44269504088896338700e00
P1 = 1.66666666666666019037e-01
P2 = -2.77777777770155933842e-03
P3 = 6.61375632143793436117e-05
P4 = -1.65339022054652515390e-06
P5 = 4.13813679705723846039e-08


def exp_libm(x):
    """exp as the libm crate computes it (FreeBSD e_exp.c), operation for operation; every
    Python float operation is one IEEE double operation, rounded to nearest."""
    hx = struct.unpack("<Q", struct.pack("<d", x))[0] >> 32
    sign = hx >> 31
    hx &= 0x7FFFFFFF
    if hx >= 0x4086232B:
        if x != x:
            return x
        if x > 709.782712893383973096:
            return math.inf
        if x < -745.13321910194110842:
            return 0.0
    if hx > 0x3FD62E42:
        if hx >= 0x3FF0A2B2:
            k = int(INVLN2 * x + (0.5, -0.5)[sign])  # truncation toward zero, as Rust's `as`
        else:
            k = 1 - sign - sign
        hi = x - float(k) * LN2HI
        lo = float(k) * LN2LO
        x = hi - lo
    elif hx > 0x3E300000:
        k, hi, lo = 0, x, 0.0
    else:
        return 1.0 + x
    xx = x * x
    c = x - xx * (P1 + xx * (P2 + xx * (P3 + xx * (P4 + xx * P5))))
    y = 1.0 + (x * c / (2.0 - c) - lo + hi)
    return y if k == 0 else math.ldexp(y, k)


def dot_lanes(x, w):
    """⟨x, w⟩ in 8 lanes (feature k into lane k mod 8, in increasing k), combined as
    ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)); zero features skipped."""
    s = [0.0] * 8
    for k, xk in x:
        s[k % 8] = s[k % 8] + xk * w[k]
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))


def sigmoid(z):
    if z > 0.0:
        return 1.0 / (1.0 + exp_libm(-z))
    e = exp_libm(z)
    return e / (1.0 + e)


def logistic_increment(w, X, labels, batch, alpha_num, alpha_shift):
    scale = 2.0 ** -P
    wf = [float(int(v)) * scale for v in w]
    g = [0.0] * len(w)
    for i in batch:
        x = [(k, float(int(v)) * scale) for k, v in enumerate(X[i]) if v != 0]
        r = sigmoid(dot_lanes(x, wf)) - float(labels[i])
        for k, xk in x:
            g[k] = g[k] + r * xk
    s = []
    for v in g:
        scaled = math.ldexp((v / float(len(batch))) * float(alpha_num), P - alpha_shift)
        if not math.isfinite(scaled):
            raise OverflowError("a step increment is not finite")
        s.append(check_i64(round(scaled)))  # Python's round() on a float is ties-to-even
    return np.array(s, dtype=object)


# ---------------------------------------------------------------- the log
def train(name, backend, increment, X, labels, alpha, steps, every, seed, out):
    alpha_num, alpha_shift = alpha
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    w = np.array([int(v) for v in rng.integers(-(1 << (P - 4)), 1 << (P - 4), size=d)], dtype=object)
    header = {
        "format": 2,
        "p": P,
        "alpha_num": alpha_num,
        "alpha_den": 1 << alpha_shift,
        "model": name,
        "backend": backend,
        "n": len(X),
        "d": d,
        "features": d,
        "bias": True,
        "batch": BATCH,
        "data_sha256": data_sha256(X, labels),
        "seed": seed,
    }
    lines = [header]
    per_epoch = len(X) // BATCH
    k = 0
    while k < steps:
        perm = rng.permutation(len(X))
        for j in range(per_epoch):
            if k == steps:
                break
            batch = [int(i) for i in perm[j * BATCH:(j + 1) * BATCH]]
            line = {"epoch": k // per_epoch + 1, "step": j + 1, "batch": batch}
            if k % every == 0:
                line["w"] = [int(v) for v in w]
            else:
                line["w_sha256"] = model_sha256(w)
            lines.append(line)
            w = w - increment(w, X, labels, batch, alpha_num, alpha_shift)
            k += 1
    lines.append({"final": [int(v) for v in w]})
    path = os.path.join(out, name + ".jsonl")
    with open(path, "w") as f:
        f.writelines(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for data.csv and the two logs")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--checkpoint-every", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", choices=["least-squares", "logistic"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x, y = make_data(a.seed)
    with open(os.path.join(a.out, "data.csv"), "w") as f:
        f.writelines(",".join(str(int(v)) for v in row) + f",{int(c)}\n" for row, c in zip(x, y))
    X = quantise(x)
    # Classes are the distinct labels in ascending order (0 and 1 here).
    labels = [int(c) for c in y]
    runs = [
        ("least-squares", "exact", ls_increment, (1, 4)),  # α = 1/16
        ("logistic", "f64", logistic_increment, (1, 1)),  # α = 1/2
    ]
    for name, backend, inc, alpha in runs:
        if a.only in (None, name):
            print(train(name, backend, inc, X, labels, alpha, a.steps, a.checkpoint_every, a.seed, a.out))


if __name__ == "__main__":
    main()
