#!/usr/bin/env bash
# bench/compress.sh: the layer compressors side by side, then whole builds. See docs/layers.md
# ("Fast gzip") for the figures and what they mean.
#
# 1. Makes a mixed context of SIZE MiB: half random bytes (80% in 4 large files, the rest in
#    64 KiB files, like bench/run.sh's cold-copy-large), half compressible (C headers from
#    /usr/include and shared objects from /usr/lib/x86_64-linux-gnu, copied until the half is
#    full), and a tar of it.
# 2. Compresses that tar with slipway's gzip (tests/test_layer_gzip --compress: libdeflate on
#    worker threads) at levels 1, 6 and 9, with one thread and without the stored fast path, and
#    with GNU gzip -6, pigz -1/-6/-9 and zstd -3 (-T0 too): best wall time of RUNS, MB/s of
#    input, CPU seconds, output bytes and output/input ratio. Every output is decompressed and
#    compared with the input.
# 3. Times `slipway build` of `COPY . /data` (no cache) over the mixed context and over SIZE MiB
#    of random data, with --compression gzip, zstd and none: best wall time and peak RSS.
#
# Usage: bench/compress.sh [--size MiB] [--runs N] [--build-dir DIR] [--tmp DIR] [--no-builds]
#
# The machine should be otherwise idle: the figures are wall times. Needs GNU time
# (/usr/bin/time) and gzip; pigz and zstd are skipped when missing. The slipway binaries come from
# --build-dir (default build/release; built there when missing).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
size_mib=500
runs=3
build_dir=$here/build/release
tmp_base=${TMPDIR:-/var/tmp}
do_builds=1
while [ $# -gt 0 ]; do
    case $1 in
        --size) size_mib=${2:?--size needs a number}; shift 2 ;;
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
        --tmp) tmp_base=${2:?--tmp needs a directory}; shift 2 ;;
        --no-builds) do_builds=0; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compress.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $size_mib in ''|*[!0-9]*|0) echo "compress.sh: --size needs a positive number" >&2; exit 2 ;; esac
case $runs in ''|*[!0-9]*|0) echo "compress.sh: --runs needs a positive number" >&2; exit 2 ;; esac
log() { echo "compress.sh: $*" >&2; }

GT=/usr/bin/time
[ -x "$GT" ] || { echo "compress.sh: needs GNU time (/usr/bin/time; Debian package time)" >&2; exit 1; }
if [ ! -x "$build_dir/tests/test_layer_gzip" ] || [ ! -x "$build_dir/builder/slipway" ]; then
    log "building test_layer_gzip and slipway in $build_dir"
    cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build "$build_dir" -j"$(nproc)" --target test_layer_gzip slipway >/dev/null || exit 1
fi
T=$(mktemp -d "$tmp_base/slipway-compress.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cp "$build_dir/tests/test_layer_gzip" "$T/sw-gzip" && cp "$build_dir/builder/slipway" "$T/slipway" ||
    exit 1
cpus=$(nproc)

# ---- the contexts -------------------------------------------------------------------------------
half=$((size_mib * 1024 * 1024 / 2))
random_part() {  # DIR BYTES: 80% in 4 files, 20% in 64 KiB files in 16 directories
    local dir=$1 bytes=$2 i
    mkdir -p "$dir/big"
    for i in 1 2 3 4; do head -c $((bytes / 5)) /dev/urandom >"$dir/big/blob$i.bin" || exit 1; done
    for i in $(seq 1 16); do
        mkdir -p "$dir/small/dir$i"
        head -c $((bytes / 5 / 16)) /dev/urandom |
            split -b 65536 -a 4 -d - "$dir/small/dir$i/part" || exit 1
    done
}
log "making the ${size_mib} MiB mixed context"
mixed=$T/mixed
random_part "$mixed/random" "$half"
mkdir -p "$mixed/compressible"
# headers, then shared objects, in a fixed order, until `half` bytes are copied
{ find /usr/include -type f -name '*.h' -printf '%s\t%p\n' | LC_ALL=C sort -t$'\t' -k2
  find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' -printf '%s\t%p\n' |
      LC_ALL=C sort -t$'\t' -k2; } |
    awk -F'\t' -v limit="$half" '{ if (total + $1 <= limit) { total += $1; print $2 } }' |
    xargs -r -d '\n' cp --parents -t "$mixed/compressible" || exit 1
printf 'FROM scratch\nCOPY . /data\n' >"$mixed/Dockerfile"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$mixed" -cf "$T/mixed.tar" . ||
    exit 1
in_bytes=$(stat -c %s "$T/mixed.tar")
text_bytes=$(du -sb "$mixed/compressible" | cut -f1)
log "mixed.tar: $in_bytes bytes ($text_bytes compressible)"

# ---- compressors --------------------------------------------------------------------------------
# measure NAME CMD...: CMD reads $T/mixed.tar on stdin and writes to stdout
printf '\n### Compressing a %d MiB mixed tar (%s bytes; %d%% compressible) on %d CPUs\n\n' \
    "$size_mib" "$in_bytes" $((text_bytes * 100 / in_bytes)) "$cpus"
printf '| compressor | threads | MB/s | CPU s | output bytes | ratio |\n|---|---|---|---|---|---|\n'
measure() {
    local name=$1 threads=$2; shift 2
    local best="" cpu="" i secs
    for i in $(seq "$runs"); do
        sync
        if ! "$GT" -f '%e %U %S' -o "$T/t.txt" "$@" <"$T/mixed.tar" >"$T/out.bin" 2>/dev/null; then
            log "$name failed"; return
        fi
        secs=$(awk '{ print $1 }' "$T/t.txt")
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$secs
            cpu=$(awk '{ printf "%.1f", $2 + $3 }' "$T/t.txt")
        fi
    done
    local out_bytes
    out_bytes=$(stat -c %s "$T/out.bin")
    case $name in
        *zstd*) zstd -dc "$T/out.bin" | cmp -s - "$T/mixed.tar" ;;
        *) gzip -dc "$T/out.bin" | cmp -s - "$T/mixed.tar" ;;
    esac || { log "$name: the output does not decompress to the input"; exit 1; }
    awk -v n="$name" -v t="$threads" -v s="$best" -v c="$cpu" -v i="$in_bytes" -v o="$out_bytes" \
        'BEGIN { if (s < 0.01) s = 0.01
                 printf "| %s | %s | %.0f | %s | %d | %.4f |\n", n, t, i / s / 1e6, c, o, o / i }'
}
for l in 1 6 9; do measure "slipway gzip -$l" "$cpus" "$T/sw-gzip" --compress -l "$l"; done
measure "slipway gzip -6" 1 "$T/sw-gzip" --compress -l 6 -t 1
measure "slipway gzip -6, no stored fast path" "$cpus" "$T/sw-gzip" --compress -l 6 --no-store
command -v gzip >/dev/null && measure "gzip -6 (GNU gzip)" 1 gzip -6 -c
if command -v pigz >/dev/null; then
    for l in 1 6 9; do measure "pigz -$l" "$cpus" pigz -"$l" -c; done
fi
if command -v zstd >/dev/null; then
    measure "zstd -3" 1 zstd -3 -q -c
    measure "zstd -3 -T0" "$cpus" zstd -3 -T0 -q -c
fi

[ $do_builds -eq 1 ] || exit 0

# ---- whole builds -------------------------------------------------------------------------------
log "making the ${size_mib} MiB random context"
rnd=$T/random
random_part "$rnd" $((size_mib * 1024 * 1024))
printf 'FROM scratch\nCOPY . /data\n' >"$rnd/Dockerfile"
printf '\n### slipway build: COPY . /data, no cache, %d CPUs\n\n' "$cpus"
printf '| context | compression | wall s | peak RSS MiB | blob MiB |\n|---|---|---|---|---|\n'
for ctx in mixed random; do
    for c in gzip zstd none; do
        best="" rss=0
        for i in $(seq "$runs"); do
            rm -rf "$T/root"
            sync
            if ! "$GT" -v -o "$T/t.txt" "$T/slipway" build --root "$T/root" -q --compression "$c" \
                    "$T/$ctx" >"$T/build.log" 2>&1; then
                log "build of $ctx with $c failed:"; tail -5 "$T/build.log" >&2; continue
            fi
            secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
                     for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$T/t.txt")
            r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/t.txt")
            [ "$r" -gt "$rss" ] && rss=$r
            if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
                best=$secs
            fi
        done
        blob=$(find "$T/root" -type f -size +1M -printf '%s\n' 2>/dev/null | sort -n | tail -1)
        awk -v x="$ctx" -v c="$c" -v s="${best:-nan}" -v r="$rss" -v b="${blob:-0}" \
            'BEGIN { printf "| %s | %s | %.2f | %.0f | %.0f |\n", x, c, s, r / 1024, b / 1048576 }'
    done
done
