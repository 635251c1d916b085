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
#   `cargo bench --bench memory` measured a peak RSS of 1,047 MB at 1 epoch, 1,130 MB at 3 and
#   1,254 MB at 10: about 1.05 GB for the data and the run, plus 19.1 KB a step on average
#   from 1 to 10 epochs, of which 7.5 KB are the permutation tails' bits and the hints a few
#   bytes (the rest is not attributed; it is counted here). The longest run (b = 50) takes
#   360,000 steps:
#   1.05 GB + 360,000 × 19.1 KB = 7.9 GB at most.
# - Time. The 10-epoch run took 0.147 s of CPU a step (inversion and the tails included; the
#   plan's runs cost less); two threads run a step 1.73 times faster (`cargo bench --bench
#   paper_scale`). 360,000 steps × 0.147 s / 1.73 = 8.5 hours for the longest run.
# Both are requested with a margin of about a quarter.
#SBATCH --job-name=rewind-appendix-b-fmnist
#SBATCH --cpus-per-task=2
#SBATCH --mem=10G
#SBATCH --time=10:30:00
set -euo pipefail
# sbatch runs a copy of this script from its spool directory: the array script is found from
# the directory the job was submitted in.
exec bash "${SLURM_SUBMIT_DIR:-.}/examples/slurm-array.sh" plans/appendix-b-fashion-mnist.toml
