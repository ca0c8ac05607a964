# First half of the cross-CPU test: a checkpoint made on this CPU (QEMU's "max": SVE, pointer
# authentication...) is printed to the console as base64 between CK-IMAGE-BEGIN/END lines; the
# script restores it in a second VM with an older CPU (xcpu_restore.sh), which must refuse it.
. "$(dirname "$0")/lib.sh"
mkdir -p /tmp/xcpu
cd /tmp/xcpu
start_target out.txt "$PROGS/fpustate"
wait_line out.txt '^fpu ok round 2 '
dump ckpt "$TARGET"
wait_gone "$TARGET"
"$CKIMAGE" show ckpt | grep -E '"(xfeatures|hwcap|hwcap2)"' >&2
echo CK-IMAGE-BEGIN
tar cf - ckpt ckpt.d out.txt | gzip | base64
echo CK-IMAGE-END
