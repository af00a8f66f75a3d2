#!/usr/bin/env bash
# Runs a command in a fresh memory cgroup of LIMIT bytes, as a batch job or a container with less
# memory than its export would be: the page cache counts against the limit (reclaimable), and
# anonymous memory past it gets the command killed by the kernel (SIGKILL, exit 137).
#
#   sudo tools/under_memory_limit.sh 800M -- medimpute run --export /tmp/huge --out /tmp/o/i.npy
#
# Prints the command's exit code, wall time, the group's peak usage and whether the OOM killer
# struck, then removes the group. Needs root and a memory controller (cgroup v1 or v2).
set -euo pipefail

if [ $# -lt 3 ] || [ "$2" != "--" ]; then
    echo "usage: $0 LIMIT -- COMMAND [ARGS...]   (LIMIT in bytes, or with K, M, G)" >&2
    exit 2
fi
limit=$(numfmt --from=iec "$1")
shift 2

name="medimpute-limit-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    group=/sys/fs/cgroup/$name                                  # cgroup v2
    mkdir "$group"
    echo "$limit" >"$group/memory.max"
    echo 0 >"$group/memory.swap.max" 2>/dev/null || true
    peak_file=$group/memory.peak
    oom() { awk '$1 == "oom_kill" { print $2 }' "$group/memory.events"; }
elif [ -d /sys/fs/cgroup/memory ]; then
    group=/sys/fs/cgroup/memory/$name                           # cgroup v1
    mkdir "$group"
    echo "$limit" >"$group/memory.limit_in_bytes"
    echo 0 >"$group/memory.swappiness" 2>/dev/null || true
    peak_file=$group/memory.max_usage_in_bytes
    oom() { awk '$1 == "oom_kill" { print $2 }' "$group/memory.oom_control"; }
else
    echo "$0: no memory cgroup controller here" >&2
    exit 2
fi
# The group goes when the script does; a group is removable once its processes have exited.
trap 'rmdir "$group" 2>/dev/null || true' EXIT

start=$(date +%s.%N)
set +e
(echo "$BASHPID" >"$group/cgroup.procs" && exec "$@")
code=$?
set -e
end=$(date +%s.%N)
printf 'limit %s: exit %d after %.2f s; peak usage %s; OOM kills %s\n' \
    "$(numfmt --to=iec "$limit")" "$code" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
    "$(numfmt --to=iec "$(cat "$peak_file" 2>/dev/null || echo 0)")" "$(oom)"
exit "$code"
