#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make lint`: clang-tidy and cppcheck over the agent's C code (agent/), clean means no finding.
# The check sets are below, with the reason for each check left out; a finding that is wrong for
# one line is silenced on that line (NOLINT(check) / cppcheck-suppress check) with a why.
# LINT_JOBS (default: the number of CPUs) clang-tidy processes at once. Exit 1 on any finding.
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
	'-clang-analyzer-optin.performance.Padding')
FLAGS=(-std=gnu11 -D_GNU_SOURCE -DNX_VERSION='"lint"' -Iagent -Iinclude -Ibuild)
JOBS=${LINT_JOBS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

mapfile -t files < <(find agent -name '*.c' | sort)
export TIDY_CHECKS out
printf '%s\n' "${files[@]}" | xargs -P "$JOBS" -I{} bash -c \
	'clang-tidy -quiet --checks="$TIDY_CHECKS" "$1" -- "${@:2}" >"$out/${1//\//_}.tidy" 2>/dev/null' \
	_ {} "${FLAGS[@]}"
# clang-tidy names files by absolute path: shown relative, each finding once (headers repeat)
tidy=$(cat "$out"/*.tidy | sed "s|^$PWD/||" | grep -E '^agent/.*: (warning|error):' | sort -u)
n_tidy=$(printf '%s' "$tidy" | grep -c . || true)

cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr \
	--library=posix -D_GNU_SOURCE -D__x86_64__ -DNX_VERSION='"lint"' \
	-D'LIBBPF_OPTS(TYPE,NAME,...)=struct TYPE NAME = {0}' \
	`# readdir_r, which it suggests, is deprecated by glibc: readdir is safe per DIR stream` \
	--suppress=readdirCalled \
	--suppress=missingIncludeSystem --max-configs=1 -Iagent -Iinclude -Ibuild \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]' agent 2>"$out/cppcheck"
cpp=$(grep -E '^agent/' "$out/cppcheck" | sort -u)
n_cpp=$(printf '%s' "$cpp" | grep -c . || true)

[ -z "$tidy" ] || printf '%s\n' "$tidy"
[ -z "$cpp" ] || printf '%s\n' "$cpp"
echo "lint: clang-tidy ${n_tidy} findings in ${#files[@]} files, cppcheck ${n_cpp} findings"
[ "$n_tidy" -eq 0 ] && [ "$n_cpp" -eq 0 ]
