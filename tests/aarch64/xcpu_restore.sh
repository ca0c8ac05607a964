# Second half of the cross-CPU test (see xcpu_export.sh), in a VM whose CPU lacks what the image
# needs: ckrestore refuses before creating anything, naming what is missing.
. "$(dirname "$0")/lib.sh"
cd /tmp/xcpu
"$CKIMAGE" verify ckpt >/dev/null || fail "the image did not arrive intact"
expect_fail 4 'this CPU lacks .*(sve|pauth)' "$CKRESTORE" -D ckpt
