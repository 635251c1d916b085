#!/usr/bin/env bash
# Determinism of the f64 kernels (src/model/kernels.rs): the same small runs must give the same
# bytes on 1 and 2 threads, and from a release build for this very CPU
# (RUSTFLAGS="-C target-cpu=native", in its own target directory, so that the compiler may use
# AVX2 or AVX-512 and fused multiply-adds if it wanted to) as from the default release build.
# The runs: the default `rewind verify --json` (logistic regression), an MLP on the MNIST
# subset (the accuracy pass's chunked kernel on sparse rows, with inversion), and the smoke
# sweep. Run from the repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --locked --release --quiet
RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native \
  cargo build --locked --release --quiet

runs() { # $1: binary, $2: threads, $3: output prefix
  RAYON_NUM_THREADS=$2 "$1" verify --json --quiet > "$3-verify.json"
  RAYON_NUM_THREADS=$2 "$1" verify --json --quiet --data fixtures/mnist_5k.csv.gz --model mlp \
    --hidden 10 --batch 250 --epochs 1 --alpha 1/16 --no-code > "$3-mlp.json"
  "$1" sweep plans/smoke.toml --threads "$2" --quiet --out "$3-smoke.jsonl" > /dev/null
}

runs target/release/rewind 1 "$out/default-1"
runs target/release/rewind 2 "$out/default-2"
runs target/native/release/rewind 2 "$out/native-2"

for run in verify.json mlp.json smoke.jsonl smoke.csv; do
  cmp "$out/default-1-$run" "$out/default-2-$run"
  cmp "$out/default-1-$run" "$out/native-2-$run"
done
echo "determinism: 1 and 2 threads, default and target-cpu=native builds: byte-identical"
