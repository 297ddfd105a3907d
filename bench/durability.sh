#!/bin/bash
# Durability benchmark: corral against Apache ZooKeeper 3.8 (Debian's package), fsync on, the
# same tickTime and snapCount, data directories side by side under /tmp. One server runs at a
# time. For each it measures
#   a. setData throughput and p99 with 8 and with 64 requests in flight (8 sessions x 1, x 8),
#      DURATION seconds each, over KEYS prepared keys of 100 bytes;
#   b. restart-to-serving with NODES znodes of 100 bytes: SIGTERM, then the time from exec to
#      the first getData of /bench/k0 that returns its 100 bytes (a probe loop of
#      corral-bench -n 1), twice: first replaying the load from the txn log, then from the
#      snapshot that first restart wrote;
#   c. the snapshot written after the first restart: its size and how long it took (corral:
#      "fork paused the server N ms" and "snapshot.X written in N ms", written by a child while
#      the server serves; ZooKeeper: "Snapshot taken in N ms", taken before it serves, so part
#      of its restart time);
# plus the load time and the RSS with NODES znodes. Prints one table, corral/ZooKeeper ratios
# in the last column.
#
# Usage: bench/durability.sh            (env: NODES=1000000 DURATION=10 KEYS=10000
#                                        BUILD=<repo>/build ZK_HEAP=2g KEEP=0)
# Needs: a build with corral-server and corral-bench; Debian packages zookeeper,
# default-jre-headless (java), util-linux (setpriv), procps (ps).
# It signals only the server processes it started, by pid; KEEP=1 keeps the work directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
NODES=${NODES:-1000000}
DURATION=${DURATION:-10}
KEYS=${KEYS:-10000}
ZK_HEAP=${ZK_HEAP:-2g}
KEEP=${KEEP:-0}
TICK_MS=2000
DATA_BYTES=100
ZK_JARS=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar

SERVER=$BUILD/corral-server
BENCH=$BUILD/corral-bench
for f in "$SERVER" "$BENCH"; do
    [ -x "$f" ] || { echo "durability.sh: $f missing; build first (cmake --build build)" >&2; exit 2; }
done
[ -r /usr/share/java/zookeeper.jar ] || { echo "durability.sh: ZooKeeper missing (apt-get install zookeeper)" >&2; exit 2; }
command -v java >/dev/null || { echo "durability.sh: java missing" >&2; exit 2; }

WORK=$(mktemp -d /tmp/corral-durability.XXXXXX)
PID=""      # the server this script started and has not stopped yet
PORT=""
LOG=""

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

stop_server() {
    [ -n "$PID" ] || return 0
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$PID" 2>/dev/null; then
            say "pid $PID ignored SIGTERM for 60 s; SIGKILL"
            kill -KILL "$PID" 2>/dev/null || true
        fi
    fi
    wait "$PID" 2>/dev/null || true
    PID=""
}

cleanup() {
    stop_server
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nobody listens on.
free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 40000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# start_server corral|zookeeper DIR: starts in the background (setpriv: it dies with this
# script), sets PID and LOG; the server execs in place, so PID is the server itself.
start_server() {
    local kind=$1 dir=$2
    mkdir -p "$dir/data"
    LOG=$dir/server.log
    if [ "$kind" = corral ]; then
        cat >"$dir/corral.conf" <<EOF
data_dir = "$dir/data";
tick_time_ms = $TICK_MS;
force_sync = true;
four_letter_words = "*";
listeners = ( { name = "client"; plugin = "cnxn-nio"; address = "127.0.0.1"; port = $PORT; } );
EOF
        setpriv --pdeathsig KILL -- "$SERVER" --config "$dir/corral.conf" >>"$LOG" 2>&1 </dev/null &
    else
        mkdir -p "$dir/conf"
        cat >"$dir/conf/zoo.cfg" <<EOF
tickTime=$TICK_MS
dataDir=$dir/data
clientPort=$PORT
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
EOF
        setpriv --pdeathsig KILL -- java "-Xmx$ZK_HEAP" -Dzookeeper.admin.enableServer=false \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
            -cp "$dir/conf:$ZK_JARS" org.apache.zookeeper.server.quorum.QuorumPeerMain \
            "$dir/conf/zoo.cfg" >>"$LOG" 2>&1 </dev/null &
    fi
    PID=$!
}

# Polls with a one-shot getData of /bench/k0 until it returns its 100 bytes (on a fresh
# directory: until /bench/k0 can be created); prints the milliseconds since $1.
wait_serving() {
    local t0=$1 probe=(-n 1 --mix get=1 --keys 1)
    [ "${2:-}" = fresh ] && probe=(-n 0 --prepare --keys 1)
    for _ in $(seq 6000); do
        if "$BENCH" -q -d "$DATA_BYTES" --timeout-ms 4000 "${probe[@]}" "127.0.0.1:$PORT" \
            >/dev/null 2>&1; then
            echo $(( $(now_ms) - t0 ))
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || { say "server exited; log:"; tail -n 30 "$LOG" >&2; exit 1; }
        sleep 0.02
    done
    say "server not serving after 120 s; log:"; tail -n 30 "$LOG" >&2; exit 1
}

bench() { "$BENCH" -q -d "$DATA_BYTES" "$@" "127.0.0.1:$PORT"; }
field() { sed -n "s/^op=$1 .*$2=\([0-9.]*\).*/\1/p"; }
rss_mib() { echo $(( $(ps -o rss= -p "$PID") / 1024 )); }

declare -A R   # R[kind.metric] = value

measure() {
    local kind=$1 dir=$WORK/$1 out t0 line
    PORT=$(free_port)

    # a. throughput on a fresh directory
    say "$kind: throughput, $KEYS keys, ${DURATION}s per run"
    start_server "$kind" "$dir/tput"
    wait_serving "$(now_ms)" fresh >/dev/null
    bench --prepare --keys "$KEYS" -n 0 -c 8 -w 4
    for w in 1 8; do
        out=$(bench -c 8 -w "$w" --mix set=1 --keys "$KEYS" -t "$DURATION")
        R[$kind.set$((8 * w)).ops]=$(field set ops_per_s <<<"$out")
        R[$kind.set$((8 * w)).p50]=$(field set p50_us <<<"$out")
        R[$kind.set$((8 * w)).p99]=$(field set p99_us <<<"$out")
        say "$kind: $(grep '^op=set' <<<"$out")"
    done
    stop_server

    # b. NODES znodes on a second fresh directory
    say "$kind: loading $NODES znodes"
    start_server "$kind" "$dir/big"
    wait_serving "$(now_ms)" fresh >/dev/null
    t0=$(now_ms)
    bench --prepare --keys "$NODES" -n 0 -c 4 -w 4 --batch 1000 --timeout-ms 40000
    R[$kind.load_s]=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
    sleep 2
    R[$kind.rss_load]=$(rss_mib)
    t0=$(now_ms)
    stop_server
    R[$kind.stop_ms]=$(( $(now_ms) - t0 ))

    for run in 1 2; do
        local lines_before
        lines_before=$(wc -l <"$dir/big/server.log")
        t0=$(now_ms)
        start_server "$kind" "$dir/big"
        R[$kind.restart$run]=$(wait_serving "$t0")
        say "$kind: restart $run serving after ${R[$kind.restart$run]} ms"
        # what the server says loading took (corral: snapshot + log; ZooKeeper: the same,
        # logged by ZKDatabase)
        R[$kind.recover$run]=$(tail -n +"$((lines_before + 1))" "$LOG" |
            sed -n -e 's/.*recovered to zxid .* in \([0-9]*\) ms$/\1/p' \
                   -e 's/.*ZKDatabase - Snapshot loaded in \([0-9]*\) ms.*/\1/p' | tail -n 1)
        if [ "$run" = 1 ]; then
            # c. the snapshot of the recovered tree
            local snap="" new
            for _ in $(seq 3000); do
                new=$(tail -n +"$((lines_before + 1))" "$LOG")
                if [ "$kind" = corral ]; then
                    line=$(grep -o 'snapshot\.[0-9a-f]* written in [0-9]* ms' <<<"$new" | tail -n 1 || true)
                    if [ -n "$line" ]; then
                        snap=$dir/big/data/version-2/${line%% *}
                        R[$kind.snap_ms]=$(awk '{ print $4 }' <<<"$line")
                        R[$kind.snap_pause_ms]=$(sed -n 's/.*fork paused the server \([0-9]*\) ms.*/\1/p' <<<"$new" | tail -n 1)
                        break
                    fi
                else
                    line=$(grep -o 'Snapshot taken in [0-9]* ms' <<<"$new" | tail -n 1 || true)
                    if [ -n "$line" ]; then
                        snap=$(sed -n 's/.*Snapshotting: 0x[0-9a-f]* to \(.*\)$/\1/p' <<<"$new" | tail -n 1)
                        R[$kind.snap_ms]=$(awk '{ print $4 }' <<<"$line")
                        R[$kind.snap_pause_ms]=${R[$kind.snap_ms]}   # taken before serving
                        break
                    fi
                fi
                sleep 0.1
            done
            [ -n "$snap" ] && [ -f "$snap" ] || { say "$kind: no snapshot after restart; log:"; tail -n 30 "$LOG" >&2; exit 1; }
            R[$kind.snap_mb]=$(awk -v b="$(stat -c %s "$snap")" 'BEGIN { printf "%.1f", b / 1048576 }')
            say "$kind: ${snap##*/}: ${R[$kind.snap_mb]} MiB in ${R[$kind.snap_ms]} ms"
            sleep 2
            R[$kind.rss_restart]=$(rss_mib)
        fi
        stop_server
    done
}

T0=$(now_ms)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
measure corral
measure zookeeper

row() { # label metric [lower-is-better note]
    local c=${R[corral.$2]:-?} z=${R[zookeeper.$2]:-?} ratio
    ratio=$(awk -v c="$c" -v z="$z" 'BEGIN { if (z + 0 > 0 && c != "?") printf "%.2f", c / z; else print "-" }')
    printf '%-52s %12s %12s %8s\n' "$1" "$c" "$z" "$ratio"
}
echo
printf '%-52s %12s %12s %8s\n' "metric (fsync on, tickTime $TICK_MS)" corral zookeeper "c/zk"
row "setData 8x1 in flight: ops/s" set8.ops
row "setData 8x1 in flight: p50 us" set8.p50
row "setData 8x1 in flight: p99 us" set8.p99
row "setData 8x8 in flight: ops/s" set64.ops
row "setData 8x8 in flight: p50 us" set64.p50
row "setData 8x8 in flight: p99 us" set64.p99
row "load $NODES znodes (multi x1000, 4x4): s" load_s
row "RSS with $NODES znodes after load: MiB" rss_load
row "stop with $NODES znodes (SIGTERM to exit): ms" stop_ms
row "restart to first getData (log replay): ms" restart1
row "  of which loading data (server log): ms" recover1
row "restart to first getData (from snapshot): ms" restart2
row "  of which loading data (server log): ms" recover2
row "RSS after restart: MiB" rss_restart
row "snapshot after restart: MiB" snap_mb
row "snapshot after restart: total ms" snap_ms
row "snapshot after restart: serving blocked ms" snap_pause_ms
echo "(NODES=$NODES DURATION=$DURATION KEYS=$KEYS ZK_HEAP=$ZK_HEAP; $(( ($(now_ms) - T0) / 1000 )) s;" \
     "$(nproc) CPUs, load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end)"
