#!/usr/bin/env bash
# The paper's Appendix B grid at its own scale: plans/appendix-b-fashion-mnist.toml (full
# Fashion-MNIST, 60,000 examples, widths 2/5/10, b = 50/100/200, true and random labels, 300
# epochs: 18 runs) as a Slurm array of one run per task, then merged.
#
#   sbatch --array=1-18 examples/slurm-appendix-b-fashion-mnist.sh
#   # when every task has finished:
#   rewind sweep merge --plan plans/appendix-b-fashion-mnist.toml --out results.jsonl shards/*.jsonl
#
# The requests come from runs measured on 2 cores (README, "The paper's scale"):
# - Memory. A run is verified as it goes (docs/design.md §7.5). On this data, width 10, b = 50,
#   `cargo bench --bench memory` measured 1,047 MB of peak RSS at 1 epoch and 1,130 MB at 3:
#   about 1.05 GB for the data and the run, plus 34.5 KB a step, most of it the hints of the
#   inversion (the plan inverts nothing) and 7.5 KB the permutation tails' bits. The longest
#   run (b = 50) takes 360,000 steps: 1.05 GB + 360,000 × 34.5 KB = 13.5 GB at most.
# - Time. The same runs took 0.142 s of CPU a step (inversion and the tails included; the
#   plan's runs cost less); two threads run a step 1.73 times faster (`cargo bench --bench
#   paper_scale`). 360,000 steps × 0.142 s / 1.73 = 8.2 hours for the longest run.
# Both are requested with a margin of about a quarter.
#SBATCH --job-name=rewind-appendix-b-fmnist
#SBATCH --cpus-per-task=2
#SBATCH --mem=17G
#SBATCH --time=10:30:00
set -euo pipefail
# sbatch runs a copy of this script from its spool directory: the array script is found from
# the directory the job was submitted in.
exec bash "${SLURM_SUBMIT_DIR:-.}/examples/slurm-array.sh" plans/appendix-b-fashion-mnist.toml
