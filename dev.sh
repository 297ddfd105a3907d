#!/usr/bin/env bash
# corral's developer entry point.
#   ./dev.sh run [corral-server args]   install build deps, build, start the server
#   ./dev.sh test                       install test deps, build, run every test
#                                       (release and ASan+UBSan builds; integration suite
#                                       against corral and against Apache ZooKeeper 3.8)
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DEPS=(build-essential cmake pkg-config libevent-dev libssl-dev libconfig-dev)
TEST_DEPS=(libcmocka-dev python3-kazoo libzookeeper-mt-dev zookeeper zookeeper-bin
           netcat-openbsd clang binutils openssl default-jdk-headless libcurator-framework-java
           libcurator-recipes-java libcurator-client-java prometheus util-linux procps)

need_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "dev.sh: installing ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

build() { # build DIR BUILD_TYPE [cmake args...]
    local dir=$1 type=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

case "${1:-}" in
run)
    shift
    need_install "${BUILD_DEPS[@]}"
    build build RelWithDebInfo -DBUILD_TESTING=OFF
    exec ./build/corral-server "$@"
    ;;
test)
    need_install "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
    build build RelWithDebInfo -DBUILD_TESTING=ON
    ctest --test-dir build --output-on-failure -j2
    # The same tests under AddressSanitizer and UndefinedBehaviorSanitizer; the reference
    # ZooKeeper run is not repeated there.
    build build-sanitize Sanitize -DBUILD_TESTING=ON
    ctest --test-dir build-sanitize --output-on-failure -j2 -E zookeeper
    ;;
*)
    sed -n '2,6p' "$0" >&2
    exit 2
    ;;
esac
