#!/usr/bin/env bash
# End-to-end builds with the real slipway binary, checked by real consumers (skopeo, umoci) and
# the OCI schemas. Usage: test_build.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require skopeo skopeo
require umoci umoci
require python3 python3

T=$(mktemp -d /tmp/sw-it-XXXXXX)
cleanup() {
    umount "$T/tiny" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
ROOT=$T/store
sw() { "$SW" "$@" --root "$ROOT"; }
build() { "$SW" build --root "$ROOT" --progress plain "$@"; }

# ---- the busybox base, offline ------------------------------------------------------------------
check "make the busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "build the busybox base" build -t slipway-samples/busybox:latest "$T/bb"
check "skopeo inspects the store" skopeo inspect "oci:$ROOT:slipway-samples/busybox:latest"

# ---- every instruction without RUN --------------------------------------------------------------
mkdir -p "$T/ctx/dir/sub" "$T/ctx/arc/top"
echo a > "$T/ctx/a.txt"
echo b > "$T/ctx/b.txt"
echo keep > "$T/ctx/dir/keep"
echo deep > "$T/ctx/dir/sub/deep"
echo skip > "$T/ctx/dir/skip.log"
echo secret > "$T/ctx/secret.key"
ln -s a.txt "$T/ctx/link"
ln "$T/ctx/a.txt" "$T/ctx/hard.txt"
echo in-archive > "$T/ctx/arc/top/f"
tar -C "$T/ctx/arc" --owner=7 --group=8 -cJf "$T/ctx/arc.tar.xz" top
printf 'secret.key\n' > "$T/ctx/.dockerignore"
cp "$SRC/tests/integration/all-instructions.Dockerfile" "$T/ctx/Dockerfile"
check "build every instruction" build -t it:all --build-arg GREETING=hey \
    --label built.by=slipway -o "type=oci,dest=$T/all-oci.tar" "$T/ctx"
sw inspect it:all > "$T/inspect.json"
cfg() { json "$T/inspect.json" "j[0]['Config']$1"; }
check_eq "ENV" "$(cfg "['config']['Env']")" \
    "['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP=/app', 'GREETING=hey']"
check_eq "LABEL and --label" "$(cfg "['config']['Labels']")" \
    "{'built.by': 'slipway', 'maintainer.name': 'slipway', 'triggered': 'yes', 'version': '1'}"
check_eq "USER" "$(cfg "['config']['User']")" "app"
check_eq "WORKDIR" "$(cfg "['config']['WorkingDir']")" "/home/app/work"
check_eq "EXPOSE" "$(json "$T/inspect.json" "sorted(j[0]['Config']['config']['ExposedPorts'])")" \
    "['443/udp', '80/tcp']"
check_eq "VOLUME" "$(json "$T/inspect.json" "list(j[0]['Config']['config']['Volumes'])")" "['/data']"
check_eq "STOPSIGNAL" "$(cfg "['config']['StopSignal']")" "SIGQUIT"
check_eq "HEALTHCHECK" "$(cfg "['config']['Healthcheck']")" \
    "{'Interval': 5000000000, 'Retries': 2, 'Test': ['CMD', '/bin/true']}"
check_eq "SHELL" "$(cfg "['config']['Shell']")" "['/bin/sh', '-ec']"
check_eq "CMD set in this stage survives ENTRYPOINT" "$(cfg "['config']['Cmd']")" \
    "['/bin/sh', '-ec', 'echo hi']"
check_eq "ENTRYPOINT" "$(cfg "['config']['Entrypoint']")" "['/bin/sh']"
check_eq "MAINTAINER" "$(cfg "['author']")" "someone"
check_eq "ONBUILD triggers are not inherited further" "$(cfg "['config'].get('OnBuild')")" "None"
check_eq "only layer steps have layers" \
    "$(json "$T/inspect.json" "[h.get('empty_layer', False) for h in j[0]['Config']['history']].count(False)")" \
    "$(json "$T/inspect.json" "len(j[0]['Config']['rootfs']['diff_ids'])")"

# ---- the file system, as umoci unpacks it --------------------------------------------------------
check "skopeo inspects the OCI tar" skopeo inspect "oci-archive:$T/all-oci.tar"
mkdir "$T/all-oci" && tar -C "$T/all-oci" -xf "$T/all-oci.tar"
check "umoci unpacks it" umoci unpack --image "$T/all-oci:all" "$T/bundle"
R=$T/bundle/rootfs
st() { stat -c "$1" "$R/$2" 2>/dev/null || echo missing; }
check_eq "COPY to WORKDIR" "$(cat "$R/app/a.txt")" "a"
check_eq "COPY owner is root" "$(st %u:%g app/a.txt)" "0:0"
check_eq "COPY --chown by name" "$(st %u:%g app/data/keep)" "1000:1000"
check_eq "COPY --chmod" "$(st %a app/data/sub/deep)" "640"
check_eq "COPY --exclude" "$(st %F app/filtered/skip.log)" "missing"
check_eq "COPY --exclude keeps the rest" "$(cat "$R/app/filtered/keep")" "keep"
check_eq "COPY --parents" "$(cat "$R/parents/dir/sub/deep")" "deep"
check_eq "COPY follows a source symlink" "$(st %F links/link)" "regular file"
check_eq "hardlinks stay hardlinks" "$(st %h links/hard.txt)" "2"
check_eq ".dockerignore" "$(st %F app/secret.key)" "missing"
check_eq "heredoc expanded" "$(cat "$R/app/heredoc.txt")" "hey from a heredoc"
check_eq "ADD unpacks a local tar.xz" "$(cat "$R/unpacked/top/f")" "in-archive"
check_eq "ADD keeps the archive's owner" "$(st %u:%g unpacked/top/f)" "7:8"
check_eq "WORKDIR created for USER" "$(st %u:%g home/app/work)" "1000:1000"
check_eq "symlinks of the base stay" "$(readlink "$R/bin/sh")" "busybox"
check_eq "busybox runs from the image" "$("$R/bin/busybox" echo ok)" "ok"

# ---- schemas -------------------------------------------------------------------------------------
if [ -n "${SLIPWAY_CONFORMANCE_DIR:-}" ]; then
    for f in "$T"/all-oci/blobs/sha256/*; do
        kind=$(python3 -c 'import json,sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    j = None
if not isinstance(j, dict): print("")
elif "rootfs" in j: print("config")
elif "layers" in j: print("manifest")
elif "manifests" in j: print("index")
else: print("")' "$f")
        [ -n "$kind" ] || continue
        check "schema of $(basename "$f") ($kind)" python3 "$SRC/tests/tools/oci_validate.py" \
            --schema-dir "$SLIPWAY_CONFORMANCE_DIR/oci-schemas/image-spec/schema" --type "$kind" "$f"
    done
    check "schema of index.json" python3 "$SRC/tests/tools/oci_validate.py" \
        --schema-dir "$SLIPWAY_CONFORMANCE_DIR/oci-schemas/image-spec/schema" --type index \
        "$T/all-oci/index.json"
else
    fail "SLIPWAY_CONFORMANCE_DIR is not set: the schema checks cannot run"
fi

# ---- ONBUILD stored in an image, triggered in a child build FROM it -------------------------------
mkdir -p "$T/ob"
printf 'FROM slipway-samples/busybox:latest\nONBUILD COPY a.txt /from-trigger.txt\n' > "$T/ob/Dockerfile.parent"
printf 'FROM it:onbuild\nLABEL child=1\n' > "$T/ob/Dockerfile.child"
check "build an image with ONBUILD" build -t it:onbuild -f "$T/ob/Dockerfile.parent" "$T/ctx"
check_eq "ONBUILD is stored" "$(sw inspect it:onbuild | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"]["config"]["OnBuild"])')" \
    "['COPY a.txt /from-trigger.txt']"
check "build a child FROM it" build -t it:child -f "$T/ob/Dockerfile.child" -o "type=local,dest=$T/child" "$T/ctx"
check_eq "the trigger ran in the child" "$(cat "$T/child/from-trigger.txt")" "a"
check_eq "the child does not inherit the trigger" "$(sw inspect it:child | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"]["config"].get("OnBuild"))')" "None"

# ---- FROM oci-layout://, COPY --from an index and an image, --link, ENTRYPOINT and CMD ------------
check "export the busybox base as an OCI layout" build -o "type=oci,dest=$T/bb-layout" \
    -t layout:v1 "$T/bb"
cat > "$T/ob/Dockerfile.refs" <<'DF'
FROM oci-layout://LAYOUT:v1 AS first
COPY a.txt /first.txt
FROM scratch
COPY --from=0 /first.txt /from-index.txt
COPY --from=slipway-samples/busybox:latest /etc/passwd /from-image-passwd
COPY --link b.txt /linked/b.txt
DF
sed -i "s|LAYOUT|$T/bb-layout|" "$T/ob/Dockerfile.refs"
check "FROM oci-layout and COPY --from index/image/--link" build -f "$T/ob/Dockerfile.refs" \
    -o "type=local,dest=$T/refs" "$T/ctx"
check_eq "COPY --from=0" "$(cat "$T/refs/from-index.txt")" "a"
check_match "COPY --from=image" "$(head -1 "$T/refs/from-image-passwd")" '^root:'
check_eq "COPY --link" "$(cat "$T/refs/linked/b.txt")" "b"
printf 'FROM slipway-samples/busybox:latest\nENTRYPOINT ["/bin/echo"]\n' > "$T/ob/Dockerfile.ep"
check "ENTRYPOINT over an image with CMD" build -t it:ep -f "$T/ob/Dockerfile.ep" "$T/ctx"
check_eq "ENTRYPOINT resets the base image's CMD" \
    "$(sw inspect it:ep | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"]["config"].get("Cmd"))')" "None"

# ---- the JSON event protocol ------------------------------------------------------------------------
"$SW" build --root "$ROOT" --progress json -f "$T/ob/Dockerfile.ep" "$T/ctx" 2> "$T/events.jsonl" >/dev/null
check_eq "events: every line is a v1 event" \
    "$(python3 -c 'import json,sys; print(all(json.loads(l)["v"] == 1 for l in open(sys.argv[1])))' "$T/events.jsonl")" "True"
check_eq "events: start, steps and end" \
    "$(python3 -c 'import json,sys; t=[json.loads(l)["type"] for l in open(sys.argv[1])]; print(t[0], "step.start" in t, "step.end" in t, t[-1])' "$T/events.jsonl")" \
    "build.start True True build.end"

# ---- outputs and store commands -------------------------------------------------------------------
check "skopeo copy from the store" skopeo copy "oci:$ROOT:it:all" "oci:$T/copied:x"
check "save a docker-archive" sw save -o "$T/all-docker.tar" it:all
check "load it into another store" "$SW" load --root "$T/store2" -i "$T/all-docker.tar"
check_eq "the name survives save/load" "$("$SW" images --root "$T/store2" -q)" "it:all"
check "type=local" build -o "type=local,dest=$T/local" --target files "$T/ctx"
check_eq "local output has the files" "$(cat "$T/local/app/b.txt")" "b"
check "type=tar" build -o "type=tar,dest=$T/fs.tar" --target files "$T/ctx"
check_match "tar output lists the files" "$(tar -tf "$T/fs.tar" | tr '\n' ' ')" "app/heredoc.txt"
check "tag" sw tag it:all it:other
check "rmi" sw rmi it:other
check_fails "rmi of a missing name" sw rmi it:other
check "iidfile and metadata" build --iidfile "$T/iid" --metadata-file "$T/meta.json" -t it:meta "$T/ctx"
check_match "iidfile holds the config digest" "$(cat "$T/iid")" '^sha256:[0-9a-f]{64}$'
check_eq "metadata names the manifest" "$(json "$T/meta.json" "j['containerimage.digest']")" \
    "$(skopeo inspect --raw "oci:$ROOT:it:meta" | sha256sum | sed 's/ .*//; s/^/sha256:/')"

# ---- reproducible: two copies of the context, different times, SOURCE_DATE_EPOCH ------------------
sleep 1
cp -a "$T/ctx" "$T/ctx2" # another directory...
find "$T/ctx2" -exec touch -h {} + # ...and other times (later than the epoch: clamped)
touch -d '2030-01-01' "$T/ctx2"/*.txt
SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" -q --metadata-file "$T/m1.json" "$T/ctx" >/dev/null
SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" -q --metadata-file "$T/m2.json" \
    "$T/ctx2" >/dev/null
d1=$(json "$T/m1.json" "j['containerimage.digest']")
d2=$(json "$T/m2.json" "j['containerimage.digest']")
check_match "a reproducible build gives a digest" "$d1" '^sha256:[0-9a-f]{64}$'
check_eq "same inputs, same image digest" "$d1" "$d2"

# ---- bad input: FILE:LINE:COL, exit 1, nothing half-written -------------------------------------
bad() { # name dockerfile-text expected-stderr-regex
    mkdir -p "$T/bad/$1"
    printf '%b' "$2" > "$T/bad/$1/Dockerfile"
    ln -sf /etc/passwd "$T/bad/$1/hostlink"
    out=$("$SW" build --root "$ROOT" --progress quiet "$T/bad/$1" 2>&1)
    rc=$?
    check_eq "$1 exits 1" "$rc" "1"
    check_match "$1 says where and what" "$out" "$3"
}
bad missing-source 'FROM scratch\nCOPY nope /\n' 'Dockerfile:2:1: error: .*"nope" not found'
bad dotdot 'FROM scratch\nCOPY ../x /\n' 'Dockerfile:2:1: error: .*outside the build context'
bad symlink-out 'FROM scratch\nCOPY hostlink /\n' 'Dockerfile:2:1: error: .*not found'
bad syntax 'FROM scratch\nCOPY --bogus a /\n' 'Dockerfile:2:1: error: unknown flag: --bogus'
bad run 'FROM scratch\nRUN true\n' 'Dockerfile:2:1: error: exec: "/bin/sh": No such file or directory'
check "the store still verifies" sw verify
"$SW" build --root "$ROOT" --progress json "$T/bad/syntax" 2> "$T/bad-events.jsonl" >/dev/null
check_match "events: an error carries FILE:LINE:COL" \
    "$(python3 -c 'import json,sys; print([e["formatted"] for e in map(json.loads, open(sys.argv[1])) if e["type"] == "error"])' "$T/bad-events.jsonl")" \
    'Dockerfile:2:1: error: unknown flag'
check "prune" sw prune
check "the store verifies after prune" sw verify
check "images survive prune" skopeo inspect "oci:$ROOT:it:all"

# ---- a full disk: the build fails cleanly and the store still verifies ----------------------------
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=1m tmpfs "$T/tiny"; then
    mkdir -p "$T/big"
    head -c 3000000 /dev/urandom > "$T/big/big.bin"
    printf 'FROM scratch\nCOPY big.bin /\n' > "$T/big/Dockerfile"
    out=$("$SW" build --root "$T/tiny/store" --compression none "$T/big" 2>&1)
    rc=$?
    check_eq "full disk exits 1" "$rc" "1"
    check_match "full disk is reported" "$out" "No space left on device"
    check "the full store verifies" "$SW" verify --root "$T/tiny/store"
    check_eq "no blob left half-written" "$(find "$T/tiny/store/tmp" -type f | wc -l)" "0"
    umount "$T/tiny"
else
    fail "cannot mount a tmpfs for the full-disk test (tests run as root)"
fi

finish
