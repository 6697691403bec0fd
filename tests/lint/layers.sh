#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The include rule of agent/ (part of `make lint`): data flows capture -> proto -> stats -> model
# -> alert -> report -> export, and a folder includes only the folders whose data it reads (the
# table below), never one further down the flow: stats knows nothing of capture, alert nothing of
# export. capture may include stats and proto because it fills their values (snapshots, catalog
# names) and uses the RESP parser (record --redact). cli and agent/*.c (main, pipeline: the wiring)
# may include anything. Of agent/'s own top-level headers, a folder may include only util.h and
# identity.h (values every stage shares); pipeline.h is the wiring's. Includes of include/ and
# build/ (events.h, skeletons, generated protobuf-c) are not the rule's business.
#
# tests/lint/layers.sh [FILE...]: checks FILE (default: every agent/*/*.[ch]); prints each include
# that breaks the rule as FILE:LINE: ..., and exits 1 when there is one.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

# folder -> the agent/ folders its files may include (its own always)
declare -A MAY=(
	[proto]=""
	[stats]="proto"
	[capture]="stats proto"
	[model]="stats proto"
	[alert]="model stats proto"
	[report]="alert model stats proto"
	[export]="report alert model stats proto"
	[cli]="*"
)
SHARED_TOP="util.h identity.h"

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(find agent -mindepth 2 -maxdepth 2 -name '*.[ch]' | sort)
fi

bad=0
for f in "${files[@]}"; do
	f=${f#./}
	[[ $f == agent/*/* ]] || continue # agent/*.c is the wiring
	from=${f#agent/}
	from=${from%%/*}
	if [ -z "${MAY[$from]+set}" ]; then
		echo "$f:1: agent/$from/ has no row in tests/lint/layers.sh's table: add one"
		bad=1
		continue
	fi
	[ "${MAY[$from]}" = "*" ] && continue
	while IFS=: read -r line inc; do
		inc=${inc#*\"}
		inc=${inc%%\"*}
		# what the compiler finds: beside the file first, then -Iagent; else include/ or build/
		if [ -f "$(dirname "$f")/$inc" ]; then
			target=$(realpath -m --relative-to=. "$(dirname "$f")/$inc")
		elif [ -f "agent/$inc" ]; then
			target=$(realpath -m --relative-to=. "agent/$inc")
		else
			continue
		fi
		to=${target#agent/}
		if [[ $to != */* ]]; then
			[[ " $SHARED_TOP " == *" $to "* ]] && continue
			echo "$f:$line: $from/ may not include $target (the wiring's header;" \
				"shared ones: $SHARED_TOP)"
			bad=1
			continue
		fi
		to=${to%%/*}
		[ "$to" = "$from" ] && continue
		[[ " ${MAY[$from]} " == *" $to "* ]] && continue
		echo "$f:$line: $from/ may not include $target ($from/ reads only:" \
			"${MAY[$from]:-nothing else}; tests/lint/layers.sh)"
		bad=1
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
done
exit "$bad"
