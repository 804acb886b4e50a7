#!/bin/sh
# isolation_test.sh XHAL_CONFORM HOSTILE_DIR WORK XHAL_INFO - isolation (issue 17): xhal-conform's
# per-device child processes and xhal-info --probe. For xhal-conform: a
# plugin whose op_run segfaults and one whose op_run never returns are reported as CRASHED and
# TIMEOUT for their device, while cpu:0 completes and the report is written. Without isolation
# the segfault killed the whole run.
set -u
conform=$1 hostile=$2 work=$3 info=$4
rm -rf "$work" && mkdir -p "$work"
XHAL_PLUGIN_PATH="$hostile/crash:$hostile/hang" "$conform" --device crashy:0 --device hangy:0 \
    --device cpu:0 --suite ops --filter '^add/f32/n17$' --timeout 5 --report "$work/report" \
    > "$work/out.txt" 2>&1
rc=$?
cat "$work/out.txt"
fail() { echo "isolation_test: $1"; exit 1; }
[ $rc -eq 1 ] || fail "exit status $rc, expected 1 (failures reported)"
# (killed by signal 11; under ASan the sanitizer reports the SEGV and exits with status 1)
grep -q 'isolation/CRASHED: CRASHED: the process running crashy:0 ' "$work/out.txt" || fail "no CRASHED line for crashy:0"
grep -q 'isolation/TIMEOUT: TIMEOUT: hangy:0 ran longer than 5 s' "$work/out.txt" || fail "no TIMEOUT line for hangy:0"
grep -q '^cpu:0 .*1 passed, 0 failed' "$work/out.txt" || fail "cpu:0 did not complete"
grep -q 'CRASHED' "$work/report/report.json" || fail "report.json lacks CRASHED"
# plugins that crash (SIGSEGV) or _exit(0) in init: loading is isolated too, so cpu:0
# completes (with --device and without) and each such backend is a CRASHED failure, exit 1;
# before, the parent's own context creation died (or exited 0 without a report)
for p in initcrash initexit; do
  for devs in "--device cpu:0" ""; do
    XHAL_PLUGIN_PATH="$hostile/$p:$hostile/crash" "$conform" $devs --suite ops --filter '^add/f32/n17$' \
        --timeout 20 --report "$work/report-$p" > "$work/out-$p.txt" 2>&1
    rc=$?
    cat "$work/out-$p.txt"
    [ $rc -eq 1 ] || fail "$p ($devs): exit status $rc, expected 1"
    grep -q "^$p .*isolation/CRASHED: plugin folder $hostile/$p ($p): the process loading the plugins " \
        "$work/out-$p.txt" || fail "$p ($devs): no CRASHED line for the plugin"
    grep -q '^cpu:0 .*1 passed, 0 failed' "$work/out-$p.txt" || fail "$p ($devs): cpu:0 did not complete"
    grep -q "\"$p\"" "$work/report-$p/report.json" || fail "$p ($devs): report.json does not name $p"
  done
done
grep -q 'exited with status 0 before listing the devices' "$work/out-initexit.txt" || fail "initexit: _exit(0) not named"
# the same run without isolation dies with the plugin (under ASan/UBSan: their report, status 1)
XHAL_PLUGIN_PATH="$hostile/crash" "$conform" --no-isolate --device crashy:0 --suite ops \
    --filter '^add/f32/n17$' --report "$work/report2" > "$work/out2.txt" 2>&1
rc2=$?
[ $rc2 -gt 128 ] || grep -qE 'SEGV|store to null pointer' "$work/out2.txt" || fail "--no-isolate: exit status $rc2, expected death by SIGSEGV"
# xhal-info --probe: one line per device, exit status 1
XHAL_PLUGIN_PATH="$hostile/crash:$hostile/hang" "$info" --probe --timeout 5 > "$work/probe.txt" 2>&1
rc3=$?
cat "$work/probe.txt"
[ $rc3 -eq 1 ] || fail "xhal-info --probe: exit status $rc3, expected 1"
grep -qE '^  crashy:0 +(CRASHED: killed by signal 11|FAILED)' "$work/probe.txt" || fail "probe: crashy:0 not CRASHED"
grep -qE '^  hangy:0 +TIMEOUT' "$work/probe.txt" || fail "probe: hangy:0 not TIMEOUT"
grep -qE '^  cpu:0 +OK' "$work/probe.txt" || fail "probe: cpu:0 not OK"
# xhal-info --probe with plugins that crash or _exit(0) in init: loaded in a child first, named,
# exit status 1 (before: killed by SIGSEGV; with initexit alone, exit 0 and no output)
XHAL_PLUGIN_PATH="$hostile/initcrash:$hostile/initexit" "$info" --probe --timeout 20 > "$work/probe2.txt" 2>&1
rc4=$?
cat "$work/probe2.txt"
[ $rc4 -eq 1 ] || fail "xhal-info --probe (init crashes): exit status $rc4, expected 1"
grep -qE '^  initcrash +CRASHED: plugin folder ' "$work/probe2.txt" || fail "probe: initcrash not CRASHED"
grep -qE '^  initexit +CRASHED: .*exited with status 0 before listing the devices' "$work/probe2.txt" || fail "probe: initexit not CRASHED"
grep -qE '^  cpu:0 +OK' "$work/probe2.txt" || fail "probe (init crashes): cpu:0 not OK"
echo "isolation_test: passed (in-process run died with status $rc2)"
