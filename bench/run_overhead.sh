#!/usr/bin/env bash
# bench/run_overhead.sh: the cost of one RUN step, per executor. Builds a Dockerfile with 20
# `RUN true` steps and one with none (FROM the busybox sample only), warm (the base image is in
# the store, one unmeasured build of each first), --no-cache so that every RUN runs, N times each;
# prints the medians and (median(20 steps) - median(0 steps)) / 20 in ms per RUN.
#
# Usage: bench/run_overhead.sh [--runs N] [--slipway PATH] [--executors LIST]
#   --runs N          measured builds per Dockerfile and executor (default 5)
#   --slipway PATH    the binary (default build/release/builder/slipway: make it with
#                     cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
#                     cmake --build build/release --target slipway)
#   --executors LIST  a comma list of native, runc, crun (default: native,runc, and crun when it
#                     is installed and can run a container here)
# Needs root (RUN steps) and busybox-static; runc for the runc figure.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runs=5
sw=$here/build/release/builder/slipway
executors=
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --slipway) sw=$2; shift 2 ;;
    --executors) executors=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_overhead.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$sw" ] || { echo "run_overhead.sh: $sw is missing (see --help)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run_overhead.sh: RUN steps need root" >&2; exit 1; }

T=$(mktemp -d /tmp/sw-run-overhead-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$here/samples/busybox/make-context.sh" "$T/bb" >/dev/null
mkdir -p "$T/ctx0" "$T/ctx20"
echo 'FROM slipway-samples/busybox:latest' > "$T/ctx0/Dockerfile"
{ echo 'FROM slipway-samples/busybox:latest'; for _ in $(seq 20); do echo 'RUN true'; done; } \
    > "$T/ctx20/Dockerfile"

flags_for() { # the build flags of an executor name
    case $1 in
    native) echo "--executor native" ;;
    *) echo "--executor oci --runtime $1" ;;
    esac
}
if [ -z "$executors" ]; then
    executors=native
    command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] && executors+=,runc
    if command -v crun >/dev/null 2>&1; then
        # crun refuses some hosts (a hybrid cgroup hierarchy): measure it only where it works
        "$sw" build --root "$T/probe" -q -t slipway-samples/busybox:latest "$T/bb" >/dev/null
        if "$sw" build --root "$T/probe" -q --executor oci --runtime crun "$T/ctx20" \
            >/dev/null 2>"$T/crun.err"; then
            executors+=,crun
        else
            echo "note: crun skipped, it cannot run a container here: $(tail -1 "$T/crun.err")" >&2
        fi
    fi
fi

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
build_ms() { # build_ms STORE CTX FLAGS...: wall time of one build in ms
    local store=$1 ctx=$2; shift 2
    local t0 t1
    t0=$(now_ms)
    "$sw" build --root "$store" -q --no-cache "$@" "$ctx" >/dev/null
    t1=$(now_ms)
    echo $((t1 - t0))
}

printf 'slipway %s, %s runs each, %s\n' "$sw" "$runs" "$(uname -r)"
printf '%-8s %14s %14s %14s\n' executor "0 RUN (ms)" "20 RUN (ms)" "ms per RUN"
IFS=, read -r -a list <<< "$executors"
for e in "${list[@]}"; do
    store=$T/store-$e
    read -r -a flags <<< "$(flags_for "$e")"
    "$sw" build --root "$store" -q -t slipway-samples/busybox:latest "$T/bb" >/dev/null
    build_ms "$store" "$T/ctx0" "${flags[@]}" >/dev/null   # warm-up
    build_ms "$store" "$T/ctx20" "${flags[@]}" >/dev/null
    : > "$T/$e.0"; : > "$T/$e.20"
    for _ in $(seq "$runs"); do
        build_ms "$store" "$T/ctx0" "${flags[@]}" >> "$T/$e.0"
        build_ms "$store" "$T/ctx20" "${flags[@]}" >> "$T/$e.20"
    done
    m0=$(median < "$T/$e.0")
    m20=$(median < "$T/$e.20")
    printf '%-8s %14s %14s %14s\n' "$e" "$m0" "$m20" \
        "$(awk -v a="$m20" -v b="$m0" 'BEGIN { printf "%.1f", (a - b) / 20 }')"
done
