#!/usr/bin/env bash
# ck on arm64, from an x86_64 Debian 12 machine, as root:
#  1. installs what it needs (cross compiler, arm64 -dev packages, QEMU),
#  2. cross-builds everything statically (tools/cross/aarch64-linux-gnu.ini, -Dstatic=true),
#  3. runs the unit tests under qemu-user (qemu-aarch64-static), which has no ptrace: the cases
#     that trace a child skip themselves there, and unit_pages (process_vm_readv, pagemap) is
#     left to the VM,
#  4. boots Debian's arm64 kernel (linux-image-cloud-arm64, fetched with apt-get download and
#     unpacked, never installed) in qemu-system-aarch64 with an initramfs of busybox and the
#     static binaries, and runs tests/aarch64/run.sh there: the unit tests again, with ptrace,
#     and the end-to-end tests; /init prints the result and powers the VM off.
# Prints each test, the FIGURE lines (256 MiB dump/restore times in the VM), and at the end
# "N passed, N failed" over both parts; exits 1 if anything failed or did not build.
# Environment: CK_AARCH64_BUILD (build directory, default build-aarch64), CK_AARCH64_CACHE
# (downloaded kernel and busybox, default /var/cache/ck-aarch64), CK_VM_TIMEOUT (seconds, 900),
# CK_VM_TESTS (comma-separated names: only those tests in the VM, e.g. "signals,unit_arch"),
# CK_VM_REPEAT (run the end-to-end tests that many times).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${CK_AARCH64_BUILD:-$SRC/build-aarch64}
CACHE=${CK_AARCH64_CACHE:-/var/cache/ck-aarch64}
VM_TIMEOUT=${CK_VM_TIMEOUT:-900}
T0=$SECONDS

say() { echo "=== $* ($((SECONDS - T0)) s)"; }

# ---- 1. packages ----------------------------------------------------------------------
say "packages"
KERNEL=$(bash tools/cross/setup-aarch64.sh | tail -1)
echo "guest kernel: $(basename "$KERNEL")"

# ---- 2. cross build -------------------------------------------------------------------
say "cross build"
if [ ! -f "$BUILD/build.ninja" ]; then
  setup_log=$(mktemp)
  # No debug info: half the compile time and a third of the initramfs.
  meson setup "$BUILD" --cross-file tools/cross/aarch64-linux-gnu.ini -Dstatic=true -Ddebug=false \
    >"$setup_log" 2>&1 ||
    { cat "$setup_log"; exit 1; }
fi
build_failed=0
# Only what the tests use (the benchmarks are not built: they would add a third to the time);
# -k 0: a target another change broke on arm64 is reported, the rest is still tested.
targets="src/ckdump src/ckrestore src/ckimage src/ckrun"
for p in memhog sigstate sockhold fpustate mteuse jitcode fdkinds mapkinds threads tree vdsocalls; do targets="$targets tests/progs/$p"; done
ninja -C "$BUILD" build.ninja >/dev/null  # reconfigured first if a meson.build changed: new unit tests
targets="$targets $(ninja -C "$BUILD" -t targets all | grep -o '^tests/unit/unit_[a-z0-9_]*' | sort -u | tr '\n' ' ')"
if ! nice ninja -C "$BUILD" -j "$(nproc)" -k 0 $targets >"$BUILD/ninja.log" 2>&1; then
  build_failed=1
  echo "BUILD FAILED:"
  grep -E '^FAILED|error:' "$BUILD/ninja.log" | head -20
fi
for exe in src/ckdump src/ckrestore src/ckimage; do
  [ -x "$BUILD/$exe" ] || { echo "$exe did not build" >&2; exit 1; }
done

# ---- 3. unit tests under qemu-user ----------------------------------------------------
say "unit tests under qemu-user"
passed=0
failed=0
for u in "$BUILD"/tests/unit/unit_*; do
  [ -f "$u" ] && [ -x "$u" ] || continue
  name=$(basename "$u")
  args=()
  case $name in
    unit_pages) continue ;;  # process_vm_readv and pagemap: VM only
    # qemu-user's own /proc/self/stat has fewer fields than a kernel's.
    unit_proc_parse) args=(--run_test='!reading/read_file_whole') ;;
    # qemu-user does not pass the timerfd ioctl TFD_IOC_SET_TICKS on (ENOSYS): the VM runs it.
    unit_event_fd) args=(--run_test='!objects_made_from_records') ;;
  esac
  if (cd "$BUILD" && timeout 600 qemu-aarch64-static "$u" "${args[@]}" >"$BUILD/$name.qemu.log" 2>&1); then
    passed=$((passed + 1))
    echo "PASS qemu-user $name"
  else
    failed=$((failed + 1))
    echo "FAIL qemu-user $name"
    tail -30 "$BUILD/$name.qemu.log" | sed 's/^/    /'
  fi
done

# ---- 4. initramfs ---------------------------------------------------------------------
say "initramfs"
ROOT="$BUILD/initramfs"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,tmp,ck/bin,ck/progs,ck/unit,ck/tests}
cp "$CACHE/root/bin/busybox" "$ROOT/bin/busybox"
cp "$BUILD"/src/{ckdump,ckrestore,ckimage} "$ROOT/ck/bin/"
for p in memhog sigstate sockhold fpustate mteuse jitcode fdkinds mapkinds threads tree vdsocalls; do
  cp "$BUILD/tests/progs/$p" "$ROOT/ck/progs/" || { echo "FAIL tests/progs/$p did not build"; failed=$((failed + 1)); }
done
for u in "$BUILD"/tests/unit/unit_*; do [ -f "$u" ] && [ -x "$u" ] && cp "$u" "$ROOT/ck/unit/"; done
cp tests/aarch64/*.sh "$ROOT/ck/tests/"
# The unit tests read their fixtures at the source path they were built with
# (CK_FIXTURES: $SRC/tests/unit/../fixtures); /init links that path to /ck/fixtures once its
# file systems are mounted (a source tree under /tmp would be hidden by the tmpfs).
cp -r tests/fixtures "$ROOT/ck/fixtures"
echo "$SRC" >"$ROOT/ck/srcdir"
cat >"$ROOT/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=90% tmpfs /tmp
src=$(cat /ck/srcdir)
mkdir -p "$src/tests/unit" && ln -s /ck/fixtures "$src/tests/fixtures"
hostname ck-arm64
# The cross-CPU test's image, made by the first VM (see the end of this script).
[ -f /xcpu.tar.gz ] && mkdir -p /tmp/xcpu && gzip -dc /xcpu.tar.gz | tar xf - -C /tmp/xcpu
echo "CK-VM: booted in $(awk '{print $1}' /proc/uptime) s"
sh /ck/tests/run.sh 2>&1 | tee /tmp/result.log
echo "CK-VM-RESULT: $(tail -1 /tmp/result.log)"
poweroff -f
EOF
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$BUILD/initramfs.cpio.gz"
echo "initramfs: $(du -h "$BUILD/initramfs.cpio.gz" | cut -f1)"

# ---- 5. the VMs ------------------------------------------------------------------------
# -cpu max with the implementation-defined PAC algorithm (the QARMA ones are 3-4x slower to
# emulate), SVE up to 512 bits, MTE (mte=on) so that its refusal is tested; kpti=0: no
# page-table isolation to emulate; -nic none: no network.
# boot_vm NAME MACHINE CPU INITRD APPEND: the guest's console in $BUILD/vm-NAME.log (shown
# filtered); adds its "N passed, N failed" to the totals.
boot_vm() {
  local name=$1 machine=$2 cpu=$3 initrd=$4 append=$5 log="$BUILD/vm-$1.log" result
  say "booting arm64 VM ($name: -M $machine -cpu $cpu)"
  timeout "$VM_TIMEOUT" qemu-system-aarch64 -M "$machine" -cpu "$cpu" -smp 2 -m 2048 \
    -nographic -nic none -no-reboot -kernel "$KERNEL" -initrd "$initrd" \
    -append "console=ttyAMA0 rdinit=/init kpti=0 panic=-1 quiet loglevel=3 $append" </dev/null 2>&1 |
    sed -u 's/\r//g' | tee "$log" | grep --line-buffered -E '^(PASS|FAIL|FIGURE|    |CK-VM|kernel|cpu features)' || true
  result=$(sed -n 's/^CK-VM-RESULT: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log")
  if [ -z "$result" ]; then
    echo "FAIL the $name VM gave no result (timeout or crash): see $log"
    tail -20 "$log"
    failed=$((failed + 1))
  else
    passed=$((passed + ${result% *}))
    failed=$((failed + ${result#* }))
  fi
}

xcpu=
case ",${CK_VM_TESTS:-xcpu}," in *,xcpu,*) xcpu=" ck.xcpu=export" ;; esac
boot_vm main virt,mte=on max,pauth-impdef=on,sve-max-vq=4 "$BUILD/initramfs.cpio.gz" \
  "${CK_VM_TESTS:+ck.tests=$CK_VM_TESTS}${CK_VM_REPEAT:+ ck.repeat=$CK_VM_REPEAT}$xcpu"

# The cross-CPU test: the image the first VM printed, restored on a Cortex-A72 (Armv8.0: no SVE,
# no pointer authentication), must be refused.
sed -n '/^CK-IMAGE-BEGIN$/,/^CK-IMAGE-END$/p' "$BUILD/vm-main.log" | sed '1d;$d' | base64 -d >"$BUILD/xcpu.tar.gz" 2>/dev/null || true
if [ -s "$BUILD/xcpu.tar.gz" ]; then
  cp "$BUILD/xcpu.tar.gz" "$ROOT/xcpu.tar.gz"
  (cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$BUILD/initramfs-xcpu.cpio.gz"
  boot_vm xcpu virt cortex-a72 "$BUILD/initramfs-xcpu.cpio.gz" "ck.xcpu=restore"
elif [ -n "$xcpu" ]; then
  echo "FAIL xcpu: the first VM printed no image"
  failed=$((failed + 1))
fi

failed=$((failed + build_failed))
say "done"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
