#!/bin/bash
# The plugin SDK as a third party sees it (ctest sdk/*, docs/plugins.md).
#   install STAGE CMAKE BUILD CC
#       cmake --install BUILD into STAGE/root with prefix /opt/corral (so a rule that ignores
#       the prefix shows up instead of writing to the system), then check the installed tree.
#   example STAGE SRC CC CMAKE CTEST [cmake args]
#       build examples/plugin-hello out of tree against the installed tree found through
#       pkg-config, run its unit test, then load it by absolute path into the installed
#       corral-server next to cnxn-nio loaded by name, and ask both "ruok".
#   calls-core STAGE SRC CC
#       a plugin that calls a core function: -z defs must refuse the link, and without it the
#       server must refuse the load, naming the file and the symbol.
set -euo pipefail
MODE=$1
STAGE=$2
shift 2
PREFIX=/opt/corral
ROOT=$STAGE/root$PREFIX

fail() {
    echo "sdk: FAIL: $*" >&2
    exit 1
}

# Exports PKG_CONFIG_PATH for the installed tree, wherever its libdir is.
use_installed_tree() {
    local pc
    pc=$(find "$ROOT" -path '*/pkgconfig/corral-plugin.pc' | head -n 1)
    [ -n "$pc" ] || fail "no corral-plugin.pc under $ROOT"
    export PKG_CONFIG_PATH=${pc%/*}
}

case "$MODE" in
install)
    CMAKE=$1
    BUILD=$2
    CC=$3
    rm -rf "$STAGE"
    DESTDIR=$STAGE/root "$CMAKE" --install "$BUILD" --prefix "$PREFIX" >"$STAGE.log" ||
        { cat "$STAGE.log"; fail "cmake --install failed"; }
    mv "$STAGE.log" "$STAGE/install.log"
    stray=$(find "$STAGE/root" ! -type d ! -path "$ROOT/*")
    [ -z "$stray" ] || fail "installed outside the prefix: $stray"
    for f in bin/corral-server bin/corral-inspect bin/corral-bench; do
        [ -x "$ROOT/$f" ] || fail "$f is not installed"
    done
    for h in plugin host cnxn metrics election; do
        [ -f "$ROOT/include/corral/$h.h" ] || fail "include/corral/$h.h is not installed"
    done
    use_installed_tree
    echo "installed: $(cd "$ROOT" && find . ! -type d | sort | tr '\n' ' ')"

    # corral-plugin.pc: headers only, the plugin directory, the ABI the headers declare.
    [ -z "$(pkg-config --libs corral-plugin)" ] || fail "corral-plugin.pc has Libs"
    inc=$(pkg-config --cflags-only-I corral-plugin)
    inc=${inc%% *}
    [ "$(realpath "${inc#-I}")" = "$(realpath "$ROOT/include")" ] ||
        fail "Cflags $inc is not $ROOT/include"
    abi=$(sed -n 's/^#define CORRAL_ABI \([0-9]*\)$/\1/p' "$ROOT/include/corral/plugin.h")
    [ "$(pkg-config --variable abi corral-plugin)" = "$abi" ] || fail "abi variable is not $abi"
    version=$("$ROOT/bin/corral-server" --version | cut -d' ' -f2)
    [ "$(pkg-config --modversion corral-plugin)" = "$version" ] || fail "version is not $version"
    plugindir=$(realpath "$(pkg-config --variable plugindir corral-plugin)")
    [ -f "$plugindir/cnxn-nio.so" ] || fail "no cnxn-nio.so in plugindir $plugindir"

    # Each public header compiles on its own with nothing but the pkg-config flags.
    for h in "$ROOT"/include/corral/*.h; do
        printf '#include <corral/%s>\n' "${h##*/}" |
            "$CC" -std=c17 -Wall -Wextra -Werror -fsyntax-only $inc -x c - ||
            fail "${h##*/} does not compile on its own"
    done
    # The fake host comes whole or not at all (the example's unit test links it).
    if [ -f "$ROOT/include/corral/fake_host.h" ]; then
        lib=$(pkg-config --variable libdir corral-fakehost)/libcorral-fakehost.a
        [ -f "$lib" ] || fail "fake_host.h is installed, but not $lib and corral-fakehost.pc"
    fi
    echo "sdk install: ok ($ROOT)"
    ;;

example)
    SRC=$1
    CC=$2
    CMAKE=$3
    CTEST=$4
    shift 4
    use_installed_tree
    WORK=$(mktemp -d /tmp/corral-sdk-example.XXXXXX)
    PID=""
    cleanup() {
        if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" || true; fi
        rm -rf "$WORK"
    }
    trap cleanup EXIT

    "$CMAKE" -S "$SRC/examples/plugin-hello" -B "$WORK/build" -DCMAKE_C_COMPILER="$CC" "$@" \
        >"$WORK/configure.log" || { cat "$WORK/configure.log"; fail "configuring the example"; }
    "$CMAKE" --build "$WORK/build" >"$WORK/build.log" 2>&1 ||
        { cat "$WORK/build.log"; fail "building the example"; }
    SO=$WORK/build/cnxn-unix.so
    sh "$SRC/tests/abi/check_exports.sh" "$SO"
    if pkg-config --exists corral-fakehost; then
        "$CTEST" --test-dir "$WORK/build" --output-on-failure --no-tests=error
    fi
    for f in CMakeLists.txt unix.c test_unix.c; do
        cmp "$SRC/examples/plugin-hello/$f" "$ROOT/share/doc/corral/examples/plugin-hello/$f" ||
            fail "the installed example's $f differs from examples/plugin-hello/$f"
    done

    SOCK=$WORK/corral.sock
    PLUGINDIR=$(pkg-config --variable plugindir corral-plugin)
    LOG=$WORK/server.log
    # Ports below the ephemeral range, so no client socket holds ours; a race with another
    # test that binds the same port is retried.
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
    [ "$low" -gt 11000 ] || low=32768
    for attempt in 1 2 3; do
        while :; do
            PORT=$((10000 + RANDOM % (low - 10000)))
            (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
        done
        cat >"$WORK/corral.conf" <<EOF
data_dir = "$WORK/data";
plugin_dir = "$PLUGINDIR";
four_letter_words = "ruok";
admin = { enabled = false; };
listeners = ( { name = "client"; plugin = "cnxn-nio"; address = "127.0.0.1"; port = $PORT; },
              { name = "local"; plugin = "$SO"; path = "$SOCK"; mode = "0600"; } );
EOF
        "$ROOT/bin/corral-server" --config "$WORK/corral.conf" >"$LOG" 2>&1 </dev/null &
        PID=$!
        for i in $(seq 200); do
            grep -q 'serving' "$LOG" && break 2
            if ! kill -0 "$PID" 2>/dev/null; then
                wait "$PID" || true
                PID=""
                grep -q "bind 127.0.0.1:$PORT: Address already in use" "$LOG" && continue 2
                cat "$LOG"
                fail "corral-server exited"
            fi
            sleep 0.05
        done
        cat "$LOG"
        fail "corral-server did not start"
    done
    [ -n "$PID" ] || fail "no free port in 3 attempts"
    expect_log() {
        grep -qF -- "$1" "$LOG" || { cat "$LOG"; fail "the server log lacks: $1"; }
    }
    expect_log "listener local: plugin cnxn-unix 0.1.0 ($SO)"
    grep -F "listener client: plugin cnxn-nio " "$LOG" | grep -qF "($PLUGINDIR/cnxn-nio.so)" ||
        { cat "$LOG"; fail "cnxn-nio was not loaded from $PLUGINDIR"; }
    expect_log "cnxn-unix[local]: listening on $SOCK (mode 0600)"
    [ "$(stat -c %a "$SOCK")" = 600 ] || fail "$SOCK has mode $(stat -c %a "$SOCK"), not 600"
    reply=$(printf ruok | timeout 10 nc -N -U "$SOCK") || true
    [ "$reply" = imok ] || { cat "$LOG"; fail "ruok over $SOCK answered \"$reply\""; }
    reply=$(printf ruok | timeout 10 nc -N 127.0.0.1 "$PORT") || true
    [ "$reply" = imok ] || { cat "$LOG"; fail "ruok over 127.0.0.1:$PORT answered \"$reply\""; }

    kill -TERM "$PID"
    rc=0
    wait "$PID" || rc=$?
    PID=""
    [ "$rc" = 0 ] || { cat "$LOG"; fail "corral-server exited with $rc after SIGTERM"; }
    expect_log "stopped"
    [ ! -e "$SOCK" ] || fail "stop() left $SOCK behind"
    cat "$LOG"
    echo "sdk example: ok"
    ;;

calls-core)
    SRC=$1
    CC=$2
    use_installed_tree
    WORK=$(mktemp -d /tmp/corral-sdk-calls-core.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    SO=$WORK/calls-core.so
    build() {
        "$CC" -std=c17 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
            $(pkg-config --cflags corral-plugin) "$@" -o "$SO" "$SRC/tests/sdk/calls_core.c"
    }
    if build -Wl,-z,defs 2>"$WORK/link.err"; then
        fail "-z defs linked a plugin that calls log_msg"
    fi
    grep -Eq "undefined (reference to .log_msg'|symbol: log_msg)" "$WORK/link.err" ||
        { cat "$WORK/link.err"; fail "the link failed, but not on log_msg"; }
    echo "-z defs refuses the link: $(grep -m1 log_msg "$WORK/link.err")"

    build
    cat >"$WORK/corral.conf" <<EOF
data_dir = "$WORK/data";
metrics = { plugin = "$SO"; };
admin = { enabled = false; };
plugin_dir = "$(pkg-config --variable plugindir corral-plugin)";
listeners = ( { name = "client"; plugin = "cnxn-nio"; address = "127.0.0.1"; port = 2181; } );
EOF
    rc=0
    "$ROOT/bin/corral-server" --config "$WORK/corral.conf" >"$WORK/out" 2>&1 </dev/null || rc=$?
    cat "$WORK/out"
    [ "$rc" = 1 ] || fail "corral-server exited with $rc, not 1"
    want="corral-server: $WORK/corral.conf:2: metrics: $SO: cannot be loaded:"
    want="$want $SO: undefined symbol: log_msg"
    grep -qxF -- "$want" "$WORK/out" || fail "expected the line: $want"
    [ ! -e "$WORK/data" ] || fail "the server touched its data directory before refusing"
    echo "sdk calls-core: ok"
    ;;

*)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
