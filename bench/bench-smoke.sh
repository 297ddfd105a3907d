#!/bin/bash
# Smoke test of corral-bench (ctest tools/corral-bench): every op of the mix against a fresh
# corral-server must check out, and a second writer on the same keys must be caught.
# Usage: bench/bench-smoke.sh CORRAL_SERVER CORRAL_BENCH
set -euo pipefail
SERVER=$1
BENCH=$2
DIR=$(mktemp -d /tmp/corral-bench-smoke.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

while :; do
    PORT=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
cat >"$DIR/corral.conf" <<EOF
data_dir = "$DIR/data";
admin = { enabled = false; };
listeners = ( { name = "client"; plugin = "cnxn-nio"; address = "127.0.0.1"; port = $PORT; } );
EOF
"$SERVER" --config "$DIR/corral.conf" >"$DIR/server.log" 2>&1 </dev/null &
PID=$!
# The start-up probe: one create, retried every millisecond until it succeeds.
"$BENCH" --probe 10000 --probe-write "127.0.0.1:$PORT" | grep -q '^probe serving_ms=' ||
    { echo "corral-server did not start:"; cat "$DIR/server.log"; exit 1; }

out=$("$BENCH" -q --prepare --keys 200 -n 5000 -c 4 -w 4 \
    --mix create=1,set=1,get=4,exists=1,children=1,delete=1,multi=1 "127.0.0.1:$PORT")
echo "$out"
grep -q '^op=total count=5000 ' <<<"$out"
for op in create set get exists children delete multi; do grep -q "^op=$op " <<<"$out"; done

# --absent --seq creates fresh znodes, each once; deleting exactly those succeeds every time.
out=$("$BENCH" -q --absent --seq --mix create=1 --key-base 1000000 --keys 3000 -c 4 -w 4 \
    -t 60 "127.0.0.1:$PORT")
echo "$out"
grep -q '^op=create count=3000 errors=0 ' <<<"$out"   # the run ends when the keys do
grep -q '^client cpu_s=' <<<"$out"
out=$("$BENCH" -q --seq --mix delete=1 --key-base 1000000 --keys 3000 -c 4 -w 4 -n 3000 \
    "127.0.0.1:$PORT")
grep -q '^op=delete count=3000 errors=0 ' <<<"$out"

# A writer the tool does not know about changes versions behind its back.
"$BENCH" -q --prepare --keys 4 -t 3 --mix set=1,get=1 -w 2 "127.0.0.1:$PORT" \
    >/dev/null 2>"$DIR/a.err" &
A=$!
sleep 1
"$BENCH" -q --keys 4 -n 2000 --mix set=1 "127.0.0.1:$PORT" >/dev/null
if wait "$A"; then echo "a second writer went unnoticed"; exit 1; fi
cat "$DIR/a.err"
grep -Eq 'expected version|data differs' "$DIR/a.err"
# The read probe: getData of key 0 (the writers above left it with 100 bytes).
"$BENCH" --probe 2000 "127.0.0.1:$PORT" | grep -q '^probe serving_ms='
echo "corral-bench smoke test passed"
