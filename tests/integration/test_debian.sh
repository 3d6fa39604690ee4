#!/usr/bin/env bash
# A real distribution end to end: a Debian 12 minbase made by debootstrap (from the mirror this
# machine's apt sources use) becomes a base image (FROM scratch + COPY rootfs/ /), and a build FROM
# it installs a package with apt-get over the network. Usage: test_debian.sh SLIPWAY SOURCE_DIR
#
# The debootstrap result is cached in ${SLIPWAY_TEST_CACHE:-/var/cache/slipway-tests}, made
# atomically (a temporary directory renamed into place), so later runs (both build configurations
# run the suite) reuse it. Delete the cache directory to bootstrap afresh.
set -uo pipefail
SW=$1
SRC=$2
. "$SRC/tests/integration/lib.sh"
require python3 python3
require debootstrap debootstrap

if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL: test_debian.sh needs root (debootstrap and RUN steps)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
# abort MESSAGE: nothing later can run without what just failed
abort() {
    fail "$*"
    finish
    exit 1
}

T=$(mktemp -d /tmp/sw-debian-XXXXXX)
CACHE_ROOT=${SLIPWAY_TEST_CACHE:-/var/cache/slipway-tests}
BASE=$CACHE_ROOT/debian-bookworm-minbase
tmp_base=
trap 'rm -rf "$T"; [ -z "$tmp_base" ] || rm -rf "$tmp_base"' EXIT
ROOT=$T/store
mounts_before=$(grep -c " $T" /proc/mounts)

# The first enabled "deb" source of this machine's apt configuration that serves the suite
# bookworm with the component main: the only package mirror the machine is known to reach.
apt_mirror() {
    python3 - <<'PY'
import glob, os, sys
def one_line(path):
    for line in open(path, errors="replace"):
        w = line.split("#", 1)[0].split()
        if not w or w[0] != "deb":
            continue
        w = w[1:]
        if w and w[0].startswith("["):
            while w and not w[0].endswith("]"):
                w = w[1:]
            w = w[1:]
        if len(w) >= 3 and w[1] == "bookworm" and "main" in w[2:]:
            yield w[0]
def deb822(path):
    stanza = {}
    key = None
    lines = open(path, errors="replace").read().split("\n") + [""]
    for line in lines:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                f = {k.lower(): v.split() for k, v in stanza.items()}
                if ("deb" in f.get("types", []) and "bookworm" in f.get("suites", [])
                        and "main" in f.get("components", [])
                        and f.get("enabled", ["yes"])[0].lower() != "no"):
                    yield from f.get("uris", [])
            stanza, key = {}, None
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            stanza[key] = value.strip()
files = []
if os.path.exists("/etc/apt/sources.list"):
    files.append(("one", "/etc/apt/sources.list"))
for p in sorted(glob.glob("/etc/apt/sources.list.d/*")):
    if p.endswith(".list"):
        files.append(("one", p))
    elif p.endswith(".sources"):
        files.append(("822", p))
for kind, p in files:
    for uri in (one_line(p) if kind == "one" else deb822(p)):
        if uri.startswith(("http://", "https://")):
            print(uri)
            sys.exit(0)
sys.exit(1)
PY
}

# the cached minbase, bootstrapped once
if [ ! -x "$BASE/usr/bin/apt-get" ]; then
    mirror=$(apt_mirror) ||
        abort "no http(s) apt source for bookworm main in /etc/apt/sources.list{,.d/*}"
    mkdir -p "$CACHE_ROOT" || abort "cannot create the cache directory $CACHE_ROOT"
    tmp_base=$(mktemp -d "$CACHE_ROOT/.debian-bookworm-minbase.XXXXXX") ||
        abort "cannot create a temporary directory in $CACHE_ROOT"
    echo "debootstrap --variant=minbase bookworm from $mirror (cached in $BASE)"
    t0=$(date +%s)
    if ! debootstrap --variant=minbase bookworm "$tmp_base" "$mirror" >"$T/debootstrap.out" 2>&1; then
        tail -n 20 "$T/debootstrap.out" >&2
        [ -f "$tmp_base/debootstrap/debootstrap.log" ] &&
            tail -n 20 "$tmp_base/debootstrap/debootstrap.log" >&2
        abort "debootstrap --variant=minbase bookworm $mirror failed (is the mirror reachable?)"
    fi
    echo "debootstrap took $(($(date +%s) - t0))s"
    # another run may have won the race; its result is as good as ours
    if mv -T "$tmp_base" "$BASE" 2>/dev/null; then
        tmp_base=
    else
        [ -x "$BASE/usr/bin/apt-get" ] || abort "cannot rename the bootstrapped tree to $BASE"
    fi
else
    echo "reusing the cached minbase $BASE"
fi
check "the cached minbase is Debian 12" grep -q '^12\.' "$BASE/etc/debian_version"

# the base image: the tree as it is
mkdir -p "$T/base"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["bash"]\n' > "$T/base/Dockerfile"
cp -a "$BASE" "$T/base/rootfs" || abort "cannot copy $BASE into the build context"
t0=$(date +%s)
check "the Debian base image builds" \
    "$SW" build --root "$ROOT" -q -t slipway-tests/debian:bookworm "$T/base"
echo "the base image took $(($(date +%s) - t0))s"
rm -rf "$T/base/rootfs"

# apt-get over the network in RUN steps
mkdir -p "$T/ctx"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM slipway-tests/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
RUN hello > /hello.txt
DF
t0=$(date +%s)
out=$("$SW" build --root "$ROOT" --progress plain -t debian:hello -o "type=local,dest=$T/out" \
    "$T/ctx" 2>&1)
rc=$?
echo "the apt-get build took $(($(date +%s) - t0))s"
check_eq "the apt-get build succeeds" "$rc" "0"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 40 | sed 's/^/    /' >&2
R=$T/out
check_eq "hello ran in a RUN step" "$(cat "$R/hello.txt" 2>&1)" "Hello, world!"
check "/usr/bin/hello is installed" test -x "$R/usr/bin/hello"
check_match "dpkg lists hello as installed" \
    "$(grep -A1 '^Package: hello$' "$R/var/lib/dpkg/status" 2>&1)" 'Status: install ok installed'
check "/var/lib/apt/lists exists" test -d "$R/var/lib/apt/lists"
check_eq "/var/lib/apt/lists is empty" "$(ls -A "$R/var/lib/apt/lists" 2>&1)" ""
runs=$("$SW" inspect --root "$ROOT" debian:hello | python3 -c '
import json, sys
h = json.load(sys.stdin)[0]["Config"]["history"]
print("\n".join(e.get("created_by", "") for e in h if e.get("created_by", "").startswith("RUN ")))')
check_eq "the history has two RUN entries" "$(printf '%s\n' "$runs" | grep -c '^RUN ')" "2"
check_match "the first RUN is the apt-get one" "$(printf '%s\n' "$runs" | head -n 1)" \
    'apt-get install -y --no-install-recommends hello'
check_match "the second RUN is hello" "$(printf '%s\n' "$runs" | tail -n 1)" 'hello > /hello.txt'
check_eq "no mount left behind" "$(grep -c " $T" /proc/mounts)" "$mounts_before"
check "the store verifies" "$SW" verify --root "$ROOT"
finish
