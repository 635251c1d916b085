#!/usr/bin/env bash
# The workspace's `rust-version` must be true: no lower than the largest `rust_version` that a
# locked dependency declares (normal, build or dev: `cargo test` builds them all). Run from the
# repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo metadata --locked --format-version 1 | python3 -c '
import json, sys

def version(text):
    parts = [int(x) for x in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
ours = {version(p["rust_version"]) for p in meta["packages"] if p["id"] in members and p.get("rust_version")}
if len(ours) != 1:
    sys.exit(f"rust-version: the workspace members declare {len(ours)} different rust-versions; set it once in [workspace.package]")
declared = ours.pop()
deps = [(version(p["rust_version"]), p["name"], p["version"]) for p in meta["packages"]
        if p["id"] not in members and p.get("rust_version")]
need, name, ver = max(deps)
show = lambda v: ".".join(map(str, v))
if declared < need:
    sys.exit(f"rust-version {show(declared)} is false: {name} {ver} needs {show(need)}; raise rust-version in Cargo.toml to {show(need)}")
print(f"rust-version {show(declared)}: no locked dependency needs more (the most demanding: {name} {ver}, {show(need)})")
'
