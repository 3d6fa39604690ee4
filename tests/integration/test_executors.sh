#!/usr/bin/env bash
# The executors agree: one Dockerfile with several RUN steps (files, deletes, chmod, chown, users,
# no network) built with --executor native, --executor oci --runtime runc and, when it is
# installed, crun gives the same image digest (the same layers, byte for byte) under
# SOURCE_DATE_EPOCH. Usage: test_executors.sh SLIPWAY SOURCE_DIR
# runc is required (a missing runc fails the test). crun is optional; when installed but unable
# to run any container on this host (crun refuses a hybrid cgroup hierarchy that has controllers
# on cgroup v2) it is reported and not compared.
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require python3 python3
if ! command -v runc >/dev/null 2>&1 && [ ! -x /usr/sbin/runc ] && [ ! -x /sbin/runc ]; then
    echo "FAIL: runc is required (Debian package runc); run scripts/setup-deps --test" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

T=$(mktemp -d /tmp/sw-executors-XXXXXX)
trap 'rm -rf "$T"' EXIT
export SOURCE_DATE_EPOCH=1700000000
mounts_before=$(grep -c " $T" /proc/mounts)

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
mkdir -p "$T/ctx"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest
RUN mkdir -p /srv/a/b && echo one > /srv/a/b/f && echo two > /srv/two && ln -s a/b/f /srv/link
RUN rm /srv/two && rm -r /srv/a/b && chmod 0750 /srv/a && rm /etc/group && mkfifo /srv/fifo
RUN chown -R 1000:1000 /srv && chmod u+s /bin/busybox && touch /srv/empty && chmod 600 /srv/empty
WORKDIR /home/app/work
RUN chown 1000:1000 . && echo root-made > root.txt
USER app
RUN id -u > uid.txt && id -G > /tmp/groups.txt && touch /tmp/app-was-here && rm -f root.txt
USER root
RUN --network=none cat /proc/net/dev | grep -c : > /netdev.txt
RUN echo out; echo err >&2; hostname > /hostname.txt
DF

declare -A digest
build() { # build NAME EXECUTOR-FLAGS...: a fresh store, the base image, then the Dockerfile
    local name=$1; shift
    local root=$T/store-$name
    "$SW" build --root "$root" -q -t slipway-samples/busybox:latest "$T/bb" >/dev/null 2>"$T/$name.base.err" ||
        { cat "$T/$name.base.err" >&2; return 1; }
    "$SW" build --root "$root" --progress plain "$@" --metadata-file "$T/$name.json" "$T/ctx" \
        >"$T/$name.log" 2>&1
}
for e in native runc; do
    if [ $e = native ]; then flags=(--executor native); else flags=(--executor oci --runtime $e); fi
    if build $e "${flags[@]}"; then
        pass
        digest[$e]=$(json "$T/$e.json" "j['containerimage.digest']")
    else
        fail "the build with $e"
        sed 's/^/    /' "$T/$e.log" >&2
    fi
done
check_match "the native build has a digest" "${digest[native]:-}" '^sha256:'
check_eq "runc builds the same image as the native executor" "${digest[runc]:-none}" \
    "${digest[native]:-}"
check_match "RUN output reaches the log with runc" "$(cat "$T/runc.log")" '#[0-9]+ [0-9.]+ err'

if command -v crun >/dev/null 2>&1; then
    if build crun --executor oci --runtime crun; then
        pass
        check_eq "crun builds the same image as the native executor" \
            "$(json "$T/crun.json" "j['containerimage.digest']")" "${digest[native]:-}"
    elif grep -q 'cgroups in hybrid mode not supported' "$T/crun.log"; then
        echo "NOTE: crun cannot run containers on this host (a hybrid cgroup hierarchy with" \
             "controllers on cgroup v2): crun not compared" >&2
    else
        fail "the build with crun"
        sed 's/^/    /' "$T/crun.log" >&2
    fi
else
    echo "NOTE: crun is not installed: only native and runc compared" >&2
fi

# a missing command is a clean error with runc, a command exiting 127 is an exit status
printf 'FROM slipway-samples/busybox:latest\nRUN ["nosuchcommand-xyz"]\n' > "$T/ctx/Dockerfile.missing"
out=$("$SW" build --root "$T/store-runc" --progress quiet --executor oci \
    -f "$T/ctx/Dockerfile.missing" "$T/ctx" 2>&1)
check_eq "a missing executable fails the build" "$?" "1"
check_match "and says so in runc's words" "$out" \
    'Dockerfile.missing:2:1: error: runc: exec: "nosuchcommand-xyz": executable file not found in \$PATH'
printf 'FROM slipway-samples/busybox:latest\nRUN exit 127\n' > "$T/ctx/Dockerfile.127"
out=$("$SW" build --root "$T/store-runc" --progress quiet --executor oci \
    -f "$T/ctx/Dockerfile.127" "$T/ctx" 2>&1)
check_match "exit 127 is the process's status" "$out" 'did not complete successfully: exit code: 127'
out=$("$SW" build --root "$T/store-runc" --progress quiet --executor oci --runtime no-such-rt \
    "$T/ctx" 2>&1)
check_match "a missing runtime is named" "$out" 'OCI runtime no-such-rt not found in PATH'
out=$("$SW" build --root "$T/store-runc" --executor bogus "$T/ctx" 2>&1)
check_match "--executor is checked" "$out" 'executor must be native or oci'
check_eq "no mount left behind" "$(grep -c " $T" /proc/mounts)" "$mounts_before"
check_eq "no runc container left behind" "$(ls "$T"/store-runc/tmp 2>/dev/null | wc -l)" "0"
finish
