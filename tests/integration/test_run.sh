#!/usr/bin/env bash
# RUN end to end: steps run in ephemeral containers (native executor) on overlayfs snapshots, and
# the copy-based snapshotter gives the same image. Usage: test_run.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require umoci umoci
require python3 python3

T=$(mktemp -d /tmp/sw-run-XXXXXX)
trap 'rm -rf "$T"' EXIT
ROOT=$T/store
mounts_before=$(grep -c " $T" /proc/mounts)

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"

mkdir -p "$T/ctx"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest
ARG STAGE_ARG=from-arg
ENV FROM_ENV=from-env
RUN echo "$STAGE_ARG $FROM_ENV" > /env.txt && rm /etc/group && mkdir -p /made/deep && echo x > /made/deep/f
RUN test ! -e /etc/group && cat /env.txt
WORKDIR /work/dir
RUN pwd > /pwd.txt
USER app
RUN id -u > /tmp/uid.txt; id -u
USER root
RUN --network=none cat /proc/net/dev | grep -c : > /netdev.txt
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]
RUN <<EOT
echo heredoc > /heredoc.txt
EOT
RUN <<EOT
#!/bin/sh
echo "shebang $0" > /shebang.txt
EOT
RUN sleep 1000 & echo started
DF
out=$(SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" --progress plain -t run:test \
    --metadata-file "$T/m1.json" -o "type=oci,dest=$T/oci" "$T/ctx" 2>&1)
rc=$?
check_eq "the RUN build succeeds" "$rc" "0"
check_match "RUN output reaches the progress log" "$out" 'from-arg from-env'
check_match "RUN as USER app" "$out" '#[0-9]+ [0-9.]+ 1000'
check_eq "no sleep survives its step" "$(pgrep -fc 'sleep 100[0]')" "0"
check_eq "no mount left behind" "$(grep -c " $T" /proc/mounts)" "$mounts_before"
check "umoci unpacks the image" umoci unpack --image "$T/oci:test" "$T/bundle"
R=$T/bundle/rootfs
check_eq "a RUN's file" "$(cat "$R/env.txt")" "from-arg from-env"
check_eq "a deleted file stays deleted (whiteout)" "$(test -e "$R/etc/group" && echo present || echo gone)" "gone"
check_eq "new directories" "$(cat "$R/made/deep/f")" "x"
check_eq "WORKDIR is the working directory" "$(cat "$R/pwd.txt")" "/work/dir"
check_eq "USER runs as its uid" "$(cat "$R/tmp/uid.txt")" "1000"
check_eq "the file belongs to the user" "$(stat -c %u "$R/tmp/uid.txt")" "1000"
check_eq "--network=none has only lo" "$(cat "$R/netdev.txt")" "1"
check_eq "exec form" "$(cat "$R/exec.txt")" "exec-form"
check_eq "heredoc fed to the shell" "$(cat "$R/heredoc.txt")" "heredoc"
check_eq "a #! heredoc runs as a file" "$(cat "$R/shebang.txt")" "shebang /dev/pipes/EOT"
check_eq "the /etc mount points are not in the image" "$(ls "$R/etc")" "passwd"
check_eq "ARGs do not reach the image config" \
    "$("$SW" inspect --root "$ROOT" run:test | python3 -c 'import json,sys; print([e for e in json.load(sys.stdin)[0]["Config"]["config"]["Env"] if "STAGE_ARG" in e])')" "[]"
check_match "RUN history names the build args" \
    "$("$SW" inspect --root "$ROOT" run:test | python3 -c 'import json,sys; print([h["created_by"] for h in json.load(sys.stdin)[0]["Config"]["history"] if "env.txt" in h.get("created_by","")])')" \
    'RUN \|1 STAGE_ARG=from-arg /bin/sh -c echo'

# the copy-based snapshotter (no overlayfs) builds the same image
SLIPWAY_SNAPSHOTTER=copy SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$T/store-copy" -q \
    -t slipway-samples/busybox:latest "$T/bb" >/dev/null
SLIPWAY_SNAPSHOTTER=copy SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$T/store-copy" -q \
    --metadata-file "$T/m2.json" "$T/ctx" >/dev/null
SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$T/store-ovl" -q \
    -t slipway-samples/busybox:latest "$T/bb" >/dev/null
SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$T/store-ovl" -q --metadata-file "$T/m3.json" \
    "$T/ctx" >/dev/null
d2=$(json "$T/m2.json" "j['containerimage.digest']")
d3=$(json "$T/m3.json" "j['containerimage.digest']")
check_match "the copy snapshotter builds" "$d2" '^sha256:'
check_eq "copy and overlay snapshotters give the same image" "$d2" "$d3"

# a failing RUN reads like docker's, with the location
printf 'FROM slipway-samples/busybox:latest\nRUN exit 3\n' > "$T/ctx/Dockerfile.fail"
out=$("$SW" build --root "$ROOT" --progress quiet -f "$T/ctx/Dockerfile.fail" "$T/ctx" 2>&1)
check_eq "a failing RUN exits 1" "$?" "1"
check_match "a failing RUN says where and how" "$out" \
    'Dockerfile.fail:2:1: error: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'
printf 'FROM slipway-samples/busybox:latest\nRUN nosuchcommand-xyz\n' > "$T/ctx/Dockerfile.missing"
out=$("$SW" build --root "$ROOT" --progress quiet -f "$T/ctx/Dockerfile.missing" "$T/ctx" 2>&1)
check_match "a missing command is reported" "$out" 'exit code: 127'
check "the store verifies" "$SW" verify --root "$ROOT"
finish
