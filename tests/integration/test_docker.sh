#!/usr/bin/env bash
# `docker load` accepts slipway's docker-archives: a private dockerd (Debian's docker.io, no
# bridge, no iptables, its own socket and data root) loads `-o type=docker` and `slipway save`
# output, and `docker image inspect` shows the config slipway wrote; the image runs.
# Usage: test_docker.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require dockerd docker.io
require python3 python3
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

T=$(mktemp -d /tmp/sw-docker-XXXXXX)
export DOCKER_HOST=unix://$T/docker.sock
stop() {
    if [ -f "$T/docker.pid" ]; then
        kill "$(cat "$T/docker.pid")" 2>/dev/null
        for _ in $(seq 50); do [ -f "$T/docker.pid" ] || break; sleep 0.2; done
    fi
    umount -R "$T/data" 2>/dev/null
    rm -rf "$T"
}
trap stop EXIT
dockerd --bridge=none --iptables=false --ip6tables=false --host "$DOCKER_HOST" \
    --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/docker.pid" \
    >"$T/dockerd.log" 2>&1 &
for _ in $(seq 100); do "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.2; done
if ! "$DOCKER" version >/dev/null 2>&1; then
    fail "the private dockerd did not start:"
    tail -20 "$T/dockerd.log" >&2
    finish
    exit 1
fi

ROOT=$T/store
check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"
check "build to a docker-archive" "$SW" build --root "$ROOT" -q -t slipway-samples/hello:latest \
    --build-arg GREETING=hi -o "type=docker,dest=$T/hello.tar" "$SRC/samples/hello"
check "docker load of -o type=docker" "$DOCKER" load -i "$T/hello.tar"
check "slipway save" "$SW" save --root "$ROOT" -o "$T/saved.tar" slipway-samples/hello:latest
check "docker load of slipway save" "$DOCKER" load -i "$T/saved.tar"

"$DOCKER" image inspect slipway-samples/hello:latest > "$T/docker.json"
"$SW" inspect --root "$ROOT" slipway-samples/hello:latest > "$T/ours.json"
for field in User Env Cmd Entrypoint WorkingDir Labels ExposedPorts; do
    theirs=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[0]["Config"].get(sys.argv[2]), sort_keys=True))' "$T/docker.json" "$field")
    ours=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[0]["Config"]["config"].get(sys.argv[2]), sort_keys=True))' "$T/ours.json" "$field")
    check_eq "docker sees the same $field" "$theirs" "$ours"
done
theirs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Id"])' "$T/docker.json")
ours=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Manifest"]["config"]["digest"])' "$T/ours.json")
check_eq "docker's image ID is our config digest" "$theirs" "$ours"
check_eq "the image runs in docker" \
    "$("$DOCKER" run --rm --network none slipway-samples/hello:latest 2>&1)" "hi, world"
finish
