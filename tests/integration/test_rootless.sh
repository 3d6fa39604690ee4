#!/usr/bin/env bash
# RUN without root (docs/executor.md, "Rootless"): `slipway build` run by an unprivileged user
# goes on as root of its own user namespace. Two users, created here (idempotently):
# slipway-rl-sub has ranges in /etc/subuid and /etc/subgid (newuidmap, newgidmap: ids 0..65536),
# slipway-rl-single has none (a single-id map: only 0). Each builds the busybox base and RUN steps
# on it in a store it owns: files, whiteouts, opaque directories (committed and extracted), owners,
# USER, the default store, the copy snapshotter, --executor oci, builds killed mid-RUN and prune
# after SIGKILL. Needs root (to create the users and switch to
# them); it fails, never skips, when it cannot run. Usage: test_rootless.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require setpriv util-linux
require useradd passwd
require newuidmap uidmap
require newgidmap uidmap
require pgrep procps
require python3 python3
require umoci umoci
require runc runc
if [ "$(id -u)" != 0 ]; then
    echo "FAIL: test_rootless.sh creates users and switches to them: it needs root" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" = 0 ] ||
    [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 0 ]; then
    echo "FAIL: unprivileged user namespaces are disabled on this machine: rootless RUN cannot work" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

SUB=slipway-rl-sub
SINGLE=slipway-rl-single
SUB_RANGE=3000000:65536

# The users: system accounts without a home; only $SUB has subordinate ids.
for u in "$SUB" "$SINGLE"; do
    if ! id -u "$u" >/dev/null 2>&1 &&
        ! useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"; then
        echo "FAIL: cannot create the user $u" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done
for f in /etc/subuid /etc/subgid; do
    touch "$f"
    want=$( (grep -v -E "^($SUB|$SINGLE):" "$f"; echo "$SUB:$SUB_RANGE") )
    [ "$(cat "$f")" = "$want" ] || printf '%s\n' "$want" > "$f"
done

T=$(mktemp -d /tmp/sw-rootless-XXXXXX)
chmod 755 "$T"
bg_pid=
cleanup() {
    [ -n "$bg_pid" ] && kill -KILL "$bg_pid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

# Everything the users run must be readable by them, wherever the build tree is.
install -m 0755 "$SW" "$T/slipway"
mkdir -p "$T/samples/busybox"
install -m 0755 "$SRC/samples/busybox/make-context.sh" "$T/samples/busybox/"
install -m 0644 "$SRC/samples/busybox/Dockerfile" "$T/samples/busybox/"

# as USER COMMAND...: run as the user, with its own HOME (so its default store) and no other.
# as_argv USER sets AS to the same prefix, for a background job: setpriv and env exec, so $! is
# the command itself (a function in the background would be a subshell)
as_argv() {
    AS=(setpriv --reuid "$1" --regid "$(id -g "$1")" --init-groups
        env -u SLIPWAY_ROOT -u XDG_DATA_HOME HOME="$T/$1/home")
}
as() {
    local AS
    as_argv "$1"
    shift
    "${AS[@]}" "$@"
}
# Processes of this test (other runs may use the same users meanwhile): slipway and the
# executor's init (a fork of it) have $T/slipway as their executable; a step's processes live in
# its pid namespace.
slipway_procs() {
    local p n=0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$T/slipway" ] && n=$((n + 1))
    done
    echo "$n"
}
no_slipway_procs() { [ "$(slipway_procs)" = 0 ]; }
procs_in_pidns() {
    local p n=0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$1" ] && n=$((n + 1))
    done
    echo "$n"
}
no_procs_in_pidns() { [ "$(procs_in_pidns "$1")" = 0 ]; }
mount_tables_naming_t() {
    local p n=0
    for p in /proc/[0-9]*; do
        grep -qF -- "$T/" "$p/mountinfo" 2>/dev/null && n=$((n + 1))
    done
    echo "$n"
}
no_mount_tables_naming_t() { [ "$(mount_tables_naming_t)" = 0 ]; }
wait_for() {
    local n=$(($1 * 10)); shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
# layers DIR: every layer's entries of the OCI layout DIR, one "LAYER NAME UID:GID" a line
layers() {
    python3 - "$1" <<'PYEOF'
import json, os, sys, tarfile
d = sys.argv[1]
def blob(dg):
    a, h = dg.split(':')
    return os.path.join(d, 'blobs', a, h)
m = json.load(open(blob(json.load(open(os.path.join(d, 'index.json')))['manifests'][0]['digest'])))
if 'manifests' in m:
    m = json.load(open(blob(m['manifests'][0]['digest'])))
for i, l in enumerate(m['layers']):
    with tarfile.open(blob(l['digest'])) as t:
        for e in t.getmembers():
            print(i, e.name, '%d:%d' % (e.uid, e.gid))
PYEOF
}

mkdir -p "$T/ctx"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest
RUN mkdir -p /opq/sub && echo a > /opq/a && echo b > /opq/sub/b && echo gone > /gone && echo keep > /keep
RUN rm /gone && rm -rf /opq && mkdir /opq && echo new > /opq/new && echo made > /made && id -u > /uid.txt && id -u
RUN test ! -e /gone && test "$(ls /opq)" = new && test ! -e /opq/sub && cat /keep
DF
cat > "$T/ctx/Dockerfile.chown" <<'DF'
FROM slipway-samples/busybox:latest
RUN touch /f && chown 1000:1000 /f
DF
cat > "$T/ctx/Dockerfile.user" <<'DF'
FROM slipway-samples/busybox:latest
USER app
RUN id -u > /tmp/uid.txt && echo "uid $(id -u)"
DF
chmod -R a+rX "$T/ctx"

rootless_case() {
    local u=$1 kind=$2
    local H=$T/$u ROOT=$T/$u/store out rc
    mkdir -p "$H/home"
    chown -R "$u:" "$H"
    check "$u: busybox context" as "$u" "$T/samples/busybox/make-context.sh" "$H/bb"
    check "$u: busybox base (no RUN)" as "$u" "$T/slipway" build --root "$ROOT" -q \
        -t slipway-samples/busybox:latest "$H/bb"

    # RUN steps: files, a deletion (whiteout), a replaced directory (opaque), uid 0
    out=$(as "$u" "$T/slipway" build --root "$ROOT" --progress plain -t rl:test \
        -o "type=oci,dest=$H/oci" "$T/ctx" 2>&1)
    rc=$?
    check_eq "$u: the RUN build succeeds" "$rc" "0"
    [ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/    /' >&2
    check_match "$u: RUN id -u prints 0" "$out" '#[0-9]+ [0-9.]+ 0$'
    check_match "$u: a RUN sees its parent's changes through the overlay" "$out" '#[0-9]+ [0-9.]+ keep$'
    local l
    l=$(layers "$H/oci")
    check_match "$u: a file deleted from a lower layer is a whiteout" "$l" '^3 \.wh\.gone 0:0$'
    check_match "$u: a replaced directory is opaque" "$l" '^3 opq/\.wh\.\.wh\.\.opq 0:0$'
    check_match "$u: files created by RUN are in the layer, owned by 0" "$l" '^3 made 0:0$'
    check_match "$u: new files of a replaced directory" "$l" '^3 opq/new 0:0$'
    check "$u: umoci unpacks the image" umoci unpack --image "$H/oci:test" "$H/bundle"
    local R=$H/bundle/rootfs
    check_eq "$u: RUN ran as uid 0" "$(cat "$R/uid.txt" 2>&1)" "0"
    check_eq "$u: the deleted file is gone" "$(test -e "$R/gone" && echo present || echo gone)" "gone"
    check_eq "$u: the opaque directory holds only the new entries" "$(ls "$R/opq" 2>&1)" "new"
    check_eq "$u: a file of a lower layer stays" "$(cat "$R/keep" 2>&1)" "keep"
    check_eq "$u: snapshots in the rootless format only" "$(ls "$ROOT/snapshots")" "overlay-user"

    # the same layers extracted from a layout into a new store (xattr whiteouts, user.overlay
    # opaque): overlayfs and the solver's views must honour them
    mkdir -p "$H/ctx-layout"
    printf 'FROM oci-layout://%s:test\nRUN test ! -e /gone && test "$(ls /opq)" = new && echo extracted-ok\nWORKDIR /gone\n' \
        "$H/oci" > "$H/ctx-layout/Dockerfile"
    chown -R "$u:" "$H/ctx-layout"
    out=$(as "$u" "$T/slipway" build --root "$H/store-layout" --progress plain "$H/ctx-layout" 2>&1)
    rc=$?
    check_eq "$u: a build over extracted rootless snapshots" "$rc" "0"
    [ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/    /' >&2
    check_match "$u: RUN sees the extracted whiteout and opaque directory" "$out" 'extracted-ok$'

    check_eq "$u: the store belongs to the user" "$(stat -c %U "$ROOT/index.json")" "$u"
    check_eq "$u: no mount left behind" "$(grep -cF -- "$T/" /proc/mounts)" "0"
    check "$u: no slipway process remains" wait_for 10 no_slipway_procs

    # owners: with subordinate ids any id in the range; with a single-id map only 0
    out=$(as "$u" "$T/slipway" build --root "$ROOT" --progress plain -o "type=oci,dest=$H/oci-chown" \
        -f "$T/ctx/Dockerfile.chown" "$T/ctx" 2>&1)
    rc=$?
    if [ "$kind" = sub ]; then
        check_eq "$u: RUN chown 1000:1000 succeeds" "$rc" "0"
        check_match "$u: the chowned file is 1000:1000 in the layer" "$(layers "$H/oci-chown")" '^2 f 1000:1000$'
    else
        check_eq "$u: RUN chown 1000:1000 fails" "$rc" "1"
        check_match "$u: chown says why" "$out" 'chown: /f: Invalid argument'
        check_match "$u: the error names the RUN's line" "$out" \
            'Dockerfile\.chown:2:1: error: process "/bin/sh -c touch /f && chown 1000:1000 /f" did not complete successfully: exit code: 1'
    fi
    out=$(as "$u" "$T/slipway" build --root "$ROOT" --progress plain -f "$T/ctx/Dockerfile.user" \
        "$T/ctx" 2>&1)
    rc=$?
    if [ "$kind" = sub ]; then
        check_eq "$u: RUN as USER app succeeds" "$rc" "0"
        check_match "$u: USER app runs as 1000" "$out" 'uid 1000'
    else
        check_eq "$u: RUN as USER app fails" "$rc" "1"
        check_match "$u: USER app: the uid is not mapped, at the RUN's line" "$out" \
            'Dockerfile\.user:3:1: error: setgid 1000: Invalid argument \(not mapped in the user namespace'
    fi

    # the OCI-runtime executor (runc) runs in the build's user namespace too
    out=$(as "$u" "$T/slipway" build --root "$ROOT" --progress plain --no-cache --executor oci \
        --runtime runc "$T/ctx" 2>&1)
    rc=$?
    check_eq "$u: --executor oci builds" "$rc" "0"
    [ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/    /' >&2
    check_match "$u: --executor oci: RUN id -u prints 0" "$out" '#[0-9]+ [0-9.]+ 0$'

    # the default store: the user's, under HOME, though the build runs as root of its namespace
    local def=$H/home/.local/share/slipway
    check "$u: the base into the default store" as "$u" "$T/slipway" build -q \
        -t slipway-samples/busybox:latest "$H/bb"
    check "$u: RUN into the default store" as "$u" "$T/slipway" build -q "$T/ctx"
    check "$u: the default store is under HOME" test -f "$def/index.json"
    check "$u: its snapshots are rootless" test -d "$def/snapshots/overlay-user"

    # the copy snapshotter gives the same image as overlayfs
    local d1 d2
    for s in overlay copy; do
        as "$u" env SLIPWAY_SNAPSHOTTER=$s SOURCE_DATE_EPOCH=1700000000 "$T/slipway" build \
            --root "$H/store-$s" -q -t slipway-samples/busybox:latest "$H/bb" >/dev/null 2>&1
        as "$u" env SLIPWAY_SNAPSHOTTER=$s SOURCE_DATE_EPOCH=1700000000 "$T/slipway" build \
            --root "$H/store-$s" -q --metadata-file "$H/m-$s.json" "$T/ctx" >"$H/log-$s" 2>&1 ||
            sed 's/^/    /' "$H/log-$s" >&2
    done
    d1=$(json "$H/m-overlay.json" "j['containerimage.digest']" 2>&1)
    d2=$(json "$H/m-copy.json" "j['containerimage.digest']" 2>&1)
    check_match "$u: the copy snapshotter builds" "$d2" '^sha256:'
    check_eq "$u: the copy snapshotter gives the overlay's image" "$d2" "$d1"

    # killed mid-RUN: SIGINT cleans up; after SIGKILL too, no process of the build remains
    local sig want marker re sh_pid sleep_pid pidns
    for sig in INT KILL; do
        want=$([ $sig = INT ] && echo 130 || echo 137)
        marker="MARKER-$sig-$$-$RANDOM"
        re="MARKE[R]-${marker#MARKER-}" # matches the step's command line, not pgrep's own
        # "; true": busybox sh would exec a last `sleep` in place of itself, losing the marker;
        # /x belongs to 1000 (with subordinate ids): host ids the user cannot remove from outside
        printf 'FROM slipway-samples/busybox:latest\nRUN mkdir -p /x/y && touch /x/y/z && { chown -R 1000:1000 /x 2>/dev/null; sleep 300; true; } # %s\n' \
            "$marker" > "$H/Dockerfile.kill"
        as_argv "$u"
        "${AS[@]}" env --default-signal=INT,TERM "$T/slipway" build --root "$ROOT" --progress plain \
            -f "$H/Dockerfile.kill" "$T/ctx" >"$H/kill-$sig.log" 2>&1 &
        bg_pid=$!
        sh_pid=
        wait_for 60 pgrep -u "$u" -f -- "$re" >/dev/null && sh_pid=$(pgrep -u "$u" -f -- "$re" | head -1)
        sleep_pid=
        [ -n "$sh_pid" ] && wait_for 30 pgrep -P "$sh_pid" -x sleep >/dev/null &&
            sleep_pid=$(pgrep -P "$sh_pid" -x sleep | head -1)
        if [ -z "$sleep_pid" ]; then
            fail "$u: SIG$sig: the RUN step did not start within 60 s"
            sed 's/^/    /' "$H/kill-$sig.log" >&2
            kill -KILL "$bg_pid" 2>/dev/null
            wait "$bg_pid" 2>/dev/null
            bg_pid=
            continue
        fi
        pass
        pidns=$(readlink "/proc/$sleep_pid/ns/pid")
        check_eq "$u: SIG$sig: the build is the process that was started" \
            "$(readlink "/proc/$bg_pid/exe")" "$T/slipway"
        check_match "$u: SIG$sig: it runs as 0 of its own user namespace" \
            "$(head -1 "/proc/$bg_pid/uid_map" | tr -s ' ')" "^ ?0 $(id -u "$u") 1$"
        check_eq "$u: SIG$sig: the step runs as the user on the host" \
            "$(stat -c %U "/proc/$sleep_pid")" "$u"
        kill -"$sig" "$bg_pid"
        { wait "$bg_pid"; } 2>/dev/null
        rc=$?
        bg_pid=
        check_eq "$u: SIG$sig: exit status" "$rc" "$want"
        if [ $sig = INT ]; then
            check_match "$u: SIGINT: the message names the signal" "$(cat "$H/kill-$sig.log")" \
                '^slipway: build interrupted \(SIGINT\)'
            check_eq "$u: SIGINT: no work dir or snapshot in progress is left" \
                "$(cd "$ROOT" && ls -d tmp/build-* snapshots/*/snap-* snapshots/*/.tmp-* 2>/dev/null)" ""
        fi
        check "$u: SIG$sig: no process of the step remains" wait_for 10 no_procs_in_pidns "$pidns"
        check_eq "$u: SIG$sig: no process with the marker" "$(pgrep -f -- "$re")" ""
        check "$u: SIG$sig: no slipway process remains" wait_for 10 no_slipway_procs
        check "$u: SIG$sig: no mount table names the test directory" wait_for 10 no_mount_tables_naming_t
        if [ $sig = KILL ]; then
            check_match "$u: SIGKILL leaves the work dir and the step's snapshot directory" \
                "$(cd "$ROOT" && ls -d tmp/build-* snapshots/*/snap-* 2>/dev/null | tr '\n' ' ')" \
                'snapshots/overlay-user/snap-.* tmp/build-'
            check "$u: prune after SIGKILL (in the user namespace)" as "$u" "$T/slipway" prune \
                --root "$ROOT"
            check_eq "$u: prune removes the killed build's leftovers" \
                "$(cd "$ROOT" && ls -d tmp/build-* snapshots/*/snap-* snapshots/*/.tmp-* 2>/dev/null)" ""
        fi
    done
    check "$u: the store verifies" as "$u" "$T/slipway" verify --root "$ROOT"
}

rootless_case "$SUB" sub
rootless_case "$SINGLE" single
finish
