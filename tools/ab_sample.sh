#!/bin/bash
# Interleaved A/B timing of `medimpute sample` builds on one export: every round runs each
# binary once, in turn, so that a slow spell of a noisy machine falls on all of them alike.
# Prints each binary's median, min and max wall time (whole process, output file included)
# and checks that all binaries wrote the same grid.
#
#   tools/ab_sample.sh [--export DIR] [--rounds N] [--backend serial|threads] \
#       [--items IDS | --item-set NAME] BINARY...
#
# Defaults: --export /tmp/big, --rounds 8, --backend serial, the five MedLens imputation items.
set -euo pipefail
export_dir=/tmp/big rounds=8 backend=serial items=(--items 198,223901,220739,454,184)
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --export) export_dir=$2 ;;
    --rounds) rounds=$2 ;;
    --backend) backend=$2 ;;
    --items) items=(--items "$2") ;;
    --item-set) items=(--item-set "$2") ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ $# -ge 1 ]] || { echo "usage: $0 [options] BINARY..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
events=()
for table in CHARTEVENTS LABEVENTS; do
  for f in "$export_dir/$table.csv" "$export_dir/$table.csv.gz"; do
    [[ -e $f ]] && events+=(--events "$f")
  done
done
admissions=$(ls "$export_dir"/ADMISSIONS.csv* | head -1)
for round in $(seq "$rounds"); do
  for i in $(seq $#); do
    bin=${!i}
    /usr/bin/time -o "$work/t" -f "%e" "$bin" sample --admissions "$admissions" "${events[@]}" \
      "${items[@]}" --backend "$backend" --out "$work/out-$i.npy" >/dev/null 2>"$work/err" \
      || { cat "$work/err" >&2; exit 1; }
    cat "$work/t" >>"$work/times-$i"
  done
done
for i in $(seq $#); do
  sort -n "$work/times-$i" | awk -v name="${!i}" \
    '{a[NR]=$1} END {printf "%s: median %s s, min %s, max %s, %d runs\n", name, a[int((NR+1)/2)], a[1], a[NR], NR}'
  cmp -s "$work/out-1.npy" "$work/out-$i.npy" || { echo "grids differ: ${!i}" >&2; exit 1; }
done
echo "all grids identical"
