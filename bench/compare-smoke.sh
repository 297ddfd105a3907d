#!/bin/bash
# Smoke test of bench/compare.sh (ctest bench/compare-zookeeper): a run at tiny sizes against
# corral and ZooKeeper must finish and print every row with figures from both servers. It
# asserts nothing about speed; docs/performance.md has the real runs.
# Usage: bench/compare-smoke.sh BUILD_DIR
set -euo pipefail
out=$(BUILD=$1 DURATION=1 DURATION_1=1 KEYS=1000 WARMUP=1 NODES=2000 STARTS=1 \
      OPS="get set create delete" SETTLE_MAX=1 RETRIES=0 OTHER_MAX=1000 \
      "$(dirname "$0")/compare.sh")
echo "$out"
fail() { echo "compare-smoke: $*" >&2; exit 1; }
for row in "on | get | 1x1" "on | get | 16x16" "on | set | 16x16" "on | create | 16x16" \
           "on | delete | 16x16" "off | set | 1x1" "off | delete | 16x16"; do
    # fsync, op, concurrency, then ops/s of corral and of ZooKeeper: both numbers
    grep -Eq "^\| $row \| [0-9]+ \| [0-9]+ \|" <<<"$out" || fail "no figures for: $row"
done
for metric in "start-up to serving" "RSS with 2000 znodes, 2 s after the load" \
              "restart with 2000 znodes to serving, from the txn log" \
              "restart with 2000 znodes to serving, from a snapshot" \
              "snapshot of 2000 znodes: size"; do
    grep -Eq "^\| $metric[^|]* \| [0-9.]+ \| [0-9.]+ \|" <<<"$out" || fail "no figures for: $metric"
done
