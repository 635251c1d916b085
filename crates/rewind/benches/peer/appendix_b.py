#!/usr/bin/env python3
"""The Appendix B step loop in plain numpy: the peer that `cargo bench --bench appendix_b`
compares rewind with.

One-hidden-layer GELU MLP with cross-entropy on the quantised data set, plain SGD on the grid
2^-p: before every step the accuracy on all n examples (Algorithm 1's stop check), then
W' = W - round_half_even(alpha * g_B(W) * 2^p), g_B the batch-mean gradient in float64. It
starts from rewind's initial model and replays rewind's batches, both read from the files that
`rewind verify --dump-data D --dump-trajectory T` writes, so that both programs take the same
steps; it prints the wall time of the steps alone (loading excluded) and how closely its models
follow rewind's.

    python3 benches/peer/appendix_b.py D T [--hidden 10] [--steps N]

OpenBLAS (numpy's BLAS) is held to one thread, as rewind is in the comparison.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# erf as the pure-Rust libm computes it (FreeBSD s_erf.c), vectorised; only exp may differ
# from libm's in the last bit.
ERX = 8.45062911510467529297e-01
PP = [1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
      -5.77027029648944159157e-03, -2.37630166566501626084e-05]
QQ = [3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
      1.32494738004321644526e-04, -3.96022827877536812320e-06]
PA = [-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
      3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
      -2.16637559486879084300e-03]
QA = [1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
      1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02]
RA = [-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
      -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
      -8.12874355063065934246e+01, -9.81432934416914548592e+00]
SA = [1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
      6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
      6.57024977031928170135e+00, -6.04244152148580987438e-02]
RB = [-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
      -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
      -4.83519191608651397019e+02]
SB = [3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
      3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
      -2.24409524465858183362e+01]


def horner(c, s, one=False):
    """c[0] + s*(c[1] + s*(...)), or 1 + s*(c[0] + s*(...)) with one=True."""
    acc = np.full_like(s, c[-1])
    for v in reversed(c[:-1]):
        acc = v + s * acc
    return 1.0 + s * acc if one else acc


def erf(x):
    ax = np.abs(x)
    hw = ax.view(np.uint64) >> np.uint64(32)
    y = np.ones_like(x)  # |x| >= 6: 1 - 2^-1022 rounds to 1
    small = hw < 0x3FEB0000
    z = x[small] * x[small]
    y[small] = x[small] + x[small] * (horner(PP, z) / horner(QQ, z, one=True))
    mid = (hw >= 0x3FEB0000) & (hw < 0x3FF40000)
    s = ax[mid] - 1.0
    y[mid] = 1.0 - ((1.0 - ERX) - horner(PA, s) / horner(QA, s, one=True))
    for lo, hi, r, q in ((0x3FF40000, 0x4006DB6D, RA, SA), (0x4006DB6D, 0x40180000, RB, SB)):
        m = (hw >= lo) & (hw < hi)
        a = ax[m]
        s = 1.0 / (a * a)
        zz = (a.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
        erfc = np.exp(-zz * zz - 0.5625) * np.exp((zz - a) * (zz + a) + horner(r, s) / horner(q, s, one=True)) / a
        y[m] = 1.0 - erfc
    neg = (x < 0) & ~small
    y[neg] = -y[neg]
    return y


SQRT2 = np.sqrt(2.0)
SQRT_2PI = np.sqrt(2.0 * np.pi)


def gate(a):
    return (1.0 + erf(a / SQRT2)) / 2.0


def accuracy(X, y, W1, W2, h):
    Hd = X @ W1.T
    Hd *= gate(Hd)
    Z = Hd @ W2[:, :h].T + W2[:, h]
    rows = np.arange(len(y))
    true = Z[rows, y].copy()
    Z[rows, y] = -np.inf
    return true > Z.max(axis=1)


def gradient(Xb, yb, W1, W2, h):
    A = Xb @ W1.T
    G = gate(A)
    H = A * G
    Z = H @ W2[:, :h].T + W2[:, h]
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    P[np.arange(len(yb)), yb] -= 1.0
    gW2 = np.concatenate([P.T @ H, P.sum(axis=0)[:, None]], axis=1)
    slope = G + A * (np.exp(-(A * A) / 2.0) / SQRT_2PI)
    gW1 = ((P @ W2[:, :h]) * slope).T @ Xb
    b = float(len(yb))
    return np.concatenate([gW1.ravel() / b, gW2.ravel() / b])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="the quantised data set (rewind verify --dump-data)")
    ap.add_argument("trajectory", help="rewind's trajectory (rewind verify --dump-trajectory)")
    ap.add_argument("--hidden", type=int, default=10)
    ap.add_argument("--steps", type=int, default=None, help="at most this many steps")
    args = ap.parse_args()

    data = json.load(open(args.data))
    p = data["frac_bits"]
    X = np.array(data["features"], dtype=np.int64).astype(np.float64) * 2.0 ** -p
    y = np.array(data["labels"], dtype=np.int64)
    lines = [json.loads(line) for line in open(args.trajectory)]
    head, steps, final = lines[0], lines[1:-1], lines[-1]["final"]
    if args.steps is not None:
        steps = steps[: args.steps]
    h, d = args.hidden, X.shape[1]
    classes = (head["d"] - h * d) // (h + 1)
    assert h * d + classes * (h + 1) == head["d"], "--hidden does not match the model's size"
    shift = int(head["alpha_den"]).bit_length() - 1
    assert head["alpha_den"] == 1 << shift, "alpha must be dyadic"
    scale = 2.0 ** (p - shift)
    num = float(head["alpha_num"])
    unit = 2.0 ** -p
    batches = [np.array(s["batch"], dtype=np.int64) for s in steps]

    W = np.array(steps[0]["w"], dtype=np.int64)
    models, accs = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        models.append(W)
        Wf = W.astype(np.float64) * unit
        W1, W2 = Wf[: h * d].reshape(h, d), Wf[h * d:].reshape(classes, h + 1)
        correct = accuracy(X, y, W1, W2, h)
        accs.append(correct.mean())
        if correct.all():
            break
        g = gradient(X[b], y[b], W1, W2, h)
        W = W - np.rint((g * num) * scale).astype(np.int64)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"steps: {len(models)}")
    print(f"seconds: {seconds:.4f}")
    print(f"cpu_seconds: {cpu:.4f}")
    print(f"accuracy: {accs[0]:.4f} -> {accs[-1]:.4f}")
    same = 0
    for k, s in enumerate(steps[: len(models)]):
        if np.array_equal(models[k], np.array(s["w"], dtype=np.int64)):
            same += 1
    ref = np.array(steps[len(models)]["w"] if len(models) < len(steps) else final, dtype=np.int64)
    diff = np.abs(W - ref)
    print(f"models equal to rewind's, bit for bit: {same} of {len(models)}")
    print(f"last model against rewind's: {int((diff > 0).sum())} of {len(W)} weights differ, "
          f"by at most {int(diff.max())} ulps")


if __name__ == "__main__":
    main()
