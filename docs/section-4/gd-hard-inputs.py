"""Section 4 (b), Theorem 4.3's existence searched: the figure of the worst labeling's mean GD
steps against the batch size m, per ℓ, beside 2^m (the cap T), from the CSV of

    cargo run -p rewind --example gd_hard_inputs > docs/section-4/gd-hard-inputs.csv
    python3 docs/section-4/gd-hard-inputs.py docs/section-4/gd-hard-inputs.csv

which writes docs/section-4/gd-hard-inputs.svg. Standard library only."""
import csv
import math
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
ms = sorted({int(r["m"]) for r in rows})
w, h, left, bottom = 560, 340, 60, 40
top = math.log2(2 ** max(ms))
x = lambda m: left + (m - ms[0]) / max(1, ms[-1] - ms[0]) * (w - left - 150)
y = lambda v: h - bottom - math.log2(max(v, 1)) / top * (h - bottom - 20)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
       f'<text x="{left}" y="14">GD steps on the worst of all 2^m labelings of Y (mean over draws of z), log₂ scale</text>',
       f'<line x1="{left}" y1="{h-bottom}" x2="{w-150}" y2="{h-bottom}" stroke="black"/>',
       f'<line x1="{left}" y1="20" x2="{left}" y2="{h-bottom}" stroke="black"/>']
for m in ms:
    out.append(f'<text x="{x(m):.1f}" y="{h-bottom+15}" text-anchor="middle">{m}</text>')
out.append(f'<text x="{(left+w-150)/2:.0f}" y="{h-5}" text-anchor="middle">batch size m = |Y|</text>')
for k in range(0, int(top) + 1, 2):
    out.append(f'<text x="{left-5}" y="{y(2 ** k)+4:.1f}" text-anchor="end">2^{k}</text>')
series = [("T = 2^m", "#999999", {m: 2 ** m for m in ms})]
colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
for i, name in enumerate(["ℓ = 0", "ℓ = 1", "ℓ = 2", "ℓ = m"]):
    pick = {"ℓ = 0": lambda r: r["l"] == "0", "ℓ = 1": lambda r: r["l"] == "1",
            "ℓ = 2": lambda r: r["l"] == "2", "ℓ = m": lambda r: r["l"] == r["m"] and r["m"] not in "012"}[name]
    series.append((name, colours[i], {int(r["m"]): float(r["worst_mean_steps"]) for r in rows if pick(r)}))
for i, (name, colour, pts) in enumerate(series):
    p = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in sorted(pts.items()))
    dash = ' stroke-dasharray="4 3"' if i == 0 else ""
    out.append(f'<polyline points="{p}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
    out.append(f'<text x="{w-140}" y="{40+16*i}" fill="{colour}">{name}</text>')
out.append("</svg>")
open(sys.argv[1].rsplit(".", 1)[0] + ".svg", "w").write("\n".join(out) + "\n")
