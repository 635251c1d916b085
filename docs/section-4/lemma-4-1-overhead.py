"""Section 4 (a), Lemma 4.1's overhead as n grows, from `rewind sweep` results of
plans/section-4a-n*.toml: per run, the per-example bits of the code's log T terms (Elias-γ of
T_ij + 1), of the perturbations z (ℓ·m per call) and of the hints, against the discrepancy
saving, and whether an epoch's code went below ⌈log₂ n!⌉ while SGD′ had not returned.

    python3 docs/section-4/lemma-4-1-overhead.py docs/results/section-4a-n*.jsonl

writes docs/section-4/lemma-4-1-overhead.csv and .svg (means over the runs at each n and ℓ·m)
and prints the table. Standard library only."""
import json
import math
import sys
from collections import defaultdict

OUT = "docs/section-4/lemma-4-1-overhead"
COLUMNS = ["T terms", "z", "hints", "discrepancy saving"]


def rows(paths):
    for path in paths:
        for line in open(path):
            r = json.loads(line).get("report")
            if not r:
                continue
            n, a = r["config"]["n"], r["algorithm"]
            ce, ep = a["code_epochs"], r["code"]["epochs"]
            below = [e["epoch"] for e in ce
                     if e["bits"] < e["baseline_bits"] and a["terminated_in_epoch"] != e["epoch"]]
            yield {
                "n": n, "b": r["config"]["batch"], "lm": r["perturbation"]["bits_per_call"],
                "seed": r["config"]["seed"], "epochs": len(ce),
                "returned": a["terminated_in_epoch"],
                "T terms": sum(e["gd_steps_bits"] for e in ce) / n,
                "z": sum(e["perturbation_bits"] for e in ce) / n,
                "hints": sum(e["hint_bits"] for e in ce) / n,
                "discrepancy saving": sum(e["discrepancy_saving_bits"] for e in ep) / n,
                "over": sum(e["bits"] - e["baseline_bits"] for e in ce),
                "below": below,
            }


def svg(means):
    w, h, left, bottom = 560, 340, 60, 40
    ns = sorted({n for n, _ in means})
    # Log scale: the hints are tens of times the other terms. Values ≤ 10⁻³ sit on the axis.
    lo = -3
    hi = math.ceil(math.log10(max(max(v.values()) for v in means.values())))
    x = lambda n: left + (math.log2(n) - math.log2(ns[0])) / max(1e-9, math.log2(ns[-1]) - math.log2(ns[0])) * (w - left - 150)
    y = lambda v: h - bottom - (math.log10(max(v, 10 ** lo)) - lo) / (hi - lo) * (h - bottom - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="14">Lemma 4.1 code, bits per example per run, log scale (ℓ·m = 2, means over seeds)</text>',
           f'<line x1="{left}" y1="{h-bottom}" x2="{w-150}" y2="{h-bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="20" x2="{left}" y2="{h-bottom}" stroke="black"/>']
    for n in ns:
        out.append(f'<text x="{x(n):.1f}" y="{h-bottom+15}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(left+w-150)/2:.0f}" y="{h-5}" text-anchor="middle">n (log scale); b = ⌈log₂ n⌉</text>')
    for k in range(lo, hi + 1):
        out.append(f'<text x="{left-5}" y="{y(10 ** k)+4:.1f}" text-anchor="end">1e{k}</text>')
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    lm = max(l for _, l in means)
    for i, c in enumerate(COLUMNS):
        pts = " ".join(f"{x(n):.1f},{y(means[(n, lm)][c]):.1f}" for n in ns if (n, lm) in means)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colours[i]}" stroke-width="2"/>')
        out.append(f'<text x="{w-140}" y="{40+16*i}" fill="{colours[i]}">{c}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    all_rows = list(rows(sys.argv[1:]))
    print("n | b | ℓ·m | seed | epochs | returned in epoch | " + " | ".join(f"{c} /n" for c in COLUMNS)
          + " | code − ⌈log₂ n!⌉ (bits) | epochs below ⌈log₂ n!⌉ without returning")
    for r in all_rows:
        print(f'{r["n"]} | {r["b"]} | {r["lm"]} | {r["seed"]} | {r["epochs"]} | {r["returned"] or "—"} | '
              + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + f' | {r["over"]} | {r["below"] or "none"}')
    groups = defaultdict(list)
    for r in all_rows:
        groups[(r["n"], r["lm"])].append(r)
    means = {k: {c: sum(r[c] for r in v) / len(v) for c in COLUMNS} for k, v in groups.items()}
    with open(OUT + ".csv", "w") as f:
        f.write("n,random_bits_per_call,runs," + ",".join(c.replace(" ", "_") + "_per_example" for c in COLUMNS) + "\n")
        for (n, lm), m in sorted(means.items()):
            f.write(f"{n},{lm},{len(groups[(n, lm)])}," + ",".join(f"{m[c]:.4f}" for c in COLUMNS) + "\n")
    with open(OUT + ".svg", "w") as f:
        f.write(svg(means))


if __name__ == "__main__":
    main()
