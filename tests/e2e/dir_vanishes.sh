# The image directory vanishing while ckdump writes (rm -rf of the half-written image, or of
# the whole directory holding the checkpoints): ckdump fails with one line, the target runs on
# exactly as before, and nothing that could be taken for a checkpoint is left: DIR still names
# the previous complete checkpoint, or nothing at all once the user removed it.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 96 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
mkdir imgs
"$CKDUMP" -t "$TARGET" -D imgs/ckpt -R 2>dump.log || { cat dump.log; fail "first ckdump failed"; }
prev=$(readlink imgs/ckpt)
maps=$(cat /proc/$TARGET/maps)

target_intact() {
  local at
  alive "$TARGET" || fail "$1: the target died"
  grep -q 'TracerPid:.0$' /proc/$TARGET/status || fail "$1: the target is still traced"
  [ "$(awk '{print $3}' /proc/$TARGET/stat)" != T ] || fail "$1: the target was left stopped"
  [ "$(cat /proc/$TARGET/maps)" = "$maps" ] || fail "$1: the target's mappings changed"
  at=$(last_tick out.txt)
  wait_line out.txt "^tick $((at + 2))\$" 10
  kill -USR1 "$TARGET"
  wait_line out.txt '^sum ' 10
  sleep 0.2
  [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "$1: the target's memory changed"
  ticks_consecutive out.txt
}

# vanish WHAT PATTERN...: starts a slow dump (strongest compression, one thread), removes PATH
# once the half-written image holds page data, and expects the dump to fail.
vanish() {
  local what=$1 rc=0 i staged=
  shift
  "$CKDUMP" -t "$TARGET" -D imgs/ckpt -R --compress=19 -j 1 2>err.txt &
  local d=$!
  for ((i = 0; i < 400; i++)); do
    staged=$(ls -d imgs/.ckpt.tmp-* 2>/dev/null | head -1 || true)
    [ -n "$staged" ] && [ -n "$(find "$staged" -name 'pages-*' -size +1k 2>/dev/null || true)" ] && break
    sleep 0.01
  done
  [ -n "$staged" ] || fail "$what: never saw the dump's staging directory"
  # shellcheck disable=SC2068 # the patterns are expanded now, while the image exists
  rm -rf $@
  wait "$d" || rc=$?
  [ "$rc" != 0 ] || fail "$what: ckdump succeeded although its image was removed"
  [ "$(grep -vc warning: err.txt)" = 1 ] || { cat err.txt; fail "$what: the error is not one line"; }
  log "$what: $(grep -v warning: err.txt)"
  target_intact "$what"
}

vanish "half-written image removed" 'imgs/.ckpt.tmp-*'
[ "$(readlink imgs/ckpt)" = "$prev" ] || fail "the previous checkpoint is no longer named by imgs/ckpt"
"$CKIMAGE" verify imgs/ckpt >/dev/null || fail "the previous checkpoint no longer verifies"
[ -z "$(ls -d imgs/.ckpt.tmp-* 2>/dev/null)" ] || fail "a staging directory was left"

vanish "whole image directory removed" imgs
[ ! -e imgs/ckpt ] || "$CKIMAGE" verify imgs/ckpt >/dev/null || fail "something that is not a checkpoint is at imgs/ckpt"
[ ! -e imgs ] || [ -z "$(ls -A imgs)" ] || fail "the failed dump left $(ls -A imgs) in imgs/"

# And the next dump, with the directory back, is a good one.
mkdir -p imgs
"$CKDUMP" -t "$TARGET" -D imgs/ckpt 2>dump.log || { cat dump.log; fail "ckdump after the failures failed"; }
wait_gone "$TARGET"
restore_detached imgs/ckpt
kill -USR1 "$RESTORED"
for ((i = 0; i < 100; i++)); do [ "$(grep -c '^sum' out.txt)" -ge 3 ] && break; sleep 0.05; done
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "the restored memory differs"
