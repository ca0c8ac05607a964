# The arm64 suite inside the VM (busybox sh), run by the VM's /init: the unit tests that need a
# real kernel (ptrace, pagemap, process_vm_readv), then the end-to-end tests. Each prints
# "PASS name (N s)" or "FAIL name" with its log; the last line is "N passed, N failed".
# Layout (made by tools/aarch64-vm-test.sh): /ck/bin (ck commands), /ck/progs, /ck/unit,
# /ck/tests (this directory).
export CKDUMP=/ck/bin/ckdump CKRESTORE=/ck/bin/ckrestore CKIMAGE=/ck/bin/ckimage PROGS=/ck/progs
passed=0
failed=0

now() { awk '{print $1}' /proc/uptime; }

# run NAME SECONDS CMD...: one test, its output kept and shown when it fails.
run() {
  _name=$1 _limit=$2
  shift 2
  _t0=$(now)
  _rc=0
  timeout "$_limit" "$@" >/tmp/test.log 2>&1 || _rc=$?
  _dt=$(awk -v a="$_t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$_rc" = 0 ]; then
    passed=$((passed + 1))
    echo "PASS $_name (${_dt} s)"
    grep -E '^FIGURE|^--- as expected|test cases? out of|skipped because' /tmp/test.log | sed 's/^ */    /' || true
    sed -n '/^CK-IMAGE-BEGIN$/,/^CK-IMAGE-END$/p' /tmp/test.log
  else
    failed=$((failed + 1))
    echo "FAIL $_name (exit $_rc after ${_dt} s)"
    tail -40 /tmp/test.log | sed 's/^/    /'
  fi
}

echo "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, $(awk '/MemTotal/ {print $2 / 1024 " MiB"}' /proc/meminfo)"
echo "cpu features: $(grep -m1 '^Features' /proc/cpuinfo | cut -d: -f2)"

# ck.tests=a,b on the kernel command line (CK_VM_TESTS of the script) picks tests by name.
only=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^ck\.tests=//p' | tr ',' ' ')
wanted() { [ -z "$only" ] || echo " $only " | grep -q " $1 "; }

if grep -qw 'ck.xcpu=restore' /proc/cmdline; then
  run xcpu_restore 120 sh /ck/tests/xcpu_restore.sh
  echo "$passed passed, $failed failed"
  exit 0
fi
for u in /ck/unit/unit_*; do
  wanted "$(basename "$u")" && run "$(basename "$u")" 300 "$u" --report_level=short
done
# ck.repeat=N (CK_VM_REPEAT): the end-to-end tests N times, to shake out timing-dependent bugs.
repeat=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^ck\.repeat=//p')
i=0
while [ "$i" -lt "${repeat:-1}" ]; do
  for t in counter memhog256 signals fpu leave_running threads tree jit unsupported mte fault vdso_proxy; do
    wanted "$t" && run "$t" 300 sh "/ck/tests/$t.sh"
  done
  i=$((i + 1))
done
# The cross-CPU test: xcpu_export.sh in the first VM, xcpu_restore.sh in a second one with an
# older CPU (ck.xcpu=restore), where it is the only test.
case " $(cat /proc/cmdline) " in
  *" ck.xcpu=export "*) run xcpu_export 120 sh /ck/tests/xcpu_export.sh ;;
esac
echo "$passed passed, $failed failed"
