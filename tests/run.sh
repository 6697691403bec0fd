#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every test program and totals their TAP output; `make test` calls it after building.
#
#   unit:        build/tests/unit/test_*        (cmocka, with CMOCKA_MESSAGE_OUTPUT=TAP)
#   sanitizers:  build/san/tests/unit/test_*    (the same, built with ASan + UBSan)
#   fuzz:        tests/fuzz/run_ci.sh           (each build/fuzz/fuzz_* for FUZZ_CI_SECONDS)
#   lint:        tests/lint/lint.sh             (clang-tidy, cppcheck, layers: clean = no finding)
#   integration: tests/integration/test_*.py    (python3, TAP)
#
# Each program's stdout is echoed and counted: `ok` lines pass, `not ok` lines fail, lines with a
# `# SKIP` directive are skipped (cmocka writes skips as `not ok N # SKIP name`). A program that
# crashes, times out or exits non-zero without any `not ok` line counts as one failure, and so does
# one that exits 0 having printed fewer (or more) test lines than its plan said, or no TAP at all.
# The last line is always `N passed, N failed, N skipped`; the exit status is 1 if anything failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
INTEGRATION_TIMEOUT=${INTEGRATION_TIMEOUT:-600}

passed=0
failed=0
skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_one NAME TIMEOUT CMD...: run one test program, echo its output, add up its TAP lines.
run_one() {
	local name=$1 limit=$2
	shift 2
	echo "# ---- $name"
	timeout -k 15 "$limit" "$@" </dev/null | tee "$tmp/out"
	local rc=${PIPESTATUS[0]}
	local counts
	# counts: passed failed skipped test-lines planned has-plan bailed
	counts=$(awk '
		/^(not )?ok([ \t]|$)/ {
			lines++
			if (tolower($0) ~ /#[ \t]*skip([ \t:]|$)/) { s++; next }
			if ($0 ~ /^not ok/) {
				if (tolower($0) ~ /#[ \t]*todo([ \t:]|$)/) { s++ } else { f++ }
			} else { p++ }
			next
		}
		/^1\.\.[0-9]+/ { split($0, a, /\.\.|[ \t#]/); planned += a[2]; plan = 1; next }
		/^Bail out!/ { bail = 1 }
		END { printf "%d %d %d %d %d %d %d\n", p, f, s, lines, planned, plan, bail }
	' "$tmp/out")
	local p f s lines planned plan bail
	read -r p f s lines planned plan bail <<<"$counts"
	passed=$((passed + p))
	skipped=$((skipped + s))
	failed=$((failed + f))
	local why=""
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			why="timed out after ${limit}s (status $rc)"
		elif [ "$rc" -gt 128 ]; then
			why="killed by signal $((rc - 128))"
		else
			why="exited with status $rc and no failing test line"
		fi
	elif [ "$bail" -eq 1 ] && [ "$f" -eq 0 ]; then
		why="bailed out"
	elif [ "$rc" -eq 0 ] && [ "$plan" -eq 1 ] && [ "$lines" -ne "$planned" ]; then
		why="planned $planned tests but printed $lines"
	elif [ "$rc" -eq 0 ] && [ "$plan" -eq 0 ] && [ "$lines" -eq 0 ]; then
		why="printed no TAP output"
	fi
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		echo "not ok - $name: $why"
	fi
}

shopt -s nullglob
for t in build/tests/unit/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	CMOCKA_MESSAGE_OUTPUT=TAP run_one "$t" "$UNIT_TIMEOUT" "./$t"
done
# The same unit tests built with ASan and UBSan (make unit-san): a sanitizer report fails them.
for t in build/san/tests/unit/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		CMOCKA_MESSAGE_OUTPUT=TAP run_one "$t" "$UNIT_TIMEOUT" "./$t"
done
# Every fuzz target for a bounded time from its seeds (make fuzz-build; FUZZ_CI_SECONDS each).
if [ -n "$(ls build/fuzz/fuzz_* 2>/dev/null)" ]; then
	run_one "tests/fuzz/run_ci.sh" 900 bash tests/fuzz/run_ci.sh
fi
# clang-tidy and cppcheck over agent/ (make lint), as TAP: any finding fails, a missing tool skips.
run_one "tests/lint/lint.sh" 1800 env LINT_TAP=1 bash tests/lint/lint.sh
for t in tests/integration/test_*.py; do
	[ -f "$t" ] || continue
	run_one "$t" "$INTEGRATION_TIMEOUT" python3 "$t"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
