# Used by bench/compare.sh (source it; bash only): start, probe and
# stop corral and Apache ZooKeeper 3.8 (Debian's package) with equivalent settings, several at
# once if needed, each under a name. Every server runs under `setpriv --pdeathsig KILL`, so it
# dies with the script; the scripts signal only the pids recorded here.
#
# The caller sets, before sourcing or before the first start:
#   BUILD      a build directory with corral-server and corral-bench (default <repo>/build)
#   ZK_HEAP    ZooKeeper's -Xmx (default 2g)
#   TICK_MS    tickTime of both (default 2000)
#   DATA_BYTES data size of every znode the scripts write (default 100)
# and calls lib_check, and srv_stop_all on exit (lib_cleanup does that and removes $WORK).

LIB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$LIB_REPO/build}
ZK_HEAP=${ZK_HEAP:-2g}
TICK_MS=${TICK_MS:-2000}
DATA_BYTES=${DATA_BYTES:-100}
ZK_JARS=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
SERVER=$BUILD/corral-server
BENCH=$BUILD/corral-bench

declare -A SRV_PID SRV_PORT SRV_LOG SRV_KIND SRV_DIR

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

lib_check() {
    local f
    for f in "$SERVER" "$BENCH"; do
        [ -x "$f" ] || { echo "$0: $f missing; build first (cmake --build build)" >&2; exit 2; }
    done
    [ -r /usr/share/java/zookeeper.jar ] ||
        { echo "$0: ZooKeeper missing (apt-get install zookeeper)" >&2; exit 2; }
    command -v java >/dev/null || { echo "$0: java missing" >&2; exit 2; }
    command -v setpriv >/dev/null || { echo "$0: setpriv missing (util-linux)" >&2; exit 2; }
}

# A loopback port nobody listens on.
free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 40000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# srv_start NAME corral|zookeeper DIR PORT [FSYNC]: starts a server in the background on
# 127.0.0.1:PORT with its data in DIR/data (created if missing; reused if present) and its
# output appended to DIR/server.log. FSYNC true (default) or false: corral force_sync,
# ZooKeeper forceSync. Both get tickTime TICK_MS, snapCount 100000, 64 MiB log preallocation,
# all four-letter words, 60 connections per address (their defaults, written out), and no
# admin server (both would take port 8080). The server
# execs in place of setpriv, so SRV_PID[NAME] is the server itself.
srv_start() {
    local name=$1 kind=$2 dir=$3 port=$4 fsync=${5:-true}
    [ -z "${SRV_PID[$name]:-}" ] || { say "srv_start: $name is running"; return 1; }
    mkdir -p "$dir/data"
    SRV_LOG[$name]=$dir/server.log
    SRV_PORT[$name]=$port
    SRV_KIND[$name]=$kind
    SRV_DIR[$name]=$dir
    if [ "$kind" = corral ]; then
        cat >"$dir/corral.conf" <<EOF
data_dir = "$dir/data";
tick_time_ms = $TICK_MS;
snap_count = 100000;
prealloc_kb = 65536;
max_client_cnxns = 60;
force_sync = $fsync;
four_letter_words = "*";
admin = { enabled = false; };
listeners = ( { name = "client"; plugin = "cnxn-nio"; address = "127.0.0.1"; port = $port; } );
EOF
        setpriv --pdeathsig KILL -- "$SERVER" --config "$dir/corral.conf" \
            >>"${SRV_LOG[$name]}" 2>&1 </dev/null &
    else
        mkdir -p "$dir/conf"
        cat >"$dir/conf/zoo.cfg" <<EOF
tickTime=$TICK_MS
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
snapCount=100000
preAllocSize=65536
maxClientCnxns=60
forceSync=$([ "$fsync" = true ] && echo yes || echo no)
4lw.commands.whitelist=*
admin.enableServer=false
EOF
        setpriv --pdeathsig KILL -- java "-Xmx$ZK_HEAP" -Dzookeeper.admin.enableServer=false \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
            -Dorg.slf4j.simpleLogger.showDateTime=true \
            -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS \
            -cp "$dir/conf:$ZK_JARS" org.apache.zookeeper.server.quorum.QuorumPeerMain \
            "$dir/conf/zoo.cfg" >>"${SRV_LOG[$name]}" 2>&1 </dev/null &
    fi
    SRV_PID[$name]=$!
}

# srv_stop NAME: SIGTERM, up to 60 s to exit, then SIGKILL; only the pid srv_start recorded.
srv_stop() {
    local name=$1 pid=${SRV_PID[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) ignored SIGTERM for 60 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    SRV_PID[$name]=""
}

srv_stop_all() {
    local name
    for name in "${!SRV_PID[@]}"; do srv_stop "$name"; done
}

# srv_wait_serving NAME T0_NS [fresh]: waits until the server answers (corral-bench --probe,
# a new connection every millisecond) and prints the milliseconds from T0_NS (date +%s%N,
# taken just before srv_start) to the first right reply. The request is getData of
# /bench/k0, which must return DATA_BYTES bytes; with "fresh" (an empty data directory) a
# create of /corral-bench-probe. Exits the script if the server dies or takes 10 minutes.
srv_wait_serving() {
    local name=$1 t0=$2 mode=(-d "$DATA_BYTES") out
    [ "${3:-}" = fresh ] && mode=(--probe-write)
    if ! out=$("$BENCH" --probe 600000 --timeout-ms 4000 --since-ns "$t0" "${mode[@]}" \
        "127.0.0.1:${SRV_PORT[$name]}" 2>&1); then
        say "$name not serving: $out; log:"; tail -n 30 "${SRV_LOG[$name]}" >&2; exit 1
    fi
    sed -n 's/^probe serving_ms=\([0-9.]*\).*/\1/p' <<<"$out"
}

# Runs corral-bench against NAME with DATA_BYTES-byte data, no progress lines.
srv_bench() { local name=$1; shift; "$BENCH" -q -d "$DATA_BYTES" "$@" "127.0.0.1:${SRV_PORT[$name]}"; }

srv_rss_mib() { echo $(( $(ps -o rss= -p "${SRV_PID[$1]}") / 1024 )); }

# CPU time of the whole process (all threads) and of its children it has reaped (corral's
# snapshot writers) in clock ticks: utime + stime + cutime + cstime.
srv_cpu_ticks() {
    local stat
    stat=$(<"/proc/${SRV_PID[$1]}/stat")
    stat=${stat##*) }   # fields from 3 on; the command name may hold spaces
    awk '{ print $12 + $13 + $14 + $15 }' <<<"$stat"
}

# Prints the server's log lines written after line N (N = `wc -l` taken earlier).
srv_log_since() { tail -n +"$(( $2 + 1 ))" "${SRV_LOG[$1]}"; }

# field OP KEY: reads corral-bench output on stdin, prints KEY's value from OP's line.
field() { sed -n "s/^op=$1 \(.* \)\{0,1\}$2=\([0-9.]*\).*/\2/p"; }

# big_restart NAME KIND DIR NODES: the 1M-znode measurements, stored in R[KIND.*] (declare -A R
# first): a fresh server loads NODES znodes of DATA_BYTES bytes (multi x 1000, 4 sessions x 4
# in flight): load_s; rss_load (MiB, 2 s after the load); stop_ms (SIGTERM to exit); then two
# restarts to the first getData of /bench/k0: restart1 (from the txn log) and restart2 (from
# the snapshot taken after restart 1), each with recoverN (the server's own figure for loading
# the data); of the snapshot taken after restart 1: snap_ms (total), snap_pause_ms (time the
# server did not serve: corral's fork, ZooKeeper's whole snapshot, taken before it serves),
# snap_mb; rss_restart (MiB, 2 s after restart 1 serves); for ZooKeeper, when jcmd is there,
# heap_live and rss_gc (heap in use and RSS after a full GC, taken after rss_load).
big_restart() {
    local name=$1 kind=$2 dir=$3 nodes=$4 port t0 run lines_before line snap new
    port=$(free_port)
    say "$kind: loading $nodes znodes"
    t0=$(date +%s%N)
    srv_start "$name" "$kind" "$dir" "$port"
    srv_wait_serving "$name" "$t0" fresh >/dev/null
    t0=$(now_ms)
    srv_bench "$name" --prepare --keys "$nodes" -n 0 -c 4 -w 4 --batch 1000 --timeout-ms 40000
    R[$kind.load_s]=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
    sleep 2
    R[$kind.rss_load]=$(srv_rss_mib "$name")
    say "$kind: loaded in ${R[$kind.load_s]} s, RSS ${R[$kind.rss_load]} MiB"
    if [ "$kind" = zookeeper ] && command -v jcmd >/dev/null; then
        # What of that the JVM needs: the heap in use after a full GC, and the RSS then (G1
        # gives some memory back after a full GC). corral has no garbage to collect.
        if jcmd "${SRV_PID[$name]}" GC.run >/dev/null 2>&1; then
            sleep 2
            R[$kind.heap_live]=$(jcmd "${SRV_PID[$name]}" GC.heap_info 2>/dev/null |
                sed -n 's/.*heap *total [0-9]*K, used \([0-9]*\)K.*/\1/p' | head -n 1 |
                awk '{ printf "%d", $1 / 1024 }')
            R[$kind.rss_gc]=$(srv_rss_mib "$name")
            say "$kind: after a full GC: heap used ${R[$kind.heap_live]:-?} MiB, RSS ${R[$kind.rss_gc]} MiB"
        fi
    fi
    t0=$(now_ms)
    srv_stop "$name"
    R[$kind.stop_ms]=$(( $(now_ms) - t0 ))

    for run in 1 2; do
        lines_before=$(wc -l <"$dir/server.log")
        t0=$(date +%s%N)
        srv_start "$name" "$kind" "$dir" "$port"
        R[$kind.restart$run]=$(srv_wait_serving "$name" "$t0")
        say "$kind: restart $run serving after ${R[$kind.restart$run]} ms"
        # what the server says loading took (corral: snapshot + log; ZooKeeper: ZKDatabase's
        # "Snapshot loaded in", which covers the log replay too)
        R[$kind.recover$run]=$(srv_log_since "$name" "$lines_before" |
            sed -n -e 's/.*recovered to zxid .* in \([0-9]*\) ms$/\1/p' \
                   -e 's/.*ZKDatabase - Snapshot loaded in \([0-9]*\) ms.*/\1/p' | tail -n 1)
        if [ "$run" = 1 ]; then
            snap=""
            for _ in $(seq 3000); do
                new=$(srv_log_since "$name" "$lines_before")
                if [ "$kind" = corral ]; then
                    line=$(grep -o 'snapshot\.[0-9a-f]* written in [0-9]* ms' <<<"$new" | tail -n 1 || true)
                    if [ -n "$line" ]; then
                        snap=$dir/data/version-2/${line%% *}
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
            [ -n "$snap" ] && [ -f "$snap" ] ||
                { say "$kind: no snapshot after restart; log:"; tail -n 30 "$dir/server.log" >&2; exit 1; }
            R[$kind.snap_mb]=$(awk -v b="$(stat -c %s "$snap")" 'BEGIN { printf "%.1f", b / 1048576 }')
            say "$kind: ${snap##*/}: ${R[$kind.snap_mb]} MiB in ${R[$kind.snap_ms]} ms"
            sleep 2
            R[$kind.rss_restart]=$(srv_rss_mib "$name")
        fi
        srv_stop "$name"
    done
}

# The machine, one line each: CPUs, model, kernel, memory, the data directory's disk.
machine_info() {
    local dev
    echo "CPUs: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "kernel: $(uname -sr); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    dev=$(df --output=source "${1:-/tmp}" | tail -n 1)
    echo "data directories: ${1:-/tmp} on $dev ($(findmnt -n -o FSTYPE --target "${1:-/tmp}" 2>/dev/null || echo '?')," \
         "rotational=$(cat "/sys/block/$(basename "$dev" | sed 's/[0-9]*$//')/queue/rotational" 2>/dev/null || echo '?'))"
    echo "java: $(java -version 2>&1 | head -n 1); ZooKeeper: $(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null || echo '?')"
}

# fsync_rate DIR: 512-byte O_DSYNC writes per second into a preallocated file (the disk's commit rate,
# the ceiling of fsync'd writes with one in flight).
fsync_rate() {
    local f=$1/fsync-rate.tmp out
    dd if=/dev/zero of="$f" bs=512 count=2000 status=none
    out=$(dd if=/dev/zero of="$f" bs=512 count=2000 oflag=dsync conv=notrunc 2>&1 | tail -n 1)
    rm -f "$f"
    awk -v s="$(sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' <<<"$out")" 'BEGIN { printf "%.0f", 2000 / s }'
}
