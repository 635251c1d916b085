#!/usr/bin/env bash
# Runs examples/slurm-array.sh on a real, single-node Slurm started on this machine, and checks
# that the merged shards equal a single-machine sweep byte for byte.
#
#   bash examples/slurm-local.sh            # as root (it may install packages)
#
# It installs Debian's slurm-wlm and munge if they are absent, writes a slurm.conf for one node
# (localhost, every CPU, no cgroups, everything under a temporary directory), starts munged,
# slurmctld and slurmd, waits for the node to be idle, then runs
#
#   sbatch --wait --array=1-3 examples/slurm-array.sh plans/smoke.toml
#
# merges the three shards with `rewind sweep merge` and compares them with
# `rewind sweep plans/smoke.toml`. Exit codes: 0 when the bytes match, and also when Slurm
# cannot be installed or started here (it then says exactly why and skips); 1 when the bytes
# differ or a job fails. The daemons it started are stopped on exit; KEEP=1 keeps the temporary
# directory (logs, configuration, shards).
#
# The rewind binary: $REWIND_BIN if set, otherwise `cargo build --bin rewind` (the debug
# profile, which `cargo test` builds anyway; the smoke plan takes seconds in it).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
plan=plans/smoke.toml

skip() {
  echo "slurm-local: SKIPPED: $*"
  exit 0
}
fail() {
  echo "slurm-local: FAILED: $*"
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  skip "not root: starting slurmctld and slurmd with SlurmUser=root and installing packages need root"
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm-local: installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || skip "apt-get update failed: no Debian package mirror reachable"
  apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 ||
    skip "apt-get install slurm-wlm munge failed (see: apt-get install slurm-wlm munge)"
fi
echo "slurm-local: $(slurmctld -V), $(munged -V 2>&1 | awk "{print \$1; exit}")"

if [ -n "${REWIND_BIN:-}" ]; then
  bin=$REWIND_BIN
else
  (cd "$repo" && cargo build --quiet --locked --bin rewind) || fail "cargo build --bin rewind failed"
  bin=$repo/target/debug/rewind
fi
[ -x "$bin" ] || fail "no rewind binary at $bin"
export PATH="$(dirname "$bin"):$PATH"

work=$(mktemp -d /tmp/rewind-slurm.XXXXXX)
started=()
cleanup() {
  # Stop only the daemons this script started, newest first, by their own pid files.
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    pidfile=${started[i]}
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "slurm-local: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# A port pair nobody listens on, so that a Slurm already running here is left alone.
free_port() {
  local p
  for p in $(seq "$1" "$(($1 + 200))"); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "$1"
}
ctld_port=$(free_port 16817)
slurmd_port=$(free_port $((ctld_port + 1)))

mkdir -p "$work"/{munge,state,spool,run}
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
  --seed-file="$work/munge/munged.seed" >"$work/munge/start.log" 2>&1 ||
  skip "munged did not start: $(tr '\n' ' ' <"$work/munge/start.log")"
started+=("$work/munge/munged.pid")
munge --socket="$work/munge/munge.socket" -n | unmunge --socket="$work/munge/munge.socket" >/dev/null 2>&1 ||
  skip "munge cannot encode and decode a credential with its own daemon"

cpus=$(nproc)
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=rewind-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

log_tail() { tail -n 5 "$1" 2>/dev/null | tr '\n' ' '; }

slurmctld -f "$SLURM_CONF" -i >"$work/slurmctld.start" 2>&1 ||
  skip "slurmctld did not start: $(cat "$work/slurmctld.start") $(log_tail "$work/slurmctld.log")"
started+=("$work/slurmctld.pid")
slurmd -f "$SLURM_CONF" -N localhost >"$work/slurmd.start" 2>&1 ||
  skip "slurmd did not start: $(cat "$work/slurmd.start") $(log_tail "$work/slurmd.log")"
started+=("$work/slurmd.pid")

state=""
for _ in $(seq 60); do
  state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] ||
  skip "the node did not become idle within 60 s (state '${state:-none}'); slurmctld: $(log_tail "$work/slurmctld.log"); slurmd: $(log_tail "$work/slurmd.log")"
echo "slurm-local: node localhost idle ($cpus CPUs), slurmctld on port $ctld_port"

cd "$work/run"
ln -s "$repo/examples" examples
ln -s "$repo/plans" plans
echo "slurm-local: sbatch --wait --array=1-3 examples/slurm-array.sh $plan"
if ! sbatch --wait --array=1-3 examples/slurm-array.sh "$plan"; then
  for f in slurm-*.out; do
    [ -e "$f" ] && { echo "--- $f"; cat "$f"; }
  done
  fail "the array job failed"
fi
echo "slurm-local: array job done; shards: $(ls shards | tr '\n' ' ')"
for f in slurm-*.out; do
  [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
done

rewind sweep merge --plan "$plan" --out merged.jsonl shards/shard-*.jsonl
rewind sweep "$plan" --out single.jsonl --quiet
for f in merged.jsonl merged.csv; do
  cmp "$f" "single.${f#merged.}" || fail "$f differs from the single-machine sweep"
done
echo "slurm-local: OK: merged shards equal the single-machine sweep byte for byte ($(wc -l <merged.jsonl) runs, sha256 $(sha256sum merged.jsonl | cut -c1-16))"
