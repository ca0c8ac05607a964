#!/usr/bin/env python3
"""Driver of corrupt_sweep.sh: damages a real image one way at a time and runs ckrestore on it.

Every case must end in one of two ways:
  clean failure  exit 1..6, exactly one stderr line starting "ckrestore: error:", nothing runs
                 with the image's PID, the image files byte-identical to what ckrestore was given
  restore        the program runs with the image's PID and its memory checksum ("sum" line after
                 SIGUSR1) equals the one it had before the dump
Anything else (ckrestore killed by a signal or dumping core, more or other stderr, a process
left behind, a changed image, a restored program with other memory) is a violation.

The image is a copy laid out as ckdump makes it (LINK -> LINK.d/v), damaged in place and
repaired after each case, so a case costs one ckrestore run, not a copy of the image.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_pid_gone(pid, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.01)
    return False


class Sweep:
    def __init__(self, a):
        self.a = a
        self.vdir = os.path.join(a.work, "case.d", "v")
        self.link = os.path.join(a.work, "case")
        self.pristine = {n: open(os.path.join(a.image, n), "rb").read() for n in sorted(os.listdir(a.image))}
        os.makedirs(self.vdir, mode=0o700)
        for n, data in self.pristine.items():
            self.put(n, data)
        os.symlink("case.d/v", self.link)
        self.out_len = os.path.getsize(a.out)
        self.cases = self.clean = self.restored = 0
        self.codes = {}
        self.restored_cases = []
        self.per_file = {}
        self.violations = []

    def put(self, name, data):
        path = os.path.join(self.vdir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)

    def state(self):
        return {n: open(os.path.join(self.vdir, n), "rb").read() for n in sorted(os.listdir(self.vdir))}

    def violation(self, what, msg):
        self.violations.append(f"{what}: {msg}")
        print(f"VIOLATION {what}: {msg}", file=sys.stderr, flush=True)

    # One damaged image: `damaged` maps file name -> new content (None: file removed).
    def run_case(self, what, damaged):
        for n, data in damaged.items():
            if data is None:
                os.unlink(os.path.join(self.vdir, n))
            else:
                self.put(n, data)
        before = self.state()
        # The restored program writes to the out file at its checkpointed offset: give it the
        # file as it was at the dump, so that a restore sees nothing changed.
        os.truncate(self.a.out, self.out_len)
        self.cases += 1
        for n in damaged:
            self.per_file[n] = self.per_file.get(n, 0) + 1
        p = subprocess.run([self.a.ckrestore, "-D", self.link, "-d"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=120)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
        try:
            if rc == 0:
                self.check_restored(what, p.stdout.decode().strip())
            else:
                self.check_failure(what, rc, err)
            if self.state() != before:
                self.violation(what, "ckrestore changed the image files")
        finally:
            for n in set(damaged) | set(os.listdir(self.vdir)):
                if n in self.pristine:
                    self.put(n, self.pristine[n])
                else:
                    os.unlink(os.path.join(self.vdir, n))

    def check_failure(self, what, rc, err):
        self.codes[rc] = self.codes.get(rc, 0) + 1
        lines = err.splitlines()
        if rc < 0 or rc >= 128:
            self.violation(what, f"ckrestore died: exit {rc}, stderr {err!r}")
        elif rc > 6:
            self.violation(what, f"exit code {rc} is none of ck's, stderr {err!r}")
        elif len(lines) != 1 or not lines[0].startswith("ckrestore: error: ") or not err.endswith("\n"):
            self.violation(what, f"stderr is not one 'ckrestore: error:' line: {err!r}")
        else:
            self.clean += 1
        if pid_alive(self.a.pid):
            self.violation(what, f"pid {self.a.pid} runs after a failed restore")
            os.kill(self.a.pid, signal.SIGKILL)
            wait_pid_gone(self.a.pid)

    def check_restored(self, what, out):
        if out != str(self.a.pid):
            self.violation(what, f"restored as pid {out!r}, image has {self.a.pid}")
            return
        pid = self.a.pid
        try:
            # The program needs a moment to install nothing new: its handler is restored, so the
            # signal can be sent at once; the answer is a "sum" line after the checkpoint's end.
            os.kill(pid, signal.SIGUSR1)
            got, end = None, time.time() + 20
            while time.time() < end and got is None:
                with open(self.a.out, "rb") as f:
                    f.seek(self.out_len)
                    for line in f.read().decode(errors="replace").splitlines():
                        if line.startswith("sum "):
                            got = line.split()[1]
                if got is None:
                    if not pid_alive(pid):
                        break
                    time.sleep(0.02)
            if got == self.a.sum:
                self.restored += 1
                self.restored_cases.append(what)
            else:
                self.violation(what, f"restored program's memory checksum {got}, expected {self.a.sum}")
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not wait_pid_gone(pid):
                self.violation(what, f"restored pid {pid} does not go away")


def offsets(size, spread, rng, every_byte_below):
    """Header bytes, a spread through the file, its last bytes, and a few random ones."""
    if size <= every_byte_below:
        return list(range(size))
    s = set(range(min(size, 64)))
    s.update(size * i // spread for i in range(spread))
    s.update(range(max(0, size - 8), size))
    s.update(rng.randrange(size) for _ in range(spread // 4))
    return sorted(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckrestore", required=True)
    ap.add_argument("--image", required=True, help="the image directory itself (a version)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sum", required=True, help="the program's memory checksum before the dump")
    ap.add_argument("--out", required=True, help="the program's output file")
    ap.add_argument("--long", action="store_true")
    a = ap.parse_args()
    rng = random.Random(1234)
    sw = Sweep(a)
    t0 = time.time()

    # The undamaged image restores: proves the checks below can see a success at all.
    sw.run_case("control (undamaged)", {})
    if sw.restored != 1:
        print("FAIL: the undamaged image does not restore", file=sys.stderr)
        return 1

    for name, data in sw.pristine.items():
        size = len(data)
        small = not name.startswith("pages-")
        if a.long:
            offs = offsets(size, 4096, rng, every_byte_below=1 << 16)
        else:
            offs = offsets(size, 96 if small else 160, rng, every_byte_below=1024)
        if name.startswith("pages-"):
            # Frame starts and ends: zstd magic, frame header, last byte of a frame.
            frames, at = [], data.find(ZSTD_MAGIC)
            while at >= 0:
                frames.append(at)
                at = data.find(ZSTD_MAGIC, at + 1)
            for f in frames[: (None if a.long else 24)]:
                offs += [f, f + 4, f + 5, max(0, f - 1)]
            offs = sorted(set(o for o in offs if 0 <= o < size))
        for i, off in enumerate(offs):
            mask = (0x01, 0x80, 0xFF, 0x10)[i % 4]
            d = bytearray(data)
            d[off] ^= mask
            sw.run_case(f"{name} flip 0x{mask:02x} at {off}", {name: bytes(d)})
        cuts = {0, 1, 7, 8, 12, 16, 31, 32, 33, size // 2, size - 1}
        cuts.update(size * i // (64 if a.long else 8) for i in range(1, 64 if a.long else 8))
        for cut in sorted(c for c in cuts if 0 <= c < size):
            sw.run_case(f"{name} truncated to {cut}", {name: data[:cut]})
        sw.run_case(f"{name} grown by one byte", {name: data + b"\0"})
        sw.run_case(f"{name} removed", {name: None})
    # Files that do not belong, and a manifest swapped for another file.
    sw.run_case("extra file", {"pages-1.ck": sw.pristine[sorted(sw.pristine)[0]]})
    sw.run_case("tree.ck in place of manifest.ck", {"manifest.ck": sw.pristine["tree.ck"]})

    # After all that, the undamaged image still restores.
    sw.run_case("control (undamaged, at the end)", {})
    secs = time.time() - t0
    codes = ", ".join(f"exit {k}: {v}" for k, v in sorted(sw.codes.items()))
    print(f"corrupt sweep ({'long' if a.long else 'short'}): {sw.cases} cases in {secs:.1f} s: "
          f"{sw.clean} clean failures ({codes}), {sw.restored} identical restores (2 controls), "
          f"{len(sw.violations)} violations")
    print("  cases per file: " + ", ".join(f"{n} ({len(sw.pristine.get(n, b''))} bytes): {c}"
                                         for n, c in sorted(sw.per_file.items())))
    print("  restored: " + "; ".join(sw.restored_cases))
    if sw.violations:
        for v in sw.violations[:20]:
            print("  " + v)
        return 1
    if sw.clean + sw.restored != sw.cases:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
