#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs every test: unit tests and end-to-end checkpoint/restore
# of real programs. Needs root (restoring PIDs with clone3 set_tid); creates the unprivileged
# user the normal-user tests run as. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
id cktest >/dev/null 2>&1 || useradd -M -s /bin/sh cktest
rc=0
meson test -C build --no-rebuild --print-errorlogs "$@" || rc=$?
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
