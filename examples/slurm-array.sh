#!/usr/bin/env bash
# Run a sweep plan as a Slurm array job: one task per shard, then merge.
#
#   sbatch --array=1-8 examples/slurm-array.sh plans/appendix-b-mnist5k.toml
#   # (or --wait, to return when every task has finished)
#   # when every task has finished:
#   rewind sweep merge --plan plans/appendix-b-mnist5k.toml --out results.jsonl shards/*.jsonl
#
# Each task runs every N-th run of the plan, starting at its own index; results do not depend
# on how the plan is sliced, so merged shards equal a single-machine sweep byte for byte.
# `rewind` must be on the PATH of the submitting shell (sbatch passes it on). Task logs go to
# slurm-<job>_<task>.out in the submission directory: Slurm opens them before the script runs,
# so they cannot go to a directory the script itself creates. examples/slurm-local.sh runs this
# script on a single-node Slurm started on localhost.
#SBATCH --job-name=rewind-sweep
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
set -euo pipefail
plan=${1:?usage: sbatch --array=1-N examples/slurm-array.sh PLAN.toml}
mkdir -p shards
rewind sweep "$plan" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
  --threads "${SLURM_CPUS_PER_TASK:-2}" \
  --out "shards/shard-${SLURM_ARRAY_TASK_ID}.jsonl" \
  --resume
