#!/usr/bin/env bash
# RUN --mount end to end, every type, on the busybox base (native executor, overlayfs): bind
# (context with .dockerignore, stage, image, rw discarded), cache (kept across builds, sharing
# modes, mode/uid/gid, from=), tmpfs (size), secret (file and env, required, never stored), ssh
# (agent socket, SSH_AUTH_SOCK). Usage: test_mounts.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require umoci umoci
require python3 python3

T=$(mktemp -d /tmp/sw-mounts-XXXXXX)
trap 'rm -rf "$T"' EXIT
ROOT=$T/store
mounts_before=$(grep -c " $T" /proc/mounts)

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"

# ---- bind, tmpfs, secret, ssh in one build ------------------------------------------------------
mkdir -p "$T/ctx/src/sub"
echo "from the context" > "$T/ctx/src/a.txt"
echo "ignored" > "$T/ctx/src/sub/ignored.txt"
echo "kept" > "$T/ctx/src/sub/kept.txt"
printf 'src/sub/ignored.txt\n' > "$T/ctx/.dockerignore"
SECRET="s3cr3t-$(date +%s%N)-value"
ENVSECRET="envs3cr3t-$(date +%s%N)"
printf '%s' "$SECRET" > "$T/secret.txt"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest AS tools
RUN mkdir -p /opt/tool && echo "tool from a stage" > /opt/tool/version && rm /etc/group

FROM slipway-samples/busybox:latest
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/a.txt > /bind.txt && ls /mnt/src/sub > /bind-ls.txt && (touch /mnt/src/new 2>/dev/null && echo writable || echo read-only) > /bind-ro.txt
RUN --mount=type=bind,source=src,target=/mnt/src,rw echo changed > /mnt/src/a.txt && cat /mnt/src/a.txt > /bind-rw.txt
RUN --mount=from=tools,source=/opt/tool,target=/tool cat /tool/version > /from-stage.txt
RUN --mount=from=tools,target=/t test ! -e /t/etc/group && echo whiteout-hidden > /from-stage-wh.txt
RUN --mount=type=bind,from=slipway-samples/busybox:latest,source=/bin/busybox,target=/bb test -x /bb && echo image > /from-image.txt
RUN --mount=type=tmpfs,target=/scratch,size=1m echo tmp > /scratch/f && df -k /scratch | tail -1 | awk '{print $2}' > /tmpfs-size.txt && ls -A /scratch > /tmpfs-ls.txt
RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-len.txt && stat -c '%a %u' /run/secrets/tok > /secret-stat.txt
RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0440,uid=1000 stat -c '%a %u' /etc/tok > /secret-stat2.txt
RUN --mount=type=secret,id=envtok,env=TOKEN sh -c 'test -n "$TOKEN" && echo ${#TOKEN}' > /secret-env-len.txt
RUN --mount=type=secret,id=absent echo optional-secret-skipped > /secret-optional.txt
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh.txt && stat -c '%a %u %g' "$SSH_AUTH_SOCK" > /ssh-stat.txt
RUN --mount=type=ssh,uid=1000,gid=1000,mode=0660 stat -c '%a %u %g' "$SSH_AUTH_SOCK" > /ssh-stat2.txt
RUN test ! -e /mnt/src && test ! -e /run/secrets && test ! -e /scratch && echo clean > /stubs.txt
DF
# an agent stand-in: a unix socket server answering "pong:" + what it got
cat > "$T/agent.py" <<'AGENT'
import socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d:
                return
            c.sendall(b"pong:" + d)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
AGENT
python3 "$T/agent.py" "$T/agent.sock" &
agent=$!
for _ in $(seq 50); do [ -S "$T/agent.sock" ] && break; sleep 0.1; done
out=$(ENVTOK="$ENVSECRET" "$SW" build --root "$ROOT" --progress plain -t mounts:test \
    --secret "id=tok,src=$T/secret.txt" --secret id=envtok,env=ENVTOK --ssh "default=$T/agent.sock" \
    -o "type=oci,dest=$T/oci" "$T/ctx" 2>&1)
rc=$?
kill "$agent" 2>/dev/null
check_eq "the build with every mount type succeeds" "$rc" "0"
[ "$rc" = 0 ] || echo "$out" >&2
check_eq "no mount left behind" "$(grep -c " $T" /proc/mounts)" "$mounts_before"
check "umoci unpacks the image" umoci unpack --image "$T/oci:test" "$T/bundle"
R=$T/bundle/rootfs
check_eq "bind: a context file" "$(cat "$R/bind.txt")" "from the context"
check_eq "bind: .dockerignore applies" "$(cat "$R/bind-ls.txt")" "kept.txt"
check_eq "bind: read-only by default" "$(cat "$R/bind-ro.txt")" "read-only"
check_eq "bind rw: writable" "$(cat "$R/bind-rw.txt")" "changed"
check_eq "bind rw: the context is untouched" "$(cat "$T/ctx/src/a.txt")" "from the context"
check_eq "bind from a stage" "$(cat "$R/from-stage.txt")" "tool from a stage"
check_eq "bind from a stage: its whiteouts apply" "$(cat "$R/from-stage-wh.txt")" "whiteout-hidden"
check_eq "bind from an image" "$(cat "$R/from-image.txt")" "image"
check_eq "tmpfs: size" "$(cat "$R/tmpfs-size.txt")" "1024"
check_eq "tmpfs: starts empty" "$(cat "$R/tmpfs-ls.txt")" "f"
check_eq "secret: the whole file" "$(cat "$R/secret-len.txt" | tr -d ' ')" "${#SECRET}"
check_eq "secret: mode 0400, root" "$(cat "$R/secret-stat.txt")" "400 0"
check_eq "secret: target, mode and uid" "$(cat "$R/secret-stat2.txt")" "440 1000"
check_eq "secret: env=" "$(cat "$R/secret-env-len.txt")" "${#ENVSECRET}"
check_eq "secret: an optional missing one is skipped" "$(cat "$R/secret-optional.txt")" "optional-secret-skipped"
check_eq "ssh: the socket and SSH_AUTH_SOCK" "$(cat "$R/ssh.txt")" "/run/buildkit/ssh_agent.0"
check_eq "ssh: the socket is 0600 root's by default" "$(cat "$R/ssh-stat.txt")" "600 0 0"
check_eq "ssh: uid, gid and mode apply" "$(cat "$R/ssh-stat2.txt")" "660 1000 1000"
check_eq "mount points are not in any layer" "$(cat "$R/stubs.txt")" "clean"
check_eq "no mount target in the image" "$(ls -d "$R/mnt/src" "$R/run/secrets" "$R/scratch" "$R/tool" "$R/bb" 2>/dev/null | wc -l)" "0"

# the secret's content is nowhere: not in the store, not in the output, not in the log
hits=0
for f in $(find "$ROOT" "$T/oci" -type f); do
    if grep -qF -e "$SECRET" -e "$ENVSECRET" "$f" 2>/dev/null; then hits=$((hits + 1)); echo "secret in $f" >&2; fi
    case "$(head -c2 "$f" | od -An -tx1 | tr -d ' ')" in
    # grep -c reads everything (grep -q would stop early and, with pipefail, fail the pipeline)
    1f8b) n=$(gzip -dc "$f" 2>/dev/null | grep -cF -e "$SECRET" -e "$ENVSECRET")
          if [ "${n:-0}" -gt 0 ]; then hits=$((hits + 1)); echo "secret in $f (gzip)" >&2; fi ;;
    esac
done
check_eq "secret content appears nowhere in the store or the output" "$hits" "0"
check_eq "secret content is not in the log" "$(echo "$out" | grep -cF -e "$SECRET" -e "$ENVSECRET")" "0"

# the proxy forwards: while a RUN holds an ssh mount, talk to its socket from the host
mkdir -p "$T/sshp"
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=type=ssh sleep 4\n' > "$T/sshp/Dockerfile"
python3 "$T/agent.py" "$T/agent2.sock" &
agent2=$!
for _ in $(seq 50); do [ -S "$T/agent2.sock" ] && break; sleep 0.1; done
"$SW" build --root "$ROOT" -q --ssh "default=$T/agent2.sock" "$T/sshp" >/dev/null 2>&1 &
bpid=$!
sock=""
for _ in $(seq 60); do
    sock=$(find "$ROOT/tmp" -name 'ssh-*.sock' -type s 2>/dev/null | head -1)
    [ -n "$sock" ] && break
    sleep 0.1
done
reply=$(python3 -c 'import socket,sys; c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.sendall(b"ping"); print(c.recv(100).decode())' "$sock" 2>&1)
check_eq "ssh: the proxy forwards to the agent" "$reply" "pong:ping"
wait "$bpid"
check_eq "ssh: the build holding the proxy succeeds" "$?" "0"
kill "$agent2" 2>/dev/null
check_eq "ssh: the proxy socket is gone with the step" "$(find "$ROOT/tmp" -name 'ssh-*.sock' 2>/dev/null | wc -l)" "0"

# ---- secrets and ssh: errors ---------------------------------------------------------------------
mkdir -p "$T/req"
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=type=secret,id=needed,required true\n' > "$T/req/Dockerfile"
out=$("$SW" build --root "$ROOT" -q "$T/req" 2>&1)
check_eq "a required secret that is missing fails" "$?" "1"
check_match "the error names the line and the secret" "$out" 'Dockerfile:2:.*secret needed'
out=$("$SW" build --root "$ROOT" -q --secret "id=x,src=$T/nope" "$T/req" 2>&1)
check_eq "--secret with a missing file fails" "$?" "1"
check_match "the error names the file" "$out" "$T/nope"
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=type=ssh,required true\n' > "$T/req/Dockerfile"
out=$("$SW" build --root "$ROOT" -q "$T/req" 2>&1)
check_eq "a required ssh agent that is missing fails" "$?" "1"
check_match "the error names the line" "$out" 'Dockerfile:2:.*ssh default'
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=from=nosuch-stage-xyz,target=/x true\n' > "$T/req/Dockerfile"
check_fails "a bind from an unknown image fails" "$SW" build --root "$ROOT" -q "$T/req"
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=target=/x,source=missing true\n' > "$T/req/Dockerfile"
out=$("$SW" build --root "$ROOT" -q "$T/req" 2>&1)
check_eq "a bind of a missing context path fails" "$?" "1"
check_match "the error names the line and the source" "$out" 'Dockerfile:2:.*missing'
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=target=/x,source=../../../etc true\n' > "$T/req/Dockerfile"
out=$("$SW" build --root "$ROOT" -q "$T/req" 2>&1)
check_eq "a bind source cannot leave the context" "$?" "1"
check_match "the escape resolves inside the context (not found there)" "$out" 'Dockerfile:2:.*etc'
ln -s /etc "$T/ctx/etc-link"
printf 'FROM slipway-samples/busybox:latest\nRUN --mount=target=/x,source=etc-link cat /x/hostname\n' > "$T/ctx/Dockerfile.link"
out=$("$SW" build --root "$ROOT" -q -f "$T/ctx/Dockerfile.link" "$T/ctx" 2>&1)
check_eq "a symlink out of the context is not followed out" "$?" "1"
rm "$T/ctx/etc-link"

# ---- cache mounts ----------------------------------------------------------------------------------
mkdir -p "$T/cache"
cat > "$T/cache/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest
ARG N=0
RUN --mount=type=cache,target=/var/cache/app echo "run $N" >> /var/cache/app/log && cat /var/cache/app/log | wc -l > /count.txt && stat -c '%a %u %g' /var/cache/app > /cache-stat.txt
RUN --mount=type=cache,id=owned,target=/c,mode=0700,uid=1000,gid=1000 stat -c '%a %u %g' /c > /owned.txt
RUN --mount=type=cache,id=private,target=/p,sharing=private touch /p/x
RUN --mount=type=cache,id=locked,target=/l,sharing=locked touch /l/x
DF
check "cache build 1" "$SW" build --root "$ROOT" -q -t c:latest --build-arg N=1 -o "type=oci,dest=$T/c1" "$T/cache"
check "cache build 2" "$SW" build --root "$ROOT" -q -t c:latest --build-arg N=2 -o "type=oci,dest=$T/c2" "$T/cache"
check "umoci unpacks build 2" umoci unpack --image "$T/c2:latest" "$T/c2b"
check_eq "cache: kept across builds" "$(cat "$T/c2b/rootfs/count.txt")" "2"
check_eq "cache: default mode 0755 root" "$(cat "$T/c2b/rootfs/cache-stat.txt")" "755 0 0"
check_eq "cache: mode, uid, gid" "$(cat "$T/c2b/rootfs/owned.txt")" "700 1000 1000"
check_eq "cache: not in the layer" "$(test -e "$T/c2b/rootfs/var/cache/app/log" && echo present || echo absent)" "absent"
check_eq "cache: kept in the store" "$(cat "$ROOT"/mounts/cache/*/0/log | wc -l)" "2"

# from= seeds a new cache; sharing=private gives concurrent users their own directories
cat > "$T/cache/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest AS seed
RUN mkdir /seed && echo seeded > /seed/file
FROM slipway-samples/busybox:latest
RUN --mount=type=cache,id=seeded,target=/s,from=seed,source=/seed cat /s/file > /seeded.txt
DF
check "cache from= build" "$SW" build --root "$ROOT" -q -t c:latest -o "type=oci,dest=$T/c3" "$T/cache"
check "umoci unpacks the seeded build" umoci unpack --image "$T/c3:latest" "$T/c3b"
check_eq "cache: seeded from a stage" "$(cat "$T/c3b/rootfs/seeded.txt")" "seeded"

printf 'FROM slipway-samples/busybox:latest\nARG I\nRUN --mount=type=cache,id=par,target=/p,sharing=private sh -c "echo $I > /p/who; sleep 1; cat /p/who > /who.txt"\n' > "$T/cache/Dockerfile"
pids=()
for i in 1 2 3; do
    "$SW" build --root "$ROOT" -q -t par$i:latest --build-arg I=$i -o "type=oci,dest=$T/par$i" "$T/cache" >/dev/null 2>&1 &
    pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check_eq "three concurrent builds with a private cache succeed" "$ok" "3"
same=0
for i in 1 2 3; do
    umoci unpack --image "$T/par$i:latest" "$T/parb$i" >/dev/null 2>&1
    [ "$(cat "$T/parb$i/rootfs/who.txt" 2>/dev/null)" = "$i" ] && same=$((same + 1))
done
check_eq "sharing=private: no build saw another's write" "$same" "3"
check_match "sharing=private: concurrent builds got their own instance" "$(ls "$ROOT"/mounts/cache/*/ | tr '\n' ' ')" '1'

check_eq "no mount left behind at the end" "$(grep -c " $T" /proc/mounts)" "$mounts_before"
finish
