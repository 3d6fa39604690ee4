#!/usr/bin/env bash
# A build killed mid-RUN by SIGINT, SIGTERM or SIGKILL leaves no mount, no process and no
# half-written blob; SIGINT and SIGTERM clean up and exit 130/143 with a message; after SIGKILL,
# `slipway prune` removes the leftovers. Usage: test_kill.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require pgrep procps
require env coreutils
if [ "$(id -u)" != 0 ]; then
    echo "FAIL: test_kill.sh runs RUN steps and needs root" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

T=$(mktemp -d /tmp/sw-kill-XXXXXX)
ROOT=$T/store
bg_pid=
cleanup() {
    [ -n "$bg_pid" ] && kill -KILL "$bg_pid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"
mkdir -p "$T/ctx"

# wait_for SECONDS COMMAND...: poll (every 0.1 s) until the command succeeds
wait_for() {
    local n=$(($1 * 10)); shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
# the pids whose command line matches the regex (pgrep never lists itself)
pids_matching() { pgrep -f -- "$1" | tr '\n' ' '; }
has_match() { [ -n "$(pids_matching "$1")" ]; }
# processes in pid namespace $1 (e.g. "pid:[4026532001]")
procs_in_pidns() {
    local p n=0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$1" ] && n=$((n + 1))
    done
    echo "$n"
}
# mount tables (of any process, so of any mount namespace) that name the test directory
mount_tables_naming_t() {
    local p n=0
    for p in /proc/[0-9]*; do
        grep -qF -- "$T/" "$p/mountinfo" 2>/dev/null && n=$((n + 1))
    done
    echo "$n"
}
no_procs_in_pidns() { [ "$(procs_in_pidns "$1")" = 0 ]; }
no_mount_tables_naming_t() { [ "$(mount_tables_naming_t)" = 0 ]; }
has_sleep_child() { pgrep -P "$1" -x sleep >/dev/null; }
leftovers() {
    (cd "$ROOT" && ls -d tmp/build-* snapshots/*/snap-* snapshots/*/.tmp-* 2>/dev/null) | tr '\n' ' '
}

committed_snapshots() {
    find "$ROOT/snapshots/overlay" -mindepth 1 -maxdepth 1 -regextype egrep -regex '.*/[0-9a-f]{64}' \
        -printf '%f\n' | sort | tr '\n' ' '
}

kill_case() {
    local sig=$1 want_rc=$2
    local marker="MARKER-$sig-$$-$RANDOM"
    # a regex for the marker that does not match a command line holding the regex itself
    local re="MARKE[R]-${marker#MARKER-}"
    local df=$T/ctx/Dockerfile.$sig log=$T/build-$sig.log
    # "; true": busybox sh would exec a last `sleep` in place of itself, losing the marker
    printf 'FROM slipway-samples/busybox:latest\nRUN dd if=/dev/zero of=/big bs=1M count=50 && sleep 300; true # %s\n' \
        "$marker" > "$df"
    # background jobs of a script ignore SIGINT; the build gets the default disposition, like a
    # command run from an interactive shell
    env --default-signal=INT,TERM "$SW" build --root "$ROOT" --progress plain -f "$df" "$T/ctx" \
        >"$log" 2>&1 &
    bg_pid=$!
    local pid=$bg_pid
    if ! wait_for 60 has_match "$re"; then
        fail "$sig: the RUN step did not start within 60 s"
        sed 's/^/    /' "$log" >&2
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        bg_pid=
        return
    fi
    pass
    local sh_pid
    sh_pid=$(pids_matching "$re" | awk '{print $1}')
    # kill it once the big file is written and the step sleeps
    check "$sig: the RUN step wrote its file and sleeps" wait_for 60 has_sleep_child "$sh_pid"
    local pidns
    pidns=$(readlink "/proc/$sh_pid/ns/pid")
    check_match "$sig: the step has its own pid namespace" "$pidns" '^pid:\['
    check_eq "$sig: the step's overlay is mounted in the builder's mount namespace" \
        "$(grep -F -- "$ROOT/snapshots/" "/proc/$pid/mountinfo" | grep -c ' - overlay ')" "1"
    check_eq "$sig: the overlay is not in the host's mount table" \
        "$(grep -cF -- "$T/" /proc/self/mountinfo)" "0"
    if [ "$sig" = INT ]; then
        local out
        out=$("$SW" prune --root "$ROOT" 2>&1)
        check_match "prune refuses while a build runs" "$out" 'in use by a running build'
        check_eq "prune keeps the live build's work dir" "$(find "$ROOT/tmp" -maxdepth 1 -name 'build-*' | wc -l)" "1"
    fi

    local t0=$SECONDS
    kill -"$sig" "$pid"
    # a watchdog ends a build that does not exit within 30 s
    local done_flag=$T/waited-$sig
    (
        for _ in $(seq 300); do [ -e "$done_flag" ] && exit 0; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null && echo "FAIL: $sig: slipway did not exit within 30 s" >&2
    ) &
    local watchdog=$!
    { wait "$pid"; } 2>/dev/null # no "Killed" line from bash
    local rc=$?
    local took=$((SECONDS - t0))
    touch "$done_flag"
    wait "$watchdog"
    bg_pid=

    check_eq "$sig: exit status" "$rc" "$want_rc"
    if [ "$sig" != KILL ]; then
        check "$sig: slipway exits promptly (took ${took}s)" test "$took" -lt 10
        check_match "$sig: the message names the signal" "$(cat "$log")" \
            "^slipway: build interrupted \(SIG$sig\)"
    fi
    # (a) no process of the step remains: not the marked shell, nothing in its pid namespace
    check "$sig: no process of the step remains" wait_for 10 no_procs_in_pidns "$pidns"
    check_eq "$sig: no process with the marker" "$(pids_matching "$re")" ""
    # (b) no mount: in the host's table, nor in any process's (no mount namespace survives)
    check "$sig: no mount table names the store" wait_for 10 no_mount_tables_naming_t
    check_eq "$sig: /proc/mounts names nothing of the store" "$(grep -cF -- "$T/" /proc/mounts)" "0"
    # (c) no half-written blob: every blob hashes to its name and index.json is intact
    check "$sig: the store verifies" "$SW" verify --root "$ROOT"
    # (d) the work dir and the step's snapshot directory
    if [ "$sig" != KILL ]; then
        check_eq "$sig: no work dir or snapshot in progress is left" "$(leftovers)" ""
    else
        check_match "SIGKILL leaves the work dir and the step's snapshot directory" "$(leftovers)" \
            'snapshots/overlay/snap-.* tmp/build-'
        local committed
        committed=$(committed_snapshots)
        check_match "the base layer's snapshot is committed" "$committed" '^[0-9a-f]{64} '
        check "prune after SIGKILL" "$SW" prune --root "$ROOT"
        check_eq "prune removes the killed build's leftovers" "$(leftovers)" ""
        check_eq "prune keeps the committed snapshots" "$(committed_snapshots)" "$committed"
        check "the store verifies after prune" "$SW" verify --root "$ROOT"
        check "the base image survives prune" "$SW" inspect --root "$ROOT" slipway-samples/busybox:latest
    fi
}

kill_case INT 130
kill_case TERM 143
kill_case KILL 137

# the store still builds after all that
printf 'FROM slipway-samples/busybox:latest\nRUN echo ok > /ok\n' > "$T/ctx/Dockerfile.ok"
check "a build after the killed ones" "$SW" build --root "$ROOT" -q -f "$T/ctx/Dockerfile.ok" "$T/ctx"
check_eq "no leftovers after a good build" "$(leftovers)" ""
finish
