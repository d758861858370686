#!/usr/bin/env bash
# A one-machine Slurm cluster for tests and benchmarks (tests/integration/slurm.rs,
# bench/slurm/run.sh): munged, slurmctld and slurmd on 127.0.0.1, everything under DIR (own
# munge key and socket, own ports, state, spool and logs), accounting disabled, fake GPUs
# (/dev/tty0 and /dev/tty1 stand in for two devices), polling tuned so jobs start within a
# second. Needs root and Debian's `slurm-wlm` and `munge`.
#
#   slurm-local-cluster.sh start DIR     # writes DIR/slurm.conf; export SLURM_CONF=DIR/slurm.conf
#   slurm-local-cluster.sh stop DIR      # stops the daemons started by `start` (by their pid files)
#   slurm-local-cluster.sh stop-slurmd DIR | start-slurmd DIR   # simulate a node going away
set -euo pipefail

cmd="${1:?usage: $0 start|stop|stop-slurmd|start-slurmd DIR}"
dir="$(realpath -m "${2:?usage: $0 $cmd DIR}")"
conf="$dir/slurm.conf"
node="$(hostname -s)"

pid_of() { [[ -s "$dir/$1.pid" ]] && cat "$dir/$1.pid"; }

stop_daemon() { # name: SIGTERM the pid in DIR/<name>.pid, wait up to 10 s, then SIGKILL
  local pid
  pid="$(pid_of "$1")" || return 0
  kill "$pid" 2>/dev/null || { rm -f "$dir/$1.pid"; return 0; }
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/$1.pid"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/$1.pid"
}

wait_node_idle() { # until the node accepts jobs (or 30 s)
  for _ in $(seq 300); do
    state="$(SLURM_CONF="$conf" sinfo -h -n "$node" -o %t 2>/dev/null || true)"
    case "$state" in idle*|mix*|alloc*) return 0 ;; esac
    sleep 0.1
  done
  echo "slurm-local-cluster: node $node did not become idle (state: ${state:-none}); logs in $dir" >&2
  return 1
}

start_slurmd() {
  slurmd -f "$conf" -N "$node"
  for _ in $(seq 100); do [[ -s "$dir/slurmd.pid" ]] && break; sleep 0.1; done
  wait_node_idle
}

write_conf() {
  local cpus mem base
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
  base=$(( 20000 + ($$ % 200) * 10 ))
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir" "$dir/munge"
  cat >"$conf" <<EOF
ClusterName=synfacetest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$(( base + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SchedulerType=sched/builtin
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=5
SlurmctldTimeout=5
MessageTimeout=5
InactiveLimit=0
KillWait=2
MinJobAge=10
UnkillableStepTimeout=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  echo "NodeName=$node Name=gpu File=/dev/tty[0-1]" >"$dir/gres.conf"
}

case "$cmd" in
  start)
    [[ "$(id -u)" == 0 ]] || { echo "slurm-local-cluster: needs root" >&2; exit 77; }
    for b in munged slurmctld slurmd sbatch squeue scancel sinfo; do
      command -v "$b" >/dev/null || { echo "slurm-local-cluster: $b not found (apt-get install slurm-wlm munge)" >&2; exit 77; }
    done
    write_conf
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
      --pid-file="$dir/munged.pid" --seed-file="$dir/munge/seed" --log-file="$dir/munged.log"
    slurmctld -f "$conf" -c
    for _ in $(seq 100); do SLURM_CONF="$conf" scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
    start_slurmd
    echo "SLURM_CONF=$conf"
    ;;
  stop)
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    ;;
  stop-slurmd) stop_daemon slurmd ;;
  start-slurmd) start_slurmd ;;
  *) echo "usage: $0 start|stop|stop-slurmd|start-slurmd DIR" >&2; exit 2 ;;
esac
