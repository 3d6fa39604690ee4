#!/usr/bin/env bash
# The layer cache end to end: a change of content, mode, owner, a build arg or an ENV used by a
# RUN causes exactly the expected misses; touch alone causes none; --explain-cache names the
# cause each time; --no-cache and --no-cache-filter; COPY --from a rebuilt stage hits when the
# files are identical; 8 concurrent builds on one store share hits and leave a store that
# verifies. Usage: test_cache.sh SLIPWAY SOURCE_DIR
set -uo pipefail
export LC_ALL=C
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"

T=$(mktemp -d /tmp/sw-cache-XXXXXX)
trap 'rm -rf "$T"' EXIT
ROOT=$T/store

check "busybox context" "$SRC/samples/busybox/make-context.sh" "$T/bb"
check "busybox base" "$SW" build --root "$ROOT" -q -t slipway-samples/busybox:latest "$T/bb"

C=$T/ctx
mkdir -p "$C/dir"
echo one > "$C/a.txt"
echo two > "$C/dir/b.txt"
write_df() {
    cat > "$C/Dockerfile" <<DF
FROM slipway-samples/busybox:latest AS tool
ARG TOOL_OWNER=0
RUN mkdir /out && echo tool > /out/t && chown \$TOOL_OWNER /out/t
RUN echo "rebuilt \$(head -c 16 /dev/urandom | od -An -tx1)" > /stamp

FROM slipway-samples/busybox:latest
COPY --chown=${2:-0} a.txt /a.txt
ENV MODE=${1:-x}
RUN echo "\$MODE" > /mode.txt
COPY dir /dir
ARG N=1
RUN echo "\$N" > /n.txt
COPY --from=tool /out /out
RUN --mount=from=tool,source=/out,target=/o ls -ln /o > /owners.txt
DF
}
write_df x

# build: the plain log's step lines, as "name:STATUS" (DONE or CACHED) for the layer steps
build() {
    local log
    log=$("$SW" build --root "$ROOT" --progress plain --explain-cache "$@" "$C" 2>&1)
    local rc=$?
    echo "$log" > "$T/last.log"
    [ "$rc" = 0 ] || { echo "build failed: $log" >&2; return 1; }
    echo "$log" | awk '
        /^#[0-9]+ \[/ { id = $1; name = $0; sub(/^#[0-9]+ \[[^]]*\] /, "", name); n[id] = name }
        /^#[0-9]+ (DONE|CACHED)/ { if (n[$1] ~ /^(COPY|RUN|ADD|WORKDIR)/) printf "%s=%s\n", n[$1], $2 }' |
        sed -E 's/^(COPY|RUN) ([^ ]*( [^ ]*)?).*=/\1 \2=/' | sort
}
misses() { build "$@" | grep -v '=CACHED$' | sed 's/=DONE$//' | sort | tr '\n' ';'; }

B='RUN --mount=from=tool,source=/out,target=/o ls'
first=$(misses)
check_eq "a cold build runs every step" "$first" "COPY --chown=0 a.txt;COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$MODE\";RUN echo \"\$N\";RUN echo \"rebuilt;RUN mkdir /out;"
check_eq "a no-op rebuild misses nothing" "$(misses)" ""
touch "$C/a.txt" "$C/dir/b.txt" "$C/Dockerfile"
check_eq "touch alone misses nothing" "$(misses)" ""
# a no-op rebuild reads no file of the context and unpacks no layer (files changed within the
# stat cache's racy window, 100 ms, are read again: wait that out first)
sleep 0.3
misses >/dev/null
rm -rf "$ROOT"/snapshots/*/*
require strace strace
strace -f -qq -e trace=openat,open -o "$T/trace" "$SW" build --root "$ROOT" -q "$C" >/dev/null 2>&1
check_eq "a no-op rebuild opens no context file" "$(grep -cE "\"$C/(a.txt|dir/b.txt)\"" "$T/trace")" "0"
check_eq "a no-op rebuild unpacks no layer" "$(find "$ROOT"/snapshots -mindepth 2 -maxdepth 2 | wc -l)" "0"

echo ONE > "$C/a.txt"
check_eq "a content change misses the COPY and the steps after it" "$(misses)" "COPY --chown=0 a.txt;COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$MODE\";RUN echo \"\$N\";"
check_match "--explain-cache names the file" "$(cat "$T/last.log")" 'cache miss:   a.txt: content changed'

chmod 0600 "$C/dir/b.txt"
check_eq "a mode change misses from that COPY on" "$(misses)" "COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$N\";"
check_match "--explain-cache names the mode change" "$(cat "$T/last.log")" 'dir/b.txt: mode changed \(0644 0:0 -> 0600 0:0\)'

check_eq "a build arg misses the RUN that sees it and the steps after it" "$(misses --build-arg N=2)" "COPY --from=tool /out;$B;RUN echo \"\$N\";"
check_match "--explain-cache names the argument" "$(cat "$T/last.log")" 'now     arg \[0\] N=2'

write_df y
check_eq "an ENV change misses the RUN that uses it and the steps after it" "$(misses --build-arg N=2)" "COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$MODE\";RUN echo \"\$N\";"
check_match "--explain-cache names the ENV" "$(cat "$T/last.log")" 'now     env \[[0-9]+\] MODE=y'

write_df y 1000
check_eq "a --chown change misses that COPY and the steps after it" "$(misses --build-arg N=2)" "COPY --chown=1000 a.txt;COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$MODE\";RUN echo \"\$N\";"
check_match "--explain-cache names the option" "$(cat "$T/last.log")" 'now     options chown=1000'

# an owner change inside a stage: COPY --from resets owners (it hits), a bind mount shows them
check_eq "an owner change in a stage misses the bind mount that shows it" "$(misses --build-arg N=2 --build-arg TOOL_OWNER=1000)" "$B;RUN echo \"rebuilt;RUN mkdir /out;"
check_match "--explain-cache names the owner change" "$(cat "$T/last.log")" 't: owner changed'

# the tool stage's second RUN always writes a new stamp: --no-cache-filter rebuilds that stage,
# and the steps reading /out from it still hit because /out is byte-identical
check_eq "--no-cache-filter rebuilds only that stage; what reads identical files from it hits" "$(misses --build-arg N=2 --build-arg TOOL_OWNER=1000 --no-cache-filter tool)" "RUN echo \"rebuilt;RUN mkdir /out;"
check_eq "--no-cache runs every step" "$(misses --build-arg N=2 --build-arg TOOL_OWNER=1000 --no-cache)" "COPY --chown=1000 a.txt;COPY --from=tool /out;COPY dir /dir;$B;RUN echo \"\$MODE\";RUN echo \"\$N\";RUN echo \"rebuilt;RUN mkdir /out;"

# a hit reuses the layer: the tool stage's last RUN writes a new stamp whenever it runs, so with
# a fixed SOURCE_DATE_EPOCH two builds give the same image only if the second one hit it
d1=$(SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" -q --target tool --build-arg TOOL_OWNER=1000 "$C")
d2=$(SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" -q --target tool --build-arg TOOL_OWNER=1000 "$C")
d3=$(SOURCE_DATE_EPOCH=1700000000 "$SW" build --root "$ROOT" -q --no-cache --target tool --build-arg TOOL_OWNER=1000 "$C")
check_eq "a cached rebuild gives the same image" "$d2" "$d1"
check_eq "  ...which it would not without the cache (the check can fail)" "$([ "$d3" != "$d1" ] && echo differs)" "differs"

# without SOURCE_DATE_EPOCH too: a fully cached rebuild, a second later, is the same image (its
# steps keep the times of the build that made them)
e1=$("$SW" build --root "$ROOT" -q --build-arg N=2 --build-arg TOOL_OWNER=1000 "$C")
sleep 1.1
e2=$("$SW" build --root "$ROOT" -q --build-arg N=2 --build-arg TOOL_OWNER=1000 "$C")
check_eq "a fully cached rebuild later is the same image" "$e2" "$e1"

# --normalize-perms: a group write bit does not change the key
misses --normalize-perms --build-arg N=2 --build-arg TOOL_OWNER=1000 >/dev/null
chmod g+w "$C/a.txt"
check_eq "--normalize-perms: a group bit change misses nothing" "$(misses --normalize-perms --build-arg N=2 --build-arg TOOL_OWNER=1000)" ""
check_match "without it, the same change misses" "$(misses --build-arg N=2 --build-arg TOOL_OWNER=1000)" 'COPY --chown=1000 a.txt'

# ---- 8 builds at once on one store ------------------------------------------------------------
for i in $(seq 8); do
    mkdir -p "$T/p$i"
    printf 'shared\n' > "$T/p$i/shared.txt"
    printf 'own %s\n' "$i" > "$T/p$i/own.txt"
    printf 'FROM slipway-samples/busybox:latest\nCOPY shared.txt /s\nRUN cat /s > /copy\nCOPY own.txt /o\nRUN cat /o > /own-copy\n' > "$T/p$i/Dockerfile"
done
pids=()
for i in $(seq 8); do
    "$SW" build --root "$ROOT" --progress plain -t "par$i:latest" "$T/p$i" > "$T/par$i.log" 2>&1 &
    pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check_eq "8 concurrent builds succeed" "$ok" "8"
check "the store verifies after 8 concurrent builds" "$SW" verify --root "$ROOT"
# now every build's shared steps are recorded: a second round hits them all
for i in $(seq 8); do
    "$SW" build --root "$ROOT" --progress plain -t "par$i:latest" "$T/p$i" > "$T/par$i.log" 2>&1 &
    pids[$((i - 1))]=$!
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check_eq "8 concurrent rebuilds succeed" "$ok" "8"
check_eq "every step of the 8 rebuilds is a hit" "$(cat "$T"/par*.log | grep -c ' CACHED')" "32"
check "the store verifies after the rebuilds" "$SW" verify --root "$ROOT"
for i in $(seq 8); do
    "$SW" inspect --root "$ROOT" "par$i:latest" > /dev/null 2>&1 || echo "par$i missing" >&2
done
check_eq "every tag resolves" "$(for i in $(seq 8); do "$SW" inspect --root "$ROOT" "par$i:latest" >/dev/null 2>&1 && echo ok; done | wc -l)" "8"
finish
