#!/usr/bin/env bash
# bench/run.sh: build the same scenarios with slipway and, when installed, Buildah and BuildKit
# (docker.io's dockerd with its embedded BuildKit), several runs each; print medians and ratios
# in one table, optionally as JSON. Everything runs offline: the base image is made by slipway
# from Debian's busybox-static and loaded into each peer's local store. See docs/bench.md.
#
# Usage: bench/run.sh [--runs N] [--quick] [--json FILE] [--peers LIST] [--scenarios LIST]
#                     [--slipway-flags "FLAGS"] [--tmp DIR] [--install-peers] [-h]
# shellcheck disable=SC2317  # cleanup and the per-tool build functions are called indirectly
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    cat <<'EOF'
Usage: bench/run.sh [OPTIONS]

Build the same scenarios with slipway, Buildah and BuildKit and print median wall times and
ratios (peer / slipway; above 1 means slipway is faster).

Options:
  --runs N               measured runs per scenario and tool (default 5; --quick: 1)
  --quick                smoke test: 1 run, 500-file and 50 MiB contexts, slipway only unless
                         --peers is given
  --json FILE            also write the results as JSON to FILE
  --peers LIST           peers to measure: all, none, or a comma list of buildah,buildkit
                         (default: all that are installed; --quick: none)
  --scenarios LIST       a comma list of: cold-3step, noop-rebuild, one-file-change,
                         cold-copy-large, run-20 (default: all)
  --slipway-flags FLAGS  extra flags for every `slipway build` (word-split), e.g.
                         "--compression zstd"
  --tmp DIR              where the temporary directory goes (default $TMPDIR or /var/tmp)
  --install-peers        apt-get install docker.io and buildah first (root)
  -h, --help             this help

Environment: SLIPWAY (default build/release/builder/slipway, built when missing), DOCKER (the
docker 20.10 client, default /usr/bin/docker), BENCH_TIMEOUT (seconds per build, default 1800).
EOF
}

# ---- options ------------------------------------------------------------------------------------
runs=""
quick=0
json_out=""
peers=""
scenarios="cold-3step,noop-rebuild,one-file-change,cold-copy-large,run-20"
sw_flags=""
tmp_base=${TMPDIR:-/var/tmp}
install_peers=0
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --runs=*) runs=${1#*=}; shift ;;
        --quick) quick=1; shift ;;
        --json) json_out=${2:?--json needs a file}; shift 2 ;;
        --json=*) json_out=${1#*=}; shift ;;
        --peers) peers=${2:?--peers needs a list}; shift 2 ;;
        --peers=*) peers=${1#*=}; shift ;;
        --scenarios) scenarios=${2:?--scenarios needs a list}; shift 2 ;;
        --scenarios=*) scenarios=${1#*=}; shift ;;
        --slipway-flags) sw_flags=${2?--slipway-flags needs a value}; shift 2 ;;
        --slipway-flags=*) sw_flags=${1#*=}; shift ;;
        --tmp) tmp_base=${2:?--tmp needs a directory}; shift 2 ;;
        --tmp=*) tmp_base=${1#*=}; shift ;;
        --install-peers) install_peers=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "$runs" ]; then
    if [ $quick -eq 1 ]; then runs=1; else runs=5; fi
fi
case $runs in ''|*[!0-9]*|0) echo "run.sh: --runs needs a positive number" >&2; exit 2 ;; esac
if [ -z "$peers" ]; then
    if [ $quick -eq 1 ]; then peers=none; else peers=all; fi
fi
case $peers in
    all) peers=buildah,buildkit ;;
    none) peers="" ;;
esac
for p in ${peers//,/ }; do
    case $p in buildah|buildkit) ;; *) echo "run.sh: unknown peer '$p'" >&2; exit 2 ;; esac
done
for s in ${scenarios//,/ }; do
    case $s in
        cold-3step|noop-rebuild|one-file-change|cold-copy-large|run-20) ;;
        *) echo "run.sh: unknown scenario '$s'" >&2; exit 2 ;;
    esac
done
if [ $quick -eq 1 ]; then
    ctx_files=500; large_mib=50
else
    ctx_files=5000; large_mib=500
fi
timeout_s=${BENCH_TIMEOUT:-1800}
want_peer() { case ",$peers," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
want_scenario() { case ",$scenarios," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
log() { echo "bench: $*" >&2; }

if [ $install_peers -eq 1 ]; then
    if [ "$(id -u)" -ne 0 ]; then echo "run.sh: --install-peers needs root" >&2; exit 1; fi
    log "installing docker.io and buildah"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq docker.io buildah >/dev/null || exit 1
fi

# ---- slipway ------------------------------------------------------------------------------------
SW=${SLIPWAY:-$here/build/release/builder/slipway}
if [ ! -x "$SW" ]; then
    if [ -n "${SLIPWAY:-}" ]; then echo "run.sh: \$SLIPWAY ($SW) is not executable" >&2; exit 1; fi
    log "building slipway into build/release"
    (cd "$here" && cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build/release -j"$(nproc)" --target slipway >/dev/null) || exit 1
fi
read -r -a sw_extra <<<"$sw_flags"
if [ ! -x /bin/busybox ]; then
    echo "run.sh: /bin/busybox is missing; install busybox-static (the base image is made from it)" >&2
    exit 1
fi
GNU_TIME=/usr/bin/time
[ -x "$GNU_TIME" ] || GNU_TIME=""

# ---- the temporary directory and cleanup ----------------------------------------------------------
mkdir -p "$tmp_base" || exit 1
T=$(mktemp -d "$tmp_base/slipway-bench.XXXXXX") || exit 1
DOCKER=${DOCKER:-/usr/bin/docker}
[ -x "$DOCKER" ] || DOCKER=$(command -v docker 2>/dev/null || echo /usr/bin/docker)
export DOCKER_CONFIG=$T/docker-config   # never touch ~/.docker (buildah reads it too)
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
export DOCKER_BUILDKIT=1
dockerd_pid=""
BUILDAH=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$dockerd_pid" ]; then
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$dockerd_pid" 2>/dev/null
        wait "$dockerd_pid" 2>/dev/null
    fi
    if [ ${#BUILDAH[@]} -gt 0 ]; then
        "${BUILDAH[@]}" rm --all >/dev/null 2>&1
        "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1
    fi
    # whatever dockerd or containers/storage left mounted under T, deepest first
    awk -v t="$T" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# a private copy, so that a rebuild of build/release during the run does not mix two binaries
cp "$SW" "$T/slipway" && SW=$T/slipway || exit 1

RES=$T/results.tsv
: >"$RES"
failures=0

# ---- timing -------------------------------------------------------------------------------------
# The clock is bash's $EPOCHREALTIME (no process is started inside the measured window). The
# wrapper itself (timeout and GNU time starting, then starting the tool) costs a few milliseconds
# on a small VM, the same for every tool: `tare` measures it around /bin/true (median of 21) and
# every measurement has it subtracted, so that sub-10 ms tools are not measured mostly as
# process-creation overhead. The tare is printed and written to the JSON.
tare_s=0
# timed LOG CMD...: run CMD (output to LOG), set `secs` to its wall time minus the tare and `rss`
# to its peak RSS in KiB when GNU time is available; return CMD's status.
timed() {
    local logf=$1; shift
    local t0 t1 rc
    rss=""
    sync   # write back what the untimed setup left dirty, outside the measurement
    if [ -n "$GNU_TIME" ]; then
        t0=${EPOCHREALTIME/./}
        timeout "$timeout_s" "$GNU_TIME" -v -o "$T/time.txt" "$@" >>"$logf" 2>&1
        rc=$?
        t1=${EPOCHREALTIME/./}
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/time.txt" 2>/dev/null)
    else
        t0=${EPOCHREALTIME/./}
        timeout "$timeout_s" "$@" >>"$logf" 2>&1
        rc=$?
        t1=${EPOCHREALTIME/./}
    fi
    secs=$(awk -v a="$t0" -v b="$t1" -v t="$tare_s" 'BEGIN { s = (b - a) / 1e6 - t; if (s < 0) s = 0; printf "%.4f", s }')
    return $rc
}
# measure_tare: the median wall time of the wrapper around /bin/true
measure_tare() {
    local i all=""
    for i in $(seq 21); do
        timed /dev/null /bin/true
        all="$all $secs"
    done
    tare_s=$(echo "$all" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%.4f", v[int((NR + 1) / 2)] }')
    log "timing wrapper (timeout + GNU time around /bin/true): ${tare_s}s, subtracted from every run"
}
record() { printf 'run\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$RES"; }
status() { printf 'status\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }
scenario_row() { printf 'scen\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"; }
failed_build() {  # SCEN TOOL LOG
    log "$1 / $2: the build failed; last lines of $3:"
    tail -15 "$3" | sed 's/^/    /' >&2
    status "$1" "$2" failed "the build failed"
    failures=$((failures + 1))
}

# ---- contexts -----------------------------------------------------------------------------------
log "temporary directory $T"
log "making the busybox base image with slipway"
"$here/samples/busybox/make-context.sh" "$T/base-ctx" >/dev/null || exit 1
if ! "$SW" build --root "$T/base-root" --progress quiet -t slipway-samples/busybox:latest \
        -o "type=docker,dest=$T/base.tar" "$T/base-ctx" >"$T/base.log" 2>&1; then
    cat "$T/base.log" >&2
    echo "run.sh: slipway could not build the base image" >&2
    exit 1
fi
rm -rf "$T/base-root" "$T/base-ctx"

BASE=slipway-samples/busybox:latest
mkdir -p "$T/ctx"
# cold-3step and noop-rebuild: two small files, three steps after FROM
small=$T/ctx/small
mkdir -p "$small"
echo "first file of the 3-step build" >"$small/a.txt"
echo "second file of the 3-step build" >"$small/b.txt"
printf 'FROM %s\nCOPY a.txt /bench/a.txt\nENV BENCH_STEP=2\nCOPY b.txt /bench/b.txt\n' "$BASE" \
    >"$small/Dockerfile"

# run-20: twenty RUN true
runctx=$T/ctx/run20
mkdir -p "$runctx"
{ echo "FROM $BASE"; for _ in $(seq 20); do echo "RUN true"; done; } >"$runctx/Dockerfile"

if want_scenario one-file-change; then
    # ctx_files small files in nested dirs: dNN/sN/fN.txt, 100 per top-level dir
    many=$T/ctx/many
    log "generating the $ctx_files-file context"
    mkdir -p "$many"
    awk -v root="$many" -v n="$ctx_files" 'BEGIN {
        for (i = 0; i < n; i++) {
            d = sprintf("%s/d%03d/s%d", root, int(i / 100), int(i / 10) % 10)
            if (!(d in made)) { system("mkdir -p " d); made[d] = 1 }
            f = sprintf("%s/f%d.txt", d, i % 10)
            printf "file %d of the one-file-change context\n%s\n", i, \
                "the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnop" > f
            close(f)
        }
    }' || exit 1
    printf 'FROM %s\nCOPY . /ctx\n' "$BASE" >"$many/Dockerfile"
    changed=$many/d000/s0/f0.txt
fi

if want_scenario cold-copy-large; then
    # large_mib MiB of random data: 80% in 4 large files, 20% in 64 KiB files in 16 dirs
    large=$T/ctx/large
    log "generating the $large_mib MiB context"
    mkdir -p "$large/big"
    big_bytes=$((large_mib * 1024 * 1024 / 5))   # 4 files of a fifth each = 80%
    for i in 1 2 3 4; do
        head -c "$big_bytes" /dev/urandom >"$large/big/blob$i.bin" || exit 1
    done
    per_dir=$((large_mib * 1024 * 1024 / 5 / 16))
    for i in $(seq -w 0 15); do
        mkdir -p "$large/small/dir$i"
        head -c "$per_dir" /dev/urandom | split -b 65536 -a 3 -d - "$large/small/dir$i/part" || exit 1
    done
    printf 'FROM %s\nCOPY . /data\n' "$BASE" >"$large/Dockerfile"
    large_files=$(find "$large" -type f | wc -l)
fi

# ---- peers --------------------------------------------------------------------------------------
have_buildah=0
have_buildkit=0
buildah_runtime=()
buildah_note="not installed"
buildkit_note="not installed"
if ! want_peer buildah; then
    buildah_note="not requested"
elif [ "$(id -u)" -ne 0 ]; then
    buildah_note="needs root"
elif command -v buildah >/dev/null 2>&1; then
    # overlay as root on the host filesystem; vfs when overlay is not usable here
    for driver in overlay vfs; do
        BUILDAH=(buildah --root "$T/buildah/root" --runroot "$T/buildah/run" --storage-driver "$driver")
        if "${BUILDAH[@]}" pull docker-archive:"$T/base.tar" >"$T/buildah-pull.log" 2>&1 &&
            "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
            have_buildah=1
            buildah_driver=$driver
            break
        fi
        "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1
        awk -v t="$T/buildah" 'index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo |
            sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$T/buildah"
        BUILDAH=()
    done
    # runc when installed: buildah 1.28 defaults to crun, which refuses a cgroup v1 host that
    # also mounts a cgroup2 hierarchy with controllers ("cgroups in hybrid mode not supported")
    buildah_runtime=()
    if command -v runc >/dev/null 2>&1; then buildah_runtime=(--runtime "$(command -v runc)"); fi
    if [ $have_buildah -eq 1 ]; then
        log "buildah $(buildah --version | awk '{ print $3 }'), storage driver $buildah_driver, runtime ${buildah_runtime[1]:-default}"
    else
        buildah_note="could not load the base image"
        log "buildah: could not load the base image:"
        tail -5 "$T/buildah-pull.log" | sed 's/^/    /' >&2
    fi
fi

if ! want_peer buildkit; then
    buildkit_note="not requested"
elif [ "$(id -u)" -ne 0 ]; then
    buildkit_note="needs root"
elif command -v dockerd >/dev/null 2>&1 && [ -x "$DOCKER" ]; then
    D=$T/docker
    mkdir -p "$D"
    export DOCKER_HOST=unix://$D/docker.sock
    dockerd --host "$DOCKER_HOST" --data-root "$D/data" --exec-root "$D/exec" \
        --pidfile "$D/docker.pid" --bridge=none --iptables=false --ip6tables=false \
        >"$D/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 150); do "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.2; done
    if ! "$DOCKER" version >/dev/null 2>&1; then
        buildkit_note="dockerd did not start"
        log "the private dockerd did not start:"
        tail -10 "$D/dockerd.log" | sed 's/^/    /' >&2
    elif ! "$DOCKER" load -i "$T/base.tar" >"$D/load.log" 2>&1; then
        buildkit_note="docker load of the base image failed"
        tail -5 "$D/load.log" | sed 's/^/    /' >&2
    else
        have_buildkit=1
        log "BuildKit: dockerd $("$DOCKER" version -f '{{.Server.Version}}' 2>/dev/null), storage driver $("$DOCKER" info -f '{{.Driver}}' 2>/dev/null)"
    fi
fi

# ---- the builds, one function per tool -----------------------------------------------------------
# sw_build ROOT CTX TAG: one slipway build into the store at ROOT (timed)
sw_build() {
    timed "$LOGF" "$SW" build --root "$1" --progress plain "${sw_extra[@]}" -t "$3" "$2"
}
# sw_fresh_root ROOT: an empty store holding the base image (not timed)
sw_fresh_root() {
    rm -rf "$1"
    "$SW" load --root "$1" -i "$T/base.tar" >>"$LOGF" 2>&1
}
buildah_build() {  # CTX TAG [FLAGS...]
    local ctx=$1 tag=$2; shift 2
    timed "$LOGF" "${BUILDAH[@]}" bud --pull=never --layers --network host "${buildah_runtime[@]}" \
        "$@" -t "$tag" "$ctx"
}
buildkit_build() {  # CTX TAG [FLAGS...]
    local ctx=$1 tag=$2; shift 2
    timed "$LOGF" "$DOCKER" build --network host --progress plain "$@" -t "$tag" "$ctx"
}
# BuildKit keeps the transferred context and step results in its build cache even with
# --no-cache; cold runs start with an empty build cache (the base image stays in the image store)
buildkit_prune() { "$DOCKER" builder prune -af >>"$LOGF" 2>&1; }

say_run() { log "$1 / $2: run $3/$runs: ${secs}s${rss:+, peak RSS ${rss} KiB}"; }

# measure SCEN TOOL MODE CTX: MODE is cold (no cache, base present), warm (a warm-up build first,
# then the same build again) or change (a warm-up build first, then change one file before each run)
measure() {
    local scen=$1 tool=$2 mode=$3 ctx=$4 tag="bench/$1:latest" i
    LOGF=$T/logs/$scen-$tool.log
    mkdir -p "$T/logs"
    case $tool in
        slipway)
            local root=$T/sw-$scen
            if [ "$mode" != cold ]; then   # the warm-up build, not recorded
                if ! sw_fresh_root "$root" || ! sw_build "$root" "$ctx" "$tag"; then
                    failed_build "$scen" "$tool" "$LOGF"
                    return
                fi
            fi
            for i in $(seq "$runs"); do
                if [ "$mode" = cold ]; then
                    sw_fresh_root "$root" || { failed_build "$scen" "$tool" "$LOGF"; return; }
                fi
                [ "$mode" = change ] && echo "changed: $tool run $i $(date +%s%N)" >"$changed"
                if ! sw_build "$root" "$ctx" "$tag"; then
                    failed_build "$scen" "$tool" "$LOGF"
                    rm -rf "$root"
                    return
                fi
                say_run "$scen" "$tool" "$i"
                record "$scen" "$tool" "$secs" "$rss"
            done
            rm -rf "$root"
            ;;
        buildah|buildkit)
            local fn=${tool}_build flags=()
            if [ "$mode" = cold ]; then
                flags=(--no-cache)
            else
                $fn "$ctx" "$tag" || { failed_build "$scen" "$tool" "$LOGF"; return; }
            fi
            for i in $(seq "$runs"); do
                [ "$mode" = cold ] && [ "$tool" = buildkit ] && buildkit_prune
                [ "$mode" = change ] && echo "changed: $tool run $i $(date +%s%N)" >"$changed"
                $fn "$ctx" "$tag" "${flags[@]}" || { failed_build "$scen" "$tool" "$LOGF"; return; }
                rss=""
                say_run "$scen" "$tool" "$i"
                record "$scen" "$tool" "$secs" ""
            done
            ;;
    esac
}

run_scenario() {  # SCEN LABEL DESCRIPTION MODE CTX
    local scen=$1 label=$2 desc=$3 mode=$4 ctx=$5
    want_scenario "$scen" || return 0
    scenario_row "$scen" "$label" "$desc"
    measure "$scen" slipway "$mode" "$ctx"
    if [ $have_buildah -eq 1 ]; then measure "$scen" buildah "$mode" "$ctx";
    else status "$scen" buildah n/a "$buildah_note"; fi
    if [ $have_buildkit -eq 1 ]; then measure "$scen" buildkit "$mode" "$ctx";
    else status "$scen" buildkit n/a "$buildkit_note"; fi
}

measure_tare
run_scenario cold-3step "cold 3-step build" \
    "FROM the busybox base; COPY a small file; ENV; COPY another file; no build cache" cold "$small"
run_scenario noop-rebuild "no-op rebuild" \
    "the cold-3step build again with nothing changed, after a warm-up build" warm "$small"
if want_scenario one-file-change; then
    run_scenario one-file-change "one file of $ctx_files changed" \
        "COPY . /ctx of $ctx_files small files in nested dirs; one file's content changes before each run" \
        change "$many"
fi
if want_scenario cold-copy-large; then
    run_scenario cold-copy-large "cold COPY of $large_mib MiB" \
        "COPY . /data of $large_mib MiB of random data ($large_files files: 4 large, the rest 64 KiB); no build cache" \
        cold "$large"
fi
run_scenario run-20 "20 RUN steps" "FROM the busybox base, then RUN true 20 times; no build cache" \
    cold "$runctx"

# ---- report -------------------------------------------------------------------------------------
v_sw=$("$SW" --version 2>/dev/null | head -1)
v_buildah=""; [ $have_buildah -eq 1 ] &&
    v_buildah="buildah $(buildah --version | awk '{ print $3 }') ($buildah_driver, ${buildah_runtime[1]:-default runtime})"
v_buildkit=""; [ $have_buildkit -eq 1 ] &&
    v_buildkit="dockerd $("$DOCKER" version -f '{{.Server.Version}}' 2>/dev/null) embedded BuildKit"

awk -F'\t' -v runs="$runs" -v quick="$quick" -v json="$json_out" -v v_sw="$v_sw" -v tare="$tare_s" \
    -v v_buildah="$v_buildah" -v v_buildkit="$v_buildkit" -v cpus="$(nproc)" \
    -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
function median(s, k,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n == 0) return ""
    return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
function maxv(s,   a, n, i, m) {
    n = split(s, a, " "); m = ""
    for (i = 1; i <= n; i++) if (a[i] != "" && (m == "" || a[i] + 0 > m)) m = a[i] + 0
    return m
}
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
function cell(sc, t) {
    if ((sc, t) in med) return sprintf("%.3f s", med[sc, t])
    return st[sc, t] == "" ? "n/a" : st[sc, t]
}
function ratio(sc, t) {
    if (((sc, t) in med) && ((sc, "slipway") in med) && med[sc, "slipway"] > 0)
        return med[sc, t] / med[sc, "slipway"]
    return ""
}
$1 == "scen" { order[++ns] = $2; label[$2] = $3; desc[$2] = $4 }
$1 == "run" { times[$2, $3] = times[$2, $3] " " $4; if ($5 != "") rsss[$2, $3] = rsss[$2, $3] " " $5 }
$1 == "status" { st[$2, $3] = $4; note[$2, $3] = $5 }
END {
    split("slipway buildah buildkit", tools, " ")
    for (i = 1; i <= ns; i++) for (k = 1; k <= 3; k++) {
        sc = order[i]; t = tools[k]
        if ((sc, t) in times) { med[sc, t] = median(times[sc, t]); st[sc, t] = "ok" }
    }
    fmt = "%-30s %-28s %-12s %-12s %-16s %-16s %s\n"
    printf "\n" fmt, "scenario", "slipway", "buildah", "BuildKit", "buildah/slipway", "BuildKit/slipway", "slipway peak RSS"
    for (i = 1; i <= ns; i++) {
        sc = order[i]; rb = ratio(sc, "buildah"); rk = ratio(sc, "buildkit")
        r = maxv(rsss[sc, "slipway"])
        printf fmt, label[sc], cell(sc, "slipway"), cell(sc, "buildah"), cell(sc, "buildkit"),
            rb == "" ? "n/a" : sprintf("%.2fx", rb), rk == "" ? "n/a" : sprintf("%.2fx", rk),
            r == "" ? "" : sprintf("%.1f MiB", r / 1024)
    }
    printf "\nmedian of %d run(s) each; ratio = peer median / slipway median (above 1: slipway is faster)\n", runs
    printf "times exclude the timing wrapper (timeout + GNU time around /bin/true): %s s, measured and subtracted from every run\n", tare
    printf "slipway: %s; buildah: %s; BuildKit: %s\n", v_sw, v_buildah == "" ? "n/a" : v_buildah, v_buildkit == "" ? "n/a" : v_buildkit
    for (i = 1; i <= ns; i++) for (k = 2; k <= 3; k++) {
        sc = order[i]; t = tools[k]
        if (st[sc, t] != "ok" && note[sc, t] != "") { seen[t ": " note[sc, t]]++ }
    }
    for (m in seen) printf "n/a: %s\n", m
    if (json == "") exit
    o = "{\n  \"date\": " jstr(date) ",\n  \"runs\": " runs ",\n  \"quick\": " (quick ? "true" : "false") ",\n  \"cpus\": " cpus ","
    o = o "\n  \"versions\": {\"slipway\": " jstr(v_sw) ", \"buildah\": " (v_buildah == "" ? "null" : jstr(v_buildah)) ", \"buildkit\": " (v_buildkit == "" ? "null" : jstr(v_buildkit)) "},"
    o = o "\n  \"tare_s\": " tare ","
    o = o "\n  \"scenarios\": ["
    for (i = 1; i <= ns; i++) {
        sc = order[i]
        o = o (i > 1 ? "," : "") "\n    {\"name\": " jstr(sc) ", \"label\": " jstr(label[sc]) ", \"description\": " jstr(desc[sc]) ","
        for (k = 1; k <= 3; k++) {
            t = tools[k]; s = st[sc, t] == "" ? "n/a" : st[sc, t]
            o = o "\n     " jstr(t) ": {\"status\": " jstr(s)
            if (note[sc, t] != "") o = o ", \"note\": " jstr(note[sc, t])
            if ((sc, t) in med) {
                n = split(times[sc, t], a, " "); l = ""
                for (j = 1; j <= n; j++) l = l (j > 1 ? ", " : "") a[j]
                o = o sprintf(", \"median_s\": %.4f, \"runs_s\": [%s]", med[sc, t], l)
                r = maxv(rsss[sc, t]); if (r != "") o = o ", \"peak_rss_kib\": " r
            }
            o = o "},"
        }
        rb = ratio(sc, "buildah"); rk = ratio(sc, "buildkit")
        o = o "\n     \"ratio_buildah_slipway\": " (rb == "" ? "null" : sprintf("%.3f", rb))
        o = o ", \"ratio_buildkit_slipway\": " (rk == "" ? "null" : sprintf("%.3f", rk)) "}"
    }
    o = o "\n  ]\n}\n"
    printf "%s", o > json
}' "$RES"

if [ -n "$json_out" ]; then log "JSON written to $json_out"; fi
if [ $failures -gt 0 ]; then
    log "$failures build(s) failed"
    exit 1
fi
exit 0
