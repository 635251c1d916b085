"""The overhead of rewind.verify against `rewind verify` on the default run, in one session:
`python examples/python/overhead.py PATH/TO/rewind` (a release build of both). Prints medians of 7."""
import json, statistics, subprocess, sys, time
import numpy as np, rewind
cli = sys.argv[1]
X, y = rewind.load_dataset("digits"); k = (y == 3) | (y == 8); X, y = X[k], y[k]
t_cli, t_py, t_arr = [], [], []
for _ in range(7):
    t = time.perf_counter(); p = subprocess.run([cli, "verify", "--json", "--quiet"], capture_output=True, check=False); t_cli.append(time.perf_counter() - t)
    t = time.perf_counter(); r = rewind.verify(); t_py.append(time.perf_counter() - t)
    t = time.perf_counter(); ra = rewind.verify(X, y); t_arr.append(time.perf_counter() - t)
assert json.loads(p.stdout) == r
m = statistics.median
print(f"rewind verify (CLI, subprocess)     median {m(t_cli):.3f} s  min {min(t_cli):.3f}")
print(f"rewind.verify() (digits by name)    median {m(t_py):.3f} s  min {min(t_py):.3f}")
print(f"rewind.verify(X, y) (numpy arrays)  median {m(t_arr):.3f} s  min {min(t_arr):.3f}")
print(f"overhead by name: {m(t_py) - m(t_cli):+.3f} s; arrays: {m(t_arr) - m(t_cli):+.3f} s")
