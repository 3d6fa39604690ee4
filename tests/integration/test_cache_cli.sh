#!/usr/bin/env bash
# `slipway cache ls` and `slipway cache prune` end to end, and the gc's cache roots: `slipway prune`
# keeps what the layer cache can hit, `cache prune` removes it (by age, by size, all of it), the
# store verifies after every step, and a prune while a build runs is refused without removing
# anything. Usage: test_cache_cli.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require python3 python3

T=$(mktemp -d /tmp/sw-cache-cli-XXXXXX)
bg_pid=
cleanup() {
    [ -n "$bg_pid" ] && kill "$bg_pid" 2>/dev/null && wait "$bg_pid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
ROOT=$T/store

build() { "$SW" build --root "$ROOT" --progress plain "$@" 2>&1; }
cached_steps() { printf '%s\n' "$1" | grep -cE '^#[0-9]+ CACHED$'; }
ls_json() { "$SW" cache ls --root "$ROOT" --format json >"$T/ls.json" 2>&1; }
nrecords() { ls_json && json "$T/ls.json" "len(j['records'])"; }
nmounts() { ls_json && json "$T/ls.json" "len(j['mounts'])"; }
verify() { check "$1: the store verifies" "$SW" verify --root "$ROOT"; }

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"
sleep 1.1 # the base image's records are then used a second before the app's (ls sorts by last use)

mkdir -p "$T/ctx"
echo hello > "$T/ctx/a.txt"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-samples/busybox:latest
COPY a.txt /a.txt
RUN --mount=type=cache,id=cli-test-cache,target=/cache echo run >> /cache/log && cat /a.txt > /b.txt
RUN echo done > /c.txt
DF

# ---- two builds: the second is all cached ------------------------------------------------------
out=$(build -t app:1 "$T/ctx"); rc=$?
check_eq "first build" "$rc" "0"
check_eq "first build: nothing cached" "$(cached_steps "$out")" "0"
out=$(build -t app:1 "$T/ctx"); rc=$?
check_eq "second build" "$rc" "0"
check_eq "second build: the 3 steps are CACHED" "$(cached_steps "$out")" "3"
verify "after two builds"

# ---- cache ls ------------------------------------------------------------------------------------
ls_out=$("$SW" cache ls --root "$ROOT"); rc=$?
check_eq "cache ls" "$rc" "0"
check_match "cache ls: a header" "$ls_out" '^ID +KIND +SIZE +LAST USED +DESCRIPTION'
check_match "cache ls: the COPY record" "$ls_out" \
    '[0-9a-f]{12}  copy +[0-9.]+[kMG]?B +.* ago +\[stage-0 2/4\] COPY a.txt /a.txt \(.*Dockerfile:2\)'
check_match "cache ls: the RUN with a cache mount" "$ls_out" \
    '[0-9a-f]{12}  run .*\[stage-0 3/4\] RUN --mount=type=cache'
check_match "cache ls: the other RUN" "$ls_out" '  run .*\[stage-0 4/4\] RUN echo done'
check_match "cache ls: the base image's records" "$ls_out" '  copy .*COPY --exclude=home/app rootfs/ /'
check_match "cache ls: the cache mount" "$ls_out" '^cli-test-cache +1 +[0-9.]+[kMG]?B +.* ago'
check_match "cache ls: a total" "$ls_out" \
    '^Total: 5 records \([0-9.]+[kMG]?B in layers\), 1 cache mount \([0-9.]+[kMG]?B\); reclaimable: '
check "cache ls --format json" ls_json
check_eq "json: 5 records" "$(json "$T/ls.json" "len(j['records'])")" "5"
check_eq "json: most recently used first" \
    "$(json "$T/ls.json" "[r['last_used'] for r in j['records']] == sorted([r['last_used'] for r in j['records']], reverse=True)")" \
    "True"
check_eq "json: the app's records first" \
    "$(json "$T/ls.json" "sorted(r['kind'] for r in j['records'][:3])")" "['copy', 'run', 'run']"
check_eq "json: the cache mount" \
    "$(json "$T/ls.json" "[(m['id'], m['instances'], m['size'] > 0) for m in j['mounts']]")" \
    "[('cli-test-cache', 1, True)]"
check_eq "json: the total" \
    "$(json "$T/ls.json" "(j['total']['records'], j['total']['mounts'], j['total']['layer_bytes'] > 0)")" \
    "(5, 1, True)"
check_fails "cache ls --format yaml is refused" "$SW" cache ls --root "$ROOT" --format yaml
check_match "the message names the flag" "$("$SW" cache ls --root "$ROOT" --format yaml 2>&1)" \
    '--format "yaml": must be table or json'

# ---- slipway prune keeps what the cache can hit --------------------------------------------------
check "rmi app:1" "$SW" rmi --root "$ROOT" app:1
snaps_before=$(ls "$ROOT/snapshots/overlay" | grep -cE '^[0-9a-f]{64}$')
orphan=$(printf 'orphan' | sha256sum | cut -c1-64)
mkdir -p "$ROOT/snapshots/overlay/$orphan/etc" && echo x > "$ROOT/snapshots/overlay/$orphan/etc/x"
check "slipway prune" "$SW" prune --root "$ROOT"
check_eq "prune keeps the records" "$(nrecords)" "5"
missing=$(json "$T/ls.json" \
    "[r['layer']['digest'] for r in j['records'] if not __import__('os').path.exists('$ROOT/blobs/sha256/' + r['layer']['digest'][7:])]")
check_eq "prune keeps every record's layer blob" "$missing" "[]"
check_eq "prune keeps the records' snapshots" \
    "$(ls "$ROOT/snapshots/overlay" | grep -cE '^[0-9a-f]{64}$')" "$snaps_before"
check_eq "prune removes a snapshot nothing uses" "$(test -e "$ROOT/snapshots/overlay/$orphan" && echo kept || echo gone)" "gone"
check_eq "prune keeps the cache mount" "$(nmounts)" "1"
verify "after prune"
out=$(build "$T/ctx"); rc=$?
check_eq "rebuild after prune" "$rc" "0"
check_eq "rebuild after prune: still CACHED" "$(cached_steps "$out")" "3"

# ---- cache prune --filter until=1h: everything was just used --------------------------------------
out=$("$SW" cache prune --root "$ROOT" --filter until=1h -f 2>&1); rc=$?
check_eq "cache prune --filter until=1h" "$rc" "0"
check_match "until=1h: a total" "$out" '^Total reclaimed space: [0-9.]+[kMG]?B$'
check_eq "until=1h: nothing deleted" "$(printf '%s\n' "$out" | grep -c 'Deleted build cache objects')" "0"
check_eq "until=1h: the records stay" "$(nrecords)" "5"
check_eq "until=1h: the cache mount stays" "$(nmounts)" "1"
verify "after prune --filter until=1h"

# ---- bad options name the flag and the value; without -f it asks -----------------------------------
out=$("$SW" cache prune --root "$ROOT" --keep-storage 10XB -f 2>&1); rc=$?
check_eq "--keep-storage 10XB: usage error" "$rc" "2"
check_match "--keep-storage 10XB: the message" "$out" '--keep-storage "10XB": not a size'
out=$("$SW" cache prune --root "$ROOT" --filter until=2d -f 2>&1); rc=$?
check_eq "--filter until=2d: usage error" "$rc" "2"
check_match "--filter until=2d: the message" "$out" '--filter "until=2d": not a duration'
out=$("$SW" cache prune --root "$ROOT" --filter type=regular -f 2>&1); rc=$?
check_eq "--filter type=regular: usage error" "$rc" "2"
check_match "--filter type=regular: the message" "$out" '--filter "type=regular": unsupported filter'
out=$(echo n | "$SW" cache prune --root "$ROOT" 2>&1); rc=$?
check_eq "answering n: nothing done, status 1" "$rc" "1"
check_match "answering n: the question" "$out" 'WARNING! This will remove all build cache'
check_eq "answering n: the records stay" "$(nrecords)" "5"

# ---- a prune while a build runs is refused, nothing is removed --------------------------------------
mkdir -p "$T/slow"
marker="sleep-marker-$$-$RANDOM"
# long enough for the checks below, even under sanitizers (the last one checks it still runs)
printf 'FROM slipway-samples/busybox:latest\nRUN sleep 8; echo %s\n' "$marker" > "$T/slow/Dockerfile"
"$SW" build --root "$ROOT" -q "$T/slow" >"$T/slow.log" 2>&1 &
bg_pid=$!
for _ in $(seq 600); do pgrep -f "[s]leep 8; echo $marker" >/dev/null && break; sleep 0.05; done
check "the slow build's RUN started" pgrep -f "[s]leep 8; echo $marker"
out=$("$SW" cache prune --root "$ROOT" -f 2>&1); rc=$?
check_eq "prune during a build: refused" "$rc" "1"
check_match "prune during a build: the message" "$out" \
    'the store is in use by a running build .*gc.lock is held.*try again when it has finished'
check_eq "prune during a build: the records stay" "$(nrecords)" "5"
check_eq "prune during a build: the cache mount stays" "$(nmounts)" "1"
check_match "slipway prune during a build: refused too" "$("$SW" prune --root "$ROOT" 2>&1)" \
    'in use by a running build'
check "the slow build was still running during these checks" kill -0 "$bg_pid"
wait "$bg_pid"; rc=$?
bg_pid=
check_eq "the slow build succeeds" "$rc" "0"
check_eq "the slow build added its record" "$(nrecords)" "6"
verify "after the slow build"

# ---- cache prune --keep-storage 0: what only the cache keeps goes ---------------------------------
out=$("$SW" cache prune --root "$ROOT" --keep-storage 0 -f 2>&1); rc=$?
check_eq "cache prune --keep-storage 0" "$rc" "0"
check_match "keep-storage 0: lists what it deleted" "$out" 'Deleted build cache objects:'
check_match "keep-storage 0: the cache mount" "$out" '  mount +cli-test-cache'
check_match "keep-storage 0: a COPY record" "$out" '  copy +\[stage-0 2/4\] COPY a.txt /a.txt'
check_match "keep-storage 0: the reclaimed space" "$out" '^Total reclaimed space: [0-9.]+[kMG]?B$'
# the base image's records stay: their layers are the tagged image's, so they hold nothing of their own
check_eq "keep-storage 0: the base image's 2 records stay" "$(nrecords)" "2"
check_eq "keep-storage 0: no cache mount" "$(nmounts)" "0"
check_eq "keep-storage 0: nothing reclaimable is left" "$(json "$T/ls.json" "j['total']['reclaimable_bytes']")" "0"
verify "after prune --keep-storage 0"
out=$(build "$T/ctx"); rc=$?
check_eq "rebuild after --keep-storage 0 succeeds" "$rc" "0"
check_eq "rebuild after --keep-storage 0: nothing CACHED" "$(cached_steps "$out")" "0"
check_eq "the rebuild made the cache mount again" "$(nmounts)" "1"

# ---- cache prune --all: every record and cache mount ---------------------------------------------
out=$("$SW" cache prune --root "$ROOT" --all -f 2>&1); rc=$?
check_eq "cache prune --all" "$rc" "0"
check_eq "--all: no record left" "$(nrecords)" "0"
check_eq "--all: no cache mount left" "$(nmounts)" "0"
check_eq "--all: no snapshot but the base image's" \
    "$(ls "$ROOT/snapshots/overlay" | grep -cE '^[0-9a-f]{64}$')" "2"
verify "after prune --all"
out=$(build "$T/ctx"); rc=$?
check_eq "rebuild after --all succeeds" "$rc" "0"
check_eq "rebuild after --all: nothing CACHED" "$(cached_steps "$out")" "0"
out=$("$SW" build --root "$ROOT" --progress plain -t slipway-samples/busybox:latest "$T/bb" 2>&1); rc=$?
check_eq "the base image rebuilds after --all" "$rc" "0"
check_eq "the base image rebuild: nothing CACHED" "$(cached_steps "$out")" "0"

# ---- answering y, no filter: the default removes all of it ----------------------------------------
out=$(echo y | "$SW" cache prune --root "$ROOT" 2>&1); rc=$?
check_eq "answering y: pruned" "$rc" "0"
check_eq "answering y: no record left" "$(nrecords)" "0"
verify "at the end"

finish
