#!/bin/bash
# corral against Apache ZooKeeper 3.8 (Debian's package) in one run, same machine, equivalent
# settings (lib.sh: tickTime 2000, snapCount 100000, 64 MiB log preallocation, data
# directories side by side under /tmp, loopback), every reply checked by corral-bench.
# Measures, for both servers:
#   1. start-up to serving on an empty data directory: exec to the first right reply to a
#      create (corral-bench --probe: a new connection every millisecond), median of STARTS
#      starts; RSS 1 s after the first start;
#   2. per op (get exists children set multi create delete), fsync on: throughput, p50, p99
#      with 1 session x 1 request in flight, and at saturation (SAT sessions x in flight,
#      split over PROCS corral-bench processes), after WARMUP seconds of mixed load (the JIT's
#      due); both servers up, runs interleaved op by op so drift hits both alike; the CPU
#      the server and the client used during each run (% of one core; a client near 100%
#      would be the limit);
#   3. the write ops again with fsync off (corral force_sync = false, ZooKeeper forceSync=no);
#   4. NODES znodes of 100 bytes (lib.sh big_restart): load, RSS, stop, restart to serving
#      from the txn log and from a snapshot, the snapshot's time and size;
# then prints two markdown tables with corral/ZooKeeper ratios and PASS/MISS against the
# targets (saturation, fsync on: reads >= 3x, writes >= 2x the throughput, p99 <= 1/3; RSS
# with NODES znodes <= 1/5; start-up <= 50 ms; restart with NODES znodes <= 1/5).
#
# Ops: get/exists/children (of a key, no children)/set/multi (check + setData) work on KEYS
# prepared keys; create makes new znodes (--absent --seq: one create per new key) and delete
# then deletes exactly the znodes that create made, so both always succeed.
# With PROCS > 1 each process gets its own key range and SAT's sessions are split; ops/s are
# summed, p50 and p99 are the largest of the processes' (an upper bound).
#
# Usage: bench/compare.sh   (env, defaults: DURATION=10 (s, saturated runs) DURATION_1=5 (s, 1x1)
#                            SAT=16x16 PROCS=1 KEYS=10000 WARMUP=5 NODES=1000000 STARTS=3
#                            OPS="get exists children set multi create delete" FSYNC_OFF=1
#                            ZK_HEAP=2g BUILD=<repo>/build KEEP=0)
# About 8 minutes on 2 cores with the defaults. Needs a build with corral-server and
# corral-bench, and the Debian packages zookeeper, default-jre-headless, util-linux, procps.
# It signals only the server processes it started, by pid; KEEP=1 keeps the work directory.
set -euo pipefail

DURATION=${DURATION:-10}
DURATION_1=${DURATION_1:-5}
SAT=${SAT:-16x16}
PROCS=${PROCS:-1}
KEYS=${KEYS:-10000}
WARMUP=${WARMUP:-5}
NODES=${NODES:-1000000}
STARTS=${STARTS:-3}
OPS=${OPS:-get exists children set multi create delete}
FSYNC_OFF=${FSYNC_OFF:-1}
CREATE_MAX=${CREATE_MAX:-4000000}   # keys one create run may make, per process
QUIET_PCT=${QUIET_PCT:-25}          # settle: wait for the machine to be this idle (% of a core)
SETTLE_MAX=${SETTLE_MAX:-10}        # ... for at most this many seconds
OTHER_MAX=${OTHER_MAX:-40}          # a run during which other processes took more (% of a core)
RETRIES=${RETRIES:-1}               # ... is run again, at most this often (not delete runs)
KEEP=${KEEP:-0}
TICK_MS=2000
DATA_BYTES=100
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_check

SAT_C=${SAT%x*}
SAT_W=${SAT#*x}
[[ "$SAT_C" =~ ^[0-9]+$ && "$SAT_W" =~ ^[0-9]+$ && "$PROCS" =~ ^[0-9]+$ ]] ||
    { echo "compare.sh: SAT is SESSIONSxINFLIGHT (e.g. 16x16), PROCS a number" >&2; exit 2; }
(( PROCS >= 1 && SAT_C % PROCS == 0 && KEYS / PROCS >= SAT_C / PROCS )) ||
    { echo "compare.sh: PROCS must divide SAT's sessions, and KEYS/PROCS >= sessions/PROCS" >&2; exit 2; }
KINDS=(corral zookeeper)

WORK=$(mktemp -d /tmp/corral-compare.XXXXXX)
cleanup() {
    srv_stop_all
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A R         # R[kind.metric]: start-up, RSS, restart, snapshot (big_restart)
declare -A T         # T[mode.kind.op.conc.field]: ops p50 p99 scpu ccpu
declare -A CREATED   # CREATED[mode.kind.conc.proc]: "base count" of a create run, for delete
NEXT_BASE=100000000  # create runs take fresh key ranges from here (/bench/k100000000 ...)

is_read() { case $1 in get|exists|children) return 0 ;; *) return 1 ;; esac; }

# CPU ticks the whole machine spent in processes (user, nice, system; not irq and softirq,
# which loopback traffic causes on behalf of the server and client) and in other guests (steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $9; exit }' /proc/stat; }

# settle: flush dirty pages (a snapshot the last run left in the page cache), then wait until
# the machine is quiet: below QUIET_PCT % of a core busy over half a second, at most
# SETTLE_MAX seconds. Others share this machine; their load is noted per run, not avoided.
settle() {
    local a b i hz
    hz=$(getconf CLK_TCK)
    sync
    for i in $(seq $((SETTLE_MAX * 2))); do
        a=$(machine_ticks); sleep 0.5; b=$(machine_ticks)
        (( (b - a) * 100 * 2 / hz < QUIET_PCT )) && return 0
    done
    say "settle: machine still busy after ${SETTLE_MAX}s ($(( (b - a) * 100 * 2 / hz ))% of a core)"
}

# run_op MODE KIND OP CONC: one measurement, again (up to RETRIES times) while other processes
# took more than OTHER_MAX % of a core during it; CONC is 1x1 or $SAT.
run_op() {
    local try key=$1.$2.$3.$4
    for try in $(seq 0 "$RETRIES"); do
        settle
        run_op_once "$@"
        (( ${T[$key.other]} <= OTHER_MAX )) && return 0
        [ "$3" = delete ] && break   # its znodes are gone; keep the result, marked
        [ "$try" -lt "$RETRIES" ] && say "again: other processes took ${T[$key.other]}% of a core"
    done
    T[$key.noisy]="*"
}

run_op_once() {
    local mode=$1 kind=$2 op=$3 conc=$4 c w procs secs j base n args cpu0 cpu1 m0 m1 t0 t1 out
    local -a pids=()
    if [ "$conc" = 1x1 ]; then c=1 w=1 procs=1 secs=$DURATION_1
    else c=$((SAT_C / PROCS)) w=$SAT_W procs=$PROCS secs=$DURATION; fi
    for j in $(seq 0 $((procs - 1))); do
        case $op in
        create)
            base=$NEXT_BASE
            NEXT_BASE=$((NEXT_BASE + CREATE_MAX))
            CREATED[$mode.$kind.$conc.$j]="$base 0"
            args=(--absent --seq --mix create=1 --key-base "$base" --keys "$CREATE_MAX" -t "$secs") ;;
        delete)
            read -r base n <<<"${CREATED[$mode.$kind.$conc.$j]:-0 0}"
            (( n > 0 )) || { say "$kind: no creates to delete ($mode $conc)"; return 0; }
            args=(--seq --mix delete=1 --key-base "$base" --keys "$n" -t "$secs") ;;
        *)
            n=$((KEYS / procs))
            args=(--mix "$op=1" --key-base $((j * n)) --keys "$n" -t "$secs") ;;
        esac
        srv_bench "$kind" -c "$c" -w "$w" "${args[@]}" >"$WORK/run.$j" 2>&1 &
        pids+=($!)
    done
    cpu0=$(srv_cpu_ticks "$kind"); m0=$(machine_ticks); t0=$(date +%s%N)
    for j in "${!pids[@]}"; do
        if ! wait "${pids[$j]}"; then
            say "$kind: $op $conc ($mode) failed:"; cat "$WORK/run.$j" >&2; exit 1
        fi
    done
    cpu1=$(srv_cpu_ticks "$kind"); m1=$(machine_ticks); t1=$(date +%s%N)
    out=$(for j in $(seq 0 $((procs - 1))); do cat "$WORK/run.$j"; rm -f "$WORK/run.$j"; done)
    [ "$op" = create ] && note_created "$mode" "$kind" "$conc" "$out"
    local key=$mode.$kind.$op.$conc
    T[$key.ops]=$(field "$op" ops_per_s <<<"$out" | awk '{ s += $1 } END { printf "%.0f", s }')
    T[$key.p50]=$(field "$op" p50_us <<<"$out" | sort -n | tail -n 1)
    T[$key.p99]=$(field "$op" p99_us <<<"$out" | sort -n | tail -n 1)
    T[$key.ccpu]=$(sed -n 's/^client cpu_s=\([0-9.]*\) run_s=\([0-9.]*\).*/\1 \2/p' <<<"$out" |
        awk '{ if ($2 > 0) s += $1 / $2 } END { printf "%.0f", 100 * s }')
    T[$key.scpu]=$(awk -v t="$((cpu1 - cpu0))" -v ns="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.0f", 100 * t / hz / (ns / 1e9) }')
    # everything else the machine ran meanwhile: other processes, and this script's own tools
    T[$key.other]=$(awk -v t="$((m1 - m0))" -v ns="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
        -v s="${T[$key.scpu]}" -v c="${T[$key.ccpu]}" \
        'BEGIN { o = 100 * t / hz / (ns / 1e9) - s - c; printf "%.0f", o < 0 ? 0 : o }')
    say "$kind $mode $op $conc: ${T[$key.ops]} ops/s p50 ${T[$key.p50]} us p99 ${T[$key.p99]} us" \
        "(CPU % of a core: server ${T[$key.scpu]}, client ${T[$key.ccpu]}, others ${T[$key.other]})"
}

# The creates each process made (its output's op=create lines, in process order): the
# delete run deletes exactly those.
note_created() {
    local mode=$1 kind=$2 conc=$3 out=$4 base j=0 n
    while read -r n; do
        read -r base _ <<<"${CREATED[$mode.$kind.$conc.$j]}"
        CREATED[$mode.$kind.$conc.$j]="$base $n"
        j=$((j + 1))
    done < <(field create count <<<"$out")
}

# Starts both servers on fresh directories, prepares KEYS keys and warms them up.
start_pair() {
    local mode=$1 fsync=$2 kind t0
    for kind in "${KINDS[@]}"; do
        t0=$(date +%s%N)
        srv_start "$kind" "$kind" "$WORK/$mode/$kind" "$(free_port)" "$fsync"
        srv_wait_serving "$kind" "$t0" fresh >/dev/null
        srv_bench "$kind" --prepare --keys "$KEYS" -n 0 -c 8 -w 4
        say "$kind ($mode): warming up, ${WARMUP}s + ${WARMUP}s"
        srv_bench "$kind" --keys "$KEYS" -c "$SAT_C" -w "$SAT_W" -t "$WARMUP" \
            --mix get=4,exists=1,children=1,set=2,multi=1 >/dev/null
        srv_bench "$kind" --absent --seq --mix create=1 --key-base 50000000 --keys 1000000 \
            -c 8 -w 8 -t "$WARMUP" >"$WORK/warm.out"
        srv_bench "$kind" --seq --mix delete=1 --key-base 50000000 \
            --keys "$(field create count <"$WORK/warm.out")" -c 8 -w 8 -n 100000000 >/dev/null
    done
}

# run_matrix MODE OPS...: every op at 1x1 and at saturation, the two servers alternating.
run_matrix() {
    local mode=$1 op conc kind; shift
    for op in "$@"; do
        for conc in 1x1 "$SAT"; do
            for kind in "${KINDS[@]}"; do
                run_op "$mode" "$kind" "$op" "$conc"
            done
        done
    done
}

T_START=$(now_ms)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
FSYNC_RATE=$(fsync_rate "$WORK")
say "disk: $FSYNC_RATE O_DSYNC writes/s in $WORK"

# 1. start-up on an empty directory
for i in $(seq "$STARTS"); do
    for kind in "${KINDS[@]}"; do
        t0=$(date +%s%N)
        srv_start "$kind" "$kind" "$WORK/start/$kind.$i" "$(free_port)"
        R[$kind.start.$i]=$(srv_wait_serving "$kind" "$t0" fresh)
        if [ "$i" = 1 ]; then sleep 1; R[$kind.rss_empty]=$(srv_rss_mib "$kind"); fi
        srv_stop "$kind"
        rm -rf "$WORK/start/$kind.$i"
    done
done
for kind in "${KINDS[@]}"; do
    R[$kind.startup]=$(for i in $(seq "$STARTS"); do echo "${R[$kind.start.$i]}"; done |
        sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    R[$kind.startup_all]=$(for i in $(seq "$STARTS"); do printf '%s ' "${R[$kind.start.$i]}"; done)
    say "$kind: start-up to serving ${R[$kind.startup_all]}ms; RSS empty ${R[$kind.rss_empty]} MiB"
done

# 2. fsync on; 3. fsync off (write ops)
start_pair on true
run_matrix on $OPS
srv_stop_all
WRITE_OPS=$(for op in $OPS; do is_read "$op" || printf '%s ' "$op"; done)
if [ "$FSYNC_OFF" = 1 ] && [ -n "$WRITE_OPS" ]; then
    start_pair off false
    run_matrix off $WRITE_OPS
    srv_stop_all
fi
rm -rf "$WORK/on" "$WORK/off"

# 4. NODES znodes
if [ "$NODES" -gt 0 ]; then
    for kind in "${KINDS[@]}"; do
        big_restart "$kind" "$kind" "$WORK/big/$kind" "$NODES"
        rm -rf "$WORK/big/$kind"
    done
fi

# ------------------------------------------------------------------ the tables
# ratio C Z [PRECISION]: C/Z, 2 decimals for the tables; judge gets 6, so rounding never passes a target.
ratio() { awk -v c="$1" -v z="$2" -v p="${3:-2}" 'BEGIN { if (z + 0 > 0 && c != "" && c != "?") printf "%.*f", p, c / z; else print "-" }'; }
# judge RATIO OP TARGET: ">= X" or "<= X"; prints PASS or "MISS (x.xx)".
judge() {
    awk -v r="$1" -v t="$2" 'BEGIN {
        split(t, a, " "); if (r == "-" || r == "") { print "?"; exit }
        ok = (a[1] == ">=") ? (r + 0 >= a[2] + 0) : (r + 0 <= a[2] + 0)
        print ok ? "PASS" : "MISS" }'
}

echo
echo "### Per op: corral vs ZooKeeper 3.8 ($(date +%F), ${DURATION}s saturated / ${DURATION_1}s 1x1 runs, $SAT in flight at saturation over $PROCS client process(es))"
echo
echo "| fsync | op | sessions x in flight | corral ops/s | ZK ops/s | c/zk | corral p50 us | ZK p50 us | c/zk | corral p99 us | ZK p99 us | c/zk | CPU % srv/cli/other corral | CPU % srv/cli/other ZK | target | result |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
for mode in on off; do
    for op in $OPS; do
        for conc in 1x1 "$SAT"; do
            c=$mode.corral.$op.$conc z=$mode.zookeeper.$op.$conc
            [ -n "${T[$c.ops]:-}" ] || continue
            rt=$(ratio "${T[$c.ops]}" "${T[$z.ops]}")
            r50=$(ratio "${T[$c.p50]}" "${T[$z.p50]}")
            r99=$(ratio "${T[$c.p99]}" "${T[$z.p99]}")
            target="-" result="-"
            if [ "$mode" = on ] && [ "$conc" = "$SAT" ]; then
                if is_read "$op"; then want=3; else want=2; fi
                target="ops >= ${want}x, p99 <= 0.33x"
                a=$(judge "$(ratio "${T[$c.ops]}" "${T[$z.ops]}" 6)" ">= $want")
                b=$(judge "$(ratio "${T[$c.p99]}" "${T[$z.p99]}" 6)" "<= 0.3333334")
                if [ "$a" = PASS ] && [ "$b" = PASS ]; then result=PASS
                else result="MISS:$([ "$a" = PASS ] || printf ' ops %sx' "$rt")$([ "$b" = PASS ] || printf ' p99 %sx' "$r99")"; fi
            fi
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s/%s%s | %s/%s/%s%s | %s | %s |\n' \
                "$mode" "$op" "$conc" "${T[$c.ops]}" "${T[$z.ops]}" "$rt" "${T[$c.p50]}" "${T[$z.p50]}" "$r50" \
                "${T[$c.p99]}" "${T[$z.p99]}" "$r99" "${T[$c.scpu]}" "${T[$c.ccpu]}" "${T[$c.other]}" \
                "${T[$c.noisy]:-}" "${T[$z.scpu]}" "${T[$z.ccpu]}" "${T[$z.other]}" "${T[$z.noisy]:-}" \
                "$target" "$result"
        done
    done
done

echo
echo "CPU: % of one core during the run, server/client/other (other: whatever else the machine ran,"
echo "other processes or guests; * = above ${OTHER_MAX}% in every one of $((RETRIES + 1)) tries). At saturation"
echo "a ratio of p50 follows from Little's law (in flight / throughput); p99 adds the tail."

row() { # label metric target: "<= X" (ratio), "abs<= X" (corral's value), or -
    local c=${R[corral.$2]:-?} z=${R[zookeeper.$2]:-?} r target=$3 result=-
    r=$(ratio "$c" "$z")
    case $target in
    abs*) result=$(awk -v c="$c" -v t="${target#abs<= }" 'BEGIN { print (c != "?" && c + 0 <= t + 0) ? "PASS" : "MISS" }')
          target="corral <= ${target#abs<= } ms" ;;
    -) ;;
    *) result=$(judge "$(ratio "$c" "$z" 6)" "$target"); target="c/zk $target" ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$c" "$z" "$r" "$target" "$result"
}
echo
echo "### Memory, start-up, restart, snapshot ($NODES znodes of $DATA_BYTES bytes)"
echo
echo "| metric | corral | ZK | c/zk | target | result |"
echo "|---|---:|---:|---:|---|---|"
row "RSS after start, empty (MiB)" rss_empty -
row "start-up to serving, empty data dir (ms, median of $STARTS)" startup "abs<= 50"
if [ "$NODES" -gt 0 ]; then
    row "load $NODES znodes (multi x1000, 4x4 in flight) (s)" load_s -
    row "RSS with $NODES znodes, 2 s after the load (MiB)" rss_load "<= 0.2"
    row "RSS with $NODES znodes, 2 s after restart (MiB)" rss_restart -
    if [ -n "${R[zookeeper.heap_live]:-}" ]; then
        printf '| %s | %s | %s | %s | %s | %s |\n' \
            "ZK after a full GC (jcmd GC.run): heap in use / RSS (MiB)" "-" \
            "${R[zookeeper.heap_live]} / ${R[zookeeper.rss_gc]}" \
            "$(ratio "${R[corral.rss_load]:-}" "${R[zookeeper.heap_live]}") (RSS/heap)" - -
    fi
    row "stop with $NODES znodes, SIGTERM to exit (ms)" stop_ms -
    row "restart with $NODES znodes to serving, from the txn log (ms)" restart1 "<= 0.2"
    row "&nbsp;&nbsp;of which loading, the server's own figure (ms)" recover1 -
    row "restart with $NODES znodes to serving, from a snapshot (ms)" restart2 "<= 0.2"
    row "&nbsp;&nbsp;of which loading, the server's own figure (ms)" recover2 -
    row "snapshot of $NODES znodes: time to write (ms)" snap_ms -
    row "snapshot of $NODES znodes: serving blocked (ms)" snap_pause_ms -
    row "snapshot of $NODES znodes: size (MiB)" snap_mb -
fi
echo
echo "start-up runs (ms): corral ${R[corral.startup_all]}; ZK ${R[zookeeper.startup_all]}"
echo "disk: $FSYNC_RATE O_DSYNC 512-byte writes/s (the ceiling of one fsync'd write in flight)"
machine_info "$WORK" | sed 's/^/machine: /'
echo "run: $(( ($(now_ms) - T_START) / 1000 )) s; load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end;" \
     "DURATION=$DURATION DURATION_1=$DURATION_1 SAT=$SAT PROCS=$PROCS KEYS=$KEYS WARMUP=$WARMUP NODES=$NODES ZK_HEAP=$ZK_HEAP"
