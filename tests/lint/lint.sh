#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make lint`: clang-tidy and cppcheck over the agent's C code (agent/), and the include rule
# between its folders (tests/lint/layers.sh); clean means no finding.
# The check sets are below, with the reason for each check left out; a finding that is wrong for
# one line is silenced on that line (NOLINT(check) / cppcheck-suppress check) with a why.
# LINT_JOBS (default: the number of CPUs) clang-tidy processes at once. Exit 1 on any finding.
# With file arguments (tests/lint/lint.sh agent/proto/resp.c ...) only those files are linted.
# LINT_TAP=1 prints TAP for tests/run.sh: one test each for clang-tidy, cppcheck and layers, the
# findings as `#` lines; a tool that is not installed is a SKIP.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

TIDY_CHECKS=$(printf '%s,' \
	'-*' 'bugprone-*' 'clang-analyzer-*' 'cert-err34-c' 'misc-redundant-expression' \
	`# every static helper takes two ints somewhere: not a bug pattern here` \
	'-bugprone-easily-swappable-parameters' \
	`# NX_*, __sync_* and friends are the project's and the compiler's names` \
	'-bugprone-reserved-identifier' \
	`# sizes are checked where they are computed; the casts would hide nothing` \
	'-bugprone-narrowing-conversions' \
	`# kernel style: if ((x = f()) < 0)` \
	'-bugprone-assignment-in-if-condition' \
	`# snprintf/memcpy with computed bounds are how bounded C is written; the checker wants C11 Annex K` \
	'-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling' \
	`# struct layouts follow what reads well; sizes that matter are measured in make bench` \
	'-clang-analyzer-optin.performance.Padding' \
	`# kernel style: if (!strcmp(a, b)) is equality, if (strcmp(a, b)) inequality, everywhere` \
	'-bugprone-suspicious-string-compare')
# build/otlp-gen: the protobuf-c headers `make` generates (the Makefile's lint target makes them)
INCS=(-Iagent -Iinclude -Ibuild -Ibuild/otlp-gen -I/usr/include/postgresql) # libpq-fe.h
FLAGS=(-std=gnu11 -D_GNU_SOURCE -DNX_VERSION='"lint"' "${INCS[@]}")
JOBS=${LINT_JOBS:-$(nproc)}
TAP=${LINT_TAP:-0}
# under build/: a run takes minutes, and a sweep of /tmp/tmp.* meanwhile must not pass it blind
mkdir -p build && out=$(mktemp -d build/lint.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

# tap N NAME COUNT FINDINGS: one TAP line, the findings as diagnostics under it.
tap() {
	if [ "$3" -eq 0 ]; then
		echo "ok $1 - $2: 0 findings"
	else
		echo "not ok $1 - $2: $3 findings"
		printf '%s\n' "$4" | sed 's/^/#   /'
	fi
}

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(find agent -name '*.c' | sort)
fi
[ "$TAP" = 1 ] && echo "1..3"

tidy="" n_tidy=0
if ! command -v clang-tidy >/dev/null; then
	[ "$TAP" = 1 ] && echo "ok 1 - clang-tidy # SKIP clang-tidy is not installed (deploy/install-deps.sh)"
	[ "$TAP" = 1 ] || echo "lint: clang-tidy is not installed" >&2
	tidy_skip=1
else
	tidy_skip=0
	export TIDY_CHECKS out
	printf '%s\n' "${files[@]}" | xargs -P "$JOBS" -I{} bash -c \
		'clang-tidy -quiet --checks="$TIDY_CHECKS" "$1" -- "${@:2}" >"$out/${1//\//_}.tidy" 2>/dev/null' \
		_ {} "${FLAGS[@]}"
# clang-tidy names files by absolute path: shown relative, each finding once (headers repeat)
	tidy=$(cat "$out"/*.tidy | sed "s|^$PWD/||" | grep -E '^agent/.*: (warning|error):' | sort -u)
	n_tidy=$(printf '%s' "$tidy" | grep -c . || true)
	# a file clang-tidy left no output for was not linted: that fails too, never passes
	n_out=$(find "$out" -name '*.tidy' | wc -l)
	if [ "$n_out" -ne "${#files[@]}" ]; then
		tidy+="${tidy:+$'\n'}lint: clang-tidy ran on $n_out of ${#files[@]} files"
		n_tidy=$((n_tidy + 1))
	fi
	[ "$TAP" = 1 ] && tap 1 "clang-tidy (${#files[@]} files)" "$n_tidy" "$tidy"
fi

cpp="" n_cpp=0
if ! command -v cppcheck >/dev/null; then
	[ "$TAP" = 1 ] && echo "ok 2 - cppcheck # SKIP cppcheck is not installed (deploy/install-deps.sh)"
	[ "$TAP" = 1 ] || echo "lint: cppcheck is not installed" >&2
	cpp_skip=1
else
	cpp_skip=0
	[ $# -gt 0 ] && targets=("${files[@]}") || targets=(agent)
	cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr \
	--library=posix -D_GNU_SOURCE -D__x86_64__ -DNX_VERSION='"lint"' \
	-D'LIBBPF_OPTS(TYPE,NAME,...)=struct TYPE NAME = {0}' \
	`# jansson's iteration macros (system headers are not read): as jansson.h has them` \
	--include=tests/lint/cppcheck-macros.h \
	`# readdir_r, which it suggests, is deprecated by glibc: readdir is safe per DIR stream` \
	--suppress=readdirCalled \
	--suppress=missingIncludeSystem --max-configs=1 "${INCS[@]}" \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]' "${targets[@]}" 2>"$out/cppcheck"
	rc=$?
	cpp=$(grep -E '^agent/' "$out/cppcheck" | sort -u)
	n_cpp=$(printf '%s' "$cpp" | grep -c . || true)
	if [ "$rc" -ne 0 ] || [ ! -f "$out/cppcheck" ]; then
		cpp+="${cpp:+$'\n'}lint: cppcheck exited with status $rc"
		n_cpp=$((n_cpp + 1))
	fi
	[ "$TAP" = 1 ] && tap 2 cppcheck "$n_cpp" "$cpp"
fi

# stats/ must not include capture/, alert/ not export/...: the table and why are in layers.sh;
# with no arguments it reads the headers too (files holds the .c files only)
if [ $# -gt 0 ]; then
	layers=$(bash tests/lint/layers.sh "${files[@]}")
else
	layers=$(bash tests/lint/layers.sh)
fi
n_layers=$(printf '%s' "$layers" | grep -c . || true)
[ "$TAP" = 1 ] && tap 3 layers "$n_layers" "$layers"

if [ "$TAP" != 1 ]; then
	[ -z "$tidy" ] || printf '%s\n' "$tidy"
	[ -z "$cpp" ] || printf '%s\n' "$cpp"
	[ -z "$layers" ] || printf '%s\n' "$layers"
	echo "lint: clang-tidy ${n_tidy} findings in ${#files[@]} files, cppcheck ${n_cpp} findings," \
		"layers ${n_layers} findings"
	# `make lint` is asked for explicitly: a missing tool is an error there, a SKIP under TAP
	[ "$tidy_skip" -eq 0 ] && [ "$cpp_skip" -eq 0 ] || exit 1
fi
[ "$n_tidy" -eq 0 ] && [ "$n_cpp" -eq 0 ] && [ "$n_layers" -eq 0 ]
