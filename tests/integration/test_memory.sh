#!/usr/bin/env bash
# A 1 GiB single-file layer is streamed: slipway's peak memory stays under 64 MiB
# (measured with /usr/bin/time -v). Usage: test_memory.sh SLIPWAY SOURCE_DIR
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require /usr/bin/time time

T=$(mktemp -d /tmp/sw-mem-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/ctx"
truncate -s 1G "$T/ctx/big.bin"
printf 'FROM scratch\nCOPY big.bin /\n' > "$T/ctx/Dockerfile"
check "build a 1 GiB layer" /usr/bin/time -v -o "$T/time.txt" "$SW" build --root "$T/store" -q \
    -t big:latest "$T/ctx"
kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time.txt")
echo "peak RSS for a 1 GiB single-file layer: ${kb:-?} KiB"
check_match "peak RSS was measured" "${kb:-}" '^[0-9]+$'
check "peak RSS under 64 MiB" test "${kb:-999999}" -lt 65536
size=$("$SW" inspect --root "$T/store" big:latest |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["layers"][0]["size"])')
check_match "the layer is in the store" "$size" '^[0-9]+$'
finish
