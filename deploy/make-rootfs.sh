#!/bin/sh
# Lays out the runtime image's files around a static sipphone binary. Used
# by the Dockerfile's build stage and, on a machine without a Docker
# engine, by scripts/container-check.sh, so both images have one layout:
#
#   DEST/root/   owned by root: /usr/local/bin/sipphone, /etc/passwd and
#                /etc/group with the unprivileged user sipphone (uid/gid
#                10001), /etc/sip_phone/ for the configuration, /tmp
#   DEST/state/  becomes /var/lib/sipphone (the state file), owned by the user
#   DEST/logs/   becomes /var/log/sip_phone (log files), owned by the user
#
# The writable directories are separate because COPY sets ownership only
# on what it creates: the Dockerfile copies them with --chown.
#
#   deploy/make-rootfs.sh BINARY DEST
set -eu
bin=$1
dest=$2
uid=10001

rm -rf "$dest"
root=$dest/root
# /var/lib and /var/log exist (root-owned) before the writable directories
# are copied into them, so only those get the user's ownership.
mkdir -p "$root/usr/local/bin" "$root/etc/sip_phone" "$root/tmp" "$root/var/lib" "$root/var/log" "$dest/state" "$dest/logs"
cp "$bin" "$root/usr/local/bin/sipphone"
chmod 0755 "$root/usr/local/bin/sipphone"
chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
sipphone:x:$uid:$uid:sipphone:/var/lib/sipphone:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<GROUP
root:x:0:
sipphone:x:$uid:
nogroup:x:65534:
GROUP
# Some COPY implementations skip empty directories; a marker keeps them.
touch "$dest/state/.keep" "$dest/logs/.keep"
