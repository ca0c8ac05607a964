#!/usr/bin/env bash
# What the arm64 tests need on an x86_64 Debian 12 machine, as root, idempotent:
# the cross compiler and arm64 multiarch -dev packages (dpkg --add-architecture arm64), QEMU
# (qemu-system-arm for the VM, qemu-user-static for the unit tests), and, for the guest, Debian's
# arm64 cloud kernel and busybox-static: fetched with apt-get download and unpacked into
# $CK_AARCH64_CACHE/root (default /var/cache/ck-aarch64), never installed.
# Used by tools/aarch64-vm-test.sh; prints the guest kernel's path last.
set -euo pipefail
CACHE=${CK_AARCH64_CACHE:-/var/cache/ck-aarch64}
updated=0
update() { [ "$updated" = 1 ] || { apt-get update -q >/dev/null; updated=1; }; }

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  update
fi
pkgs="g++-aarch64-linux-gnu qemu-system-arm qemu-user-static cpio meson ninja-build pkg-config
      libzstd-dev:arm64 libxxhash-dev:arm64 libelf-dev:arm64 libcap-dev:arm64 zlib1g-dev:arm64
      libboost-test-dev:arm64"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "setup-aarch64: installing" $missing >&2
  update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

mkdir -p "$CACHE"
fetch() {  # fetch PACKAGE: its arm64 .deb downloaded and unpacked into $CACHE/root, once
  local pkg=$1 deb
  deb=$(ls "$CACHE"/"${pkg%%:*}"_*_arm64.deb 2>/dev/null | tail -1 || true)
  [ -n "$deb" ] && [ -e "$CACHE/root/.${pkg%%:*}" ] && return 0
  if [ -z "$deb" ]; then
    (cd "$CACHE" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
      { update; (cd "$CACHE" && apt-get download -q "$pkg" >/dev/null); } ||
      { echo "setup-aarch64: apt-get download $pkg failed" >&2; exit 1; }
    deb=$(ls "$CACHE"/"${pkg%%:*}"_*_arm64.deb | tail -1)
  fi
  dpkg -x "$deb" "$CACHE/root"
  touch "$CACHE/root/.${pkg%%:*}"
}
kpkg() { apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
KPKG=$(kpkg)
[ -n "$KPKG" ] || { update; KPKG=$(kpkg); }
[ -n "$KPKG" ] || { echo "setup-aarch64: cannot resolve linux-image-cloud-arm64" >&2; exit 1; }
fetch "${KPKG%%:*}:arm64"
fetch busybox-static:arm64
kernel=$(ls "$CACHE"/root/boot/vmlinuz-* | tail -1)
[ -x "$CACHE/root/bin/busybox" ] || { echo "setup-aarch64: no busybox in $CACHE/root" >&2; exit 1; }
echo "$kernel"
