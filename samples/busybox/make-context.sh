#!/usr/bin/env bash
# Lay out a build context for the busybox base image, offline: Debian's busybox-static binary,
# one symlink per applet, and a minimal /etc. Usage: make-context.sh DIR
set -euo pipefail
out=${1:?usage: make-context.sh DIR}
bb=/bin/busybox
if ! "$bb" --list >/dev/null 2>&1 || ldd "$bb" >/dev/null 2>&1; then
    echo "make-context.sh: $bb is missing or not static; install busybox-static" >&2
    exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out/rootfs/bin" "$out/rootfs/etc" "$out/rootfs/root" "$out/rootfs/tmp" \
         "$out/rootfs/home/app" "$out/rootfs/usr/bin" "$out/rootfs/usr/sbin" "$out/rootfs/sbin"
cp "$bb" "$out/rootfs/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$out/rootfs/bin/$applet"
done
cat > "$out/rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$out/rootfs/etc/group" <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
chmod 1777 "$out/rootfs/tmp"
chmod 0700 "$out/rootfs/root"
cp "$here/Dockerfile" "$out/Dockerfile"
