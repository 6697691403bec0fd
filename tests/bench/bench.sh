#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Redis overhead benchmark for nexus-agent against a throwaway redis-server (127.0.0.1, a free port,
# a temporary directory).  `make bench` runs it (tests/bench/bench_all.sh).  It prints numbers and
# asserts nothing about them; it exits non-zero when a tool fails or the agent's counts are wrong.
#
#   idle        the agent watching the idle redis-server for BENCH_IDLE_SECONDS: its CPU per
#               second, and the tracepoints it attaches (the bare probe copies them)
#   non-target  the agent watching only an idle `sleep` during one unpipelined GET run: BPF ns per
#               program run is then what every other process pays per syscall of interest
#   workloads   redis-benchmark -c 50 -P 16 -t get, then redis-benchmark -c 50 -t get; each
#               BENCH_ROUNDS rounds of
#                 off      no probe
#                 bare     bpftrace on the agent's tracepoints, `/pid == <redis-server>/`, count()
#                 agent    nexus-agent run --no-default-targets --pid <redis-server> (the wire path)
#                 uprobes  the same with --redis-uprobes (call() and lookupKey(), entry and
#                          return; BENCH_REDIS_UPROBES=0 leaves it out)
#               rotated each round (tests/bench/lib.sh).  The request count of a workload is fixed
#               from an untimed warm-up so that a run without probes lasts about BENCH_SECONDS (a
#               multiple of clients x pipeline, so redis-benchmark sends exactly that many).
# Each agent run checks its get count (nexus_redis_commands_total) against INFO commandstats and
# that against what redis-benchmark sent, and with --redis-uprobes the count of
# nexus_redis_command_exec_seconds too; each bare run checks that bpftrace counted hits.  Then, per
# workload, the medians, and the floor table (lib.sh's print_summary).
#
# Environment: see lib.sh (BENCH_ROUNDS, BENCH_SECONDS, BENCH_IDLE_SECONDS, NEXUS_AGENT,
#              BENCH_SUMMARY); BENCH_CLIENTS (50), BENCH_REDIS_PIPELINE (16),
#              BENCH_REDIS_UPROBES (1), BENCH_REDIS_REQUESTS / BENCH_REDIS_PIPE_REQUESTS (a fixed
#              request count per run instead of the calibrated one).
set -euo pipefail

BENCH_TAG=bench-redis
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENTS=${BENCH_CLIENTS:-50}
PIPELINE=${BENCH_REDIS_PIPELINE:-16}
REDIS_UPROBES=${BENCH_REDIS_UPROBES:-1}
[ "$REDIS_UPROBES" != 1 ] || VARIANT=uprobes # the second agent mode (lib.sh's both)
FIXED_PLAIN=${BENCH_REDIS_REQUESTS:-}
FIXED_PIPE=${BENCH_REDIS_PIPE_REQUESTS:-}
DRAIN_TIMEOUT=10 # seconds for the agent to count what redis counted

case $REDIS_UPROBES in 0 | 1) ;; *) die "BENCH_REDIS_UPROBES must be 0 or 1 (got '$REDIS_UPROBES')" ;; esac
for v in CLIENTS PIPELINE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
BENCH_TIMEOUT=$((RUN_SECONDS * 20 + 60)) # per redis-benchmark run (a slow variant takes several times longer)

REDIS_PID=
SLEEP_PID=
bench_cleanup_servers() {
	if [ -n "$REDIS_PID" ]; then
		kill -TERM "$REDIS_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [ -n "$SLEEP_PID" ]; then
		kill -KILL "$SLEEP_PID" 2>/dev/null || true
		wait "$SLEEP_PID" 2>/dev/null || true
	fi
}
bench_init nexus-bench redis-server redis-cli redis-benchmark
BENCH_LOGS+=("$TMP/redis.log")

# ---------------------------------------------------------------------------------------------
# redis-server and an idle non-target process
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
	--daemonize no --logfile "$TMP/redis.log" --protected-mode no &
REDIS_PID=$!
for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
	kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at startup (see $TMP/redis.log)"
	sleep 0.1
done
[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || die "redis-server on port $REDIS_PORT did not answer PING within 10 s"
sleep 100000 &
SLEEP_PID=$!
log "redis-server $(redis-server --version | awk '{ print $3 }') pid $REDIS_PID on 127.0.0.1:$REDIS_PORT; idle non-target pid $SLEEP_PID; agent $AGENT_SRC"

# ---------------------------------------------------------------------------------------------
# helpers around redis-benchmark and redis

# run_bench N ARGS...: redis-benchmark -t get -n N ARGS; prints its GET requests per second.
run_bench() {
	local n=$1 out rps
	shift
	out=$(timeout -k 5 "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -n "$n" \
		-t get -q "$@" 2>&1) || die "redis-benchmark -t get -n $n $* failed or took over ${BENCH_TIMEOUT}s: $(printf '%s' "$out" | tr '\r' '\n' | tail -n 3)"
	# -q prints progress lines separated by \r, then "GET: 123456.78 requests per second, p50=..."
	rps=$(printf '%s\n' "$out" | tr '\r' '\n' | awk -F': ' '$1 == "GET" && /requests per second/ { split($2, a, " "); print a[1]; exit }')
	[ -n "$rps" ] || die "could not parse redis-benchmark's output: $(printf '%s' "$out" | tr '\r' '\n' | tail -n 2)"
	echo "$rps"
}
# redis_gets: INFO commandstats' count of GET calls.
redis_gets() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' |
		awk -F'[:,=]' '$1 == "cmdstat_get" { g = $3 } END { printf "%d\n", g }'
}
# xcount FILE: the count of nexus_redis_command_exec_seconds for get in a scrape (0 without any).
xcount() {
	awk 'index($1, "nexus_redis_command_exec_seconds_count{") == 1 && index($1, "command=\"get\"") { s += $NF }
		END { printf "%.0f\n", s }' "$1"
}

# foreign_uprobes: uprobes that other processes (not an agent of this bench) hold on redis-server's
# executable: they trap in our redis-server too, in every mode.  Those whose file bpftool cannot
# name any more (a /proc/PID/exe of a process gone) are listed apart: they may be on this file.
foreign_uprobes() {
	bpftool perf show -j 2>/dev/null | EXE="/proc/$REDIS_PID/exe" AGENT="${AGENT_PID:-0}" python3 -c '
import json, os, sys
try:
    me = os.stat(os.environ["EXE"])
except OSError:
    sys.exit(0)
pids, gone = {}, {}
for e in json.load(sys.stdin):
    if e.get("fd_type") not in ("uprobe", "uretprobe") or str(e.get("pid")) == os.environ["AGENT"]:
        continue
    try:
        st = os.stat(e.get("filename", ""))
    except OSError:
        gone[e["pid"]] = gone.get(e["pid"], 0) + 1
        continue
    if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
        pids[e["pid"]] = pids.get(e["pid"], 0) + 1
out = []
if pids:
    out.append("%d held by pid(s) %s" % (sum(pids.values()), " ".join("%s (%s)" % (p, n) for p, n in sorted(pids.items()))))
if gone:
    out.append("%d on executables that no longer resolve, held by pid(s) %s" % (sum(gone.values()), " ".join("%s (%s)" % (p, n) for p, n in sorted(gone.items()))))
print("; ".join(out))
' 2>/dev/null || true
}
# uprobe_traps: the functions of call() and lookupKey() whose first instruction in the running
# redis-server's memory is a breakpoint (int3) while the executable has another byte: a uprobe sits
# there.  With none of this bench's agents running, that is someone else's.
uprobe_traps() {
	command -v readelf >/dev/null 2>&1 || return 0
	RPID=$REDIS_PID python3 -c '
import os, subprocess
pid = os.environ["RPID"]
exe = "/proc/%s/exe" % pid
def run(*a):
    return subprocess.run(a, capture_output=True, text=True).stdout
syms = {}
for l in run("readelf", "-Ws", "--dyn-syms", exe).splitlines():
    f = l.split()
    if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND" and f[7].split("@")[0] in ("call", "lookupKey"):
        syms[f[7].split("@")[0]] = int(f[1], 16)
loads = [(int(f[1], 16), int(f[2], 16), int(f[4], 16)) for f in (l.split() for l in run("readelf", "-lW", exe).splitlines()) if f and f[0] == "LOAD"]
ino = os.stat(exe).st_ino
maps = []
for l in open("/proc/%s/maps" % pid):
    f = l.split()
    if len(f) >= 6 and int(f[4]) == ino:
        s, e = (int(x, 16) for x in f[0].split("-"))
        maps.append((s, e, int(f[2], 16)))
trapped = []
with open(exe, "rb") as fexe, open("/proc/%s/mem" % pid, "rb") as mem:
    for n, v in sorted(syms.items()):
        off = next((v - va + o for o, va, sz in loads if va <= v < va + sz), None)
        addr = next((s + off - mo for s, e, mo in maps if off is not None and mo <= off < mo + e - s), None)
        if addr is None:
            continue
        fexe.seek(off)
        mem.seek(addr)
        if mem.read(1) == b"\xcc" and fexe.read(1) != b"\xcc":
            trapped.append(n + "()")
print(" ".join(trapped))
' 2>/dev/null || true
}
FOREIGN_TRAPS=
foreign_traps() {
	local traps foreign
	traps=$(uprobe_traps)
	foreign=$(foreign_uprobes)
	if [ -n "$traps" ]; then
		echo "WARNING ($1): with no agent of this bench running, redis-server's $traps already carry a uprobe breakpoint (someone else's${foreign:+: $foreign}); every run pays those traps, so the --redis-uprobes ratios leave out most of the trap cost"
		FOREIGN_TRAPS+="$1: $traps; "
	elif [ -n "$foreign" ]; then
		echo "note ($1): other processes hold uprobes ($foreign), but none traps in redis-server's call() or lookupKey()"
	fi
}

# the Redis uprobe programs (bpf/redis_uprobes.bpf.c), each a group of bpf_snap
UPROBE_GROUPS=('UPROBES=nx_rd_*' CALL_ENTRY=nx_rd_call CALL_RETURN=nx_rd_call_ret LOOKUP_ENTRY=nx_rd_lookup LOOKUP_RETURN=nx_rd_lookup_ret)
uprobe_label() {
	case $1 in
	CALL_ENTRY) echo "call() entry" ;; CALL_RETURN) echo "call() return" ;;
	LOOKUP_ENTRY) echo "lookupKey() entry" ;; LOOKUP_RETURN) echo "lookupKey() return" ;;
	esac
}

# ---------------------------------------------------------------------------------------------
# one run of the current workload (WL, WL_N requests, WL_ARGS) in a mode; sets RUN_THR

redis_run() {
	local mode=$1 r=$2 g0 g1 dg rps
	case $mode in
	off)
		g0=$(redis_gets)
		rps=$(run_bench "$WL_N" "${WL_ARGS[@]}")
		g1=$(redis_gets)
		printf '      %-8s GET %s req/s\n' off "$rps"
		;;
	bare)
		bare_start "bare-$WL-$r" "$TMP/bare-redis.bt"
		g0=$(redis_gets)
		rps=$(run_bench "$WL_N" "${WL_ARGS[@]}")
		g1=$(redis_gets)
		bare_stop
		bare_record "$WL" "$((g1 - g0))"
		printf '      %-8s GET %s req/s; %s\n' bare "$rps" "$(bare_line "$((g1 - g0))")"
		[ "$B_HITS" -gt 0 ] || die "bpftrace counted no hit on redis-server's tracepoints: the floor measured nothing"
		;;
	agent | uprobes)
		redis_agent_run "$mode" "$r"
		rps=$RUN_THR
		g0=$RUN_G0
		g1=$RUN_G1
		;;
	esac
	dg=$((g1 - g0))
	[ "$dg" -eq "$WL_N" ] || mismatch "$WL round $r ($mode): redis counted $dg GETs, redis-benchmark was to send $WL_N"
	RUN_THR=$rps
}

redis_agent_run() {
	local mode=$1 r=$2 g1 dg da_get=n/a xg=0 cmds t0 t1 line
	local -a extra=() groups=()
	if [ "$mode" = uprobes ]; then
		extra=(--redis-uprobes)
		groups=("${UPROBE_GROUPS[@]}")
	fi
	agent_start "agent-$WL-$r-$mode" --no-default-targets --pid "$REDIS_PID" "${extra[@]}"
	RUN_G0=$(redis_gets)
	agent_begin "${groups[@]}"
	t0=$(now)
	RUN_THR=$(run_bench "$WL_N" "${WL_ARGS[@]}")
	t1=$(now)
	g1=$(redis_gets)
	RUN_G1=$g1
	dg=$((g1 - RUN_G0))
	# wait for the agent to drain its ring and publish (snapshots every 100 ms): until its get count
	# (and with --redis-uprobes its call() count) reaches redis' own, or DRAIN_TIMEOUT
	for _ in $(seq 1 $((DRAIN_TIMEOUT * 5))); do
		sleep 0.2
		scrape "$TMP/m1"
		da_get=$(mdelta nexus_redis_commands_total 'command="get"')
		[ "$mode" = uprobes ] && xg=$(($(xcount "$TMP/m1") - $(xcount "$TMP/m0")))
		[ "$da_get" != n/a ] && [ "$da_get" -ge "$dg" ] && { [ "$mode" != uprobes ] || [ "$xg" -ge "$dg" ]; } && break
	done
	sleep 0.2 # one more look: nothing should still be moving
	scrape "$TMP/m1"
	da_get=$(mdelta nexus_redis_commands_total 'command="get"')
	[ "$mode" = uprobes ] && xg=$(($(xcount "$TMP/m1") - $(xcount "$TMP/m0")))
	cmds=$(mdelta nexus_redis_commands_total)
	local unp res perr
	unp=$(mdelta nexus_redis_unpaired_commands_total)
	res=$(mdelta nexus_redis_resyncs_total)
	perr=$(mdelta nexus_redis_parse_errors_total)
	agent_end
	agent_record "$WL" "$mode" "$cmds"
	rec "$WL" "$mode" evps "$(div "$A_EV" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "%.0f")"
	[ "$da_get" = "$dg" ] || mismatch "$WL round $r ($mode): the agent counted $da_get GETs, INFO commandstats $dg"
	printf '      %-8s GET %s req/s; agent counted get %s (all commands %s), redis %s: %s; %s; parser: unpaired %s, resyncs %s, errors %s\n' \
		"$mode" "$RUN_THR" "$da_get" "$cmds" "$dg" "$([ "$da_get" = "$dg" ] && echo equal || echo DIFFERENT)" \
		"$(agent_line "$cmds")" "$unp" "$res" "$perr"
	if [ "$mode" = uprobes ]; then
		local i k line='' xo xd xu
		for i in "${!A_GROUPS[@]}"; do
			k=${A_GROUPS[i]%%=*}
			[ "$k" = UPROBES ] && continue
			line+="$(uprobe_label "$k") $(div "${A_G_RT[i]}" "$cmds" "%.0f") ns/cmd ($(div "${A_G_RC[i]}" "$cmds" "%.2f") runs/cmd, $(div "${A_G_RT[i]}" "${A_G_RC[i]}" "%.0f") ns/run); "
			[ "${A_G_N[i]}" = 1 ] || log "WARNING: $WL round $r: found ${A_G_N[i]} programs for ${A_GROUPS[i]} among the agent's; the uprobe figures are incomplete"
		done
		# nexus_redis_exec_unpaired_total appears with the first call() record: absent before is 0
		xo=$(delta "$(mval "$TMP/m0" nexus_redis_exec_unpaired_total 'reason="orphan"' | sed 's|n/a|0|')" "$(mval "$TMP/m1" nexus_redis_exec_unpaired_total 'reason="orphan"')")
		xd=$(delta "$(mval "$TMP/m0" nexus_redis_exec_unpaired_total 'reason="dropped"' | sed 's|n/a|0|')" "$(mval "$TMP/m1" nexus_redis_exec_unpaired_total 'reason="dropped"')")
		xu=$(delta "$(mval "$TMP/m0" nexus_redis_exec_unpaired_total 'reason="unmatched"' | sed 's|n/a|0|')" "$(mval "$TMP/m1" nexus_redis_exec_unpaired_total 'reason="unmatched"')")
		printf '               uprobe programs: %s\n' "${line%; }"
		printf '               exec_seconds count get %s vs redis %s: %s; call() records unpaired: orphan %s dropped %s unmatched %s\n' \
			"$xg" "$dg" "$([ "$xg" = "$dg" ] && echo equal || echo DIFFERENT)" "$xo" "$xd" "$xu"
		[ "$xg" = "$dg" ] || mismatch "$WL round $r (uprobes): nexus_redis_command_exec_seconds counted $xg GETs, INFO commandstats $dg"
	fi
}

# calibrate UNIT FIRST ARGS...: a warm-up of FIRST requests (untimed for the results); prints the
# request count that makes a run last about RUN_SECONDS at its speed, a multiple of UNIT.
calibrate() {
	local unit=$1 first=$2 rps
	shift 2
	rps=$(run_bench "$first" "$@")
	awk -v r="$rps" -v s="$RUN_SECONDS" -v u="$unit" 'BEGIN { n = int(r * s / u + 0.5) * u; if (n < 10 * u) n = 10 * u; print n }'
}

# workload WL LABEL FIXED UNIT FIRST ARGS...: the rounds of one redis-benchmark workload, then its
# medians.
workload() {
	local fixed=$3 unit=$4 first=$5
	WL=$1
	WL_LABEL=$2
	shift 5
	WL_ARGS=("$@")
	if [ -n "$fixed" ]; then
		WL_N=$fixed
		run_bench "$first" "${WL_ARGS[@]}" >/dev/null # warm-up
	else
		WL_N=$(calibrate "$unit" "$first" "${WL_ARGS[@]}")
	fi
	local -a modes=(off bare agent)
	[ "$REDIS_UPROBES" = 1 ] && modes+=(uprobes)
	echo "-- $WL_LABEL: redis-benchmark -c $CLIENTS -n $WL_N -t get ${WL_ARGS[*]} (about ${RUN_SECONDS}s without probes); $ROUNDS rounds of ${modes[*]}"
	run_rounds "$WL" redis_run "${modes[@]}"
	local m k
	echo "   $WL_LABEL, medians over $ROUNDS rounds:"
	echo "      off: $(med "$WL" off thr) req/s; bare: $(med "$WL" bare thr) req/s, ratio to off $(med "$WL" bare r_off "%.3f"), bpftrace $(med "$WL" bare hits_cmd "%.2f") hits/cmd, $(med "$WL" bare bpf_run) ns/run, $(med "$WL" bare bpf_cmd) ns/cmd"
	for m in "${modes[@]:2}"; do
		echo "      $m: $(med "$WL" "$m" thr) req/s, ratio to off $(med "$WL" "$m" r_off "%.3f"), to bare $(med "$WL" "$m" r_bare "%.3f")"
		echo "      $m: BPF $(med "$WL" "$m" bpf_cmd) ns/cmd, $(med "$WL" "$m" bpf_run) ns/run, $(med "$WL" "$m" runs_cmd "%.2f") runs/cmd; $(med "$WL" "$m" bpf_ev) ns per captured event ($(med "$WL" "$m" ev_cmd "%.2f") events/cmd, $(med "$WL" "$m" evps) events/s)"
		if [ "$m" = uprobes ]; then
			local line
			line="of which the uprobe programs $(med "$WL" "$m" g_UPROBES_cmd) ns/cmd ($(med "$WL" "$m" g_UPROBES_runs "%.2f") runs/cmd):"
			for k in CALL_ENTRY CALL_RETURN LOOKUP_ENTRY LOOKUP_RETURN; do
				line+=" $(uprobe_label "$k") $(med "$WL" "$m" "g_${k}_cmd") ($(med "$WL" "$m" "g_${k}_runs" "%.2f"))"
			done
			echo "      $m:   $line; each run also pays a uprobe trap, not in run_time_ns"
		fi
		echo "      $m: agent CPU $(med "$WL" "$m" cpu_cmd) ns/cmd (+-$(med "$WL" "$m" cpu_res): whole ticks), $(med "$WL" "$m" cpu_ev) ns per captured event; schedstat $(med "$WL" "$m" sched_cmd) ns/cmd, $(med "$WL" "$m" net_cmd) net of the idle $IDLE_MS_PER_S ms/s"
		echo "      $m: events $(total "$WL" "$m" events) captured, $(total "$WL" "$m" lost) lost over the rounds; RSS $(med "$WL" "$m" rss "%.1f") MB, peak $(vmax "$WL" "$m" hwm "%.1f") MB"
	done
	summary_row "$WL" agent "redis $WL_LABEL" req/s
	[ "$REDIS_UPROBES" = 1 ] && summary_row "$WL" uprobes "  with --redis-uprobes" "" variant
	return 0
}

# ---------------------------------------------------------------------------------------------
echo "== nexus-agent Redis benchmark: redis-benchmark -c $CLIENTS -t get, $ROUNDS rounds, ~${RUN_SECONDS}s runs (kernel $(uname -r), $(nproc) CPUs, $DATE_START)"
echo "load average at start: $LOAD_START"

echo "-- idle: the agent watching the idle redis-server for ${IDLE_SECONDS}s"
agent_idle --no-default-targets --pid "$REDIS_PID"

# the bare probe: the agent's tracepoints, on redis-server's pid
{
	printf '%s\n' 'BEGIN { printf("nx-bare: ready\n"); }'
	bare_tracepoints "pid == $REDIS_PID"
} >"$TMP/bare-redis.bt"

WL_PLAIN_N=$FIXED_PLAIN
[ -n "$WL_PLAIN_N" ] || WL_PLAIN_N=$(calibrate "$CLIENTS" 20000)
echo "-- non-target cost: the agent watching only an idle sleep (pid $SLEEP_PID) during redis-benchmark -c $CLIENTS -n $WL_PLAIN_N -t get"
agent_start agent-nontarget --no-default-targets --pid "$SLEEP_PID"
agent_begin
NT_RPS=$(run_bench "$WL_PLAIN_N")
sleep 0.5
scrape "$TMP/m1"
agent_end
NT_NS_RUN=$(div "$A_RT" "$A_RC")
echo "   GET $NT_RPS req/s; BPF ($A_NPROG programs) $A_RC runs, $A_RT ns -> $NT_NS_RUN ns per program run (per syscall of a non-target process); events captured $A_EV (expected 0)"
[ "$A_EV" = 0 ] || mismatch "non-target: the agent captured $A_EV events of processes it was not told to watch"

PIPE_UNIT=$((CLIENTS * PIPELINE))
foreign_traps "before the workloads"
workload pipe "GET -P $PIPELINE" "$FIXED_PIPE" "$PIPE_UNIT" $((PIPE_UNIT * 250)) -P "$PIPELINE"
workload plain "GET" "$WL_PLAIN_N" "$CLIENTS" 20000
foreign_traps "after the workloads"
LOAD_END=$(loadavg)
summary_note "redis: idle agent CPU $IDLE_MS_PER_S ms/s; non-target BPF $NT_NS_RUN ns/syscall; load $LOAD_START at the start, $LOAD_END at the end"

# ---------------------------------------------------------------------------------------------
echo
echo "==================== nexus-agent Redis benchmark summary ($DATE_START) ===================="
echo "redis-benchmark -c $CLIENTS -t get, $ROUNDS rounds of off | bare | agent$([ "$REDIS_UPROBES" = 1 ] && echo " | --redis-uprobes") (rotated); load $LOAD_START at the start, $LOAD_END at the end"
row "" "GET -P $PIPELINE" "GET"
row "figures: wire path$([ "$REDIS_UPROBES" = 1 ] && echo " | --redis-uprobes")" "" ""
row "req/s off (median)" "$(med pipe off thr)" "$(med plain off thr)"
row "ratio to off (median of rounds)" "$(both pipe r_off "%.3f")" "$(both plain r_off "%.3f")"
row "ratio to bare probe (median of rounds)" "$(both pipe r_bare "%.3f")" "$(both plain r_bare "%.3f")"
row "bare probe: ratio to off" "$(med pipe bare r_off "%.3f")" "$(med plain bare r_off "%.3f")"
row "bare probe: hits/cmd, BPF ns/run" "$(med pipe bare hits_cmd "%.2f"), $(med pipe bare bpf_run)" "$(med plain bare hits_cmd "%.2f"), $(med plain bare bpf_run)"
row "BPF ns/command" "$(both pipe bpf_cmd)" "$(both plain bpf_cmd)"
row "  BPF ns/run" "$(both pipe bpf_run)" "$(both plain bpf_run)"
row "  BPF ns per captured event" "$(both pipe bpf_ev)" "$(both plain bpf_ev)"
if [ "$REDIS_UPROBES" = 1 ]; then
	row "  of which uprobe programs, ns/cmd" "$(med pipe uprobes g_UPROBES_cmd)" "$(med plain uprobes g_UPROBES_cmd)"
	for k in CALL_ENTRY CALL_RETURN LOOKUP_ENTRY LOOKUP_RETURN; do
		row "    $(uprobe_label "$k") ns/cmd (runs/cmd)" "$(med pipe uprobes "g_${k}_cmd") ($(med pipe uprobes "g_${k}_runs" "%.2f"))" \
			"$(med plain uprobes "g_${k}_cmd") ($(med plain uprobes "g_${k}_runs" "%.2f"))"
	done
fi
row "agent CPU ns/command (/proc stat)" "$(both pipe cpu_cmd)" "$(both plain cpu_cmd)"
row "  schedstat; net of idle" "$(both pipe sched_cmd); $(both pipe net_cmd)" "$(both plain sched_cmd); $(both plain net_cmd)"
row "  agent CPU ns per captured event" "$(both pipe cpu_ev)" "$(both plain cpu_ev)"
row "events captured/s" "$(both pipe evps)" "$(both plain evps)"
row "events lost (sum of rounds)" "$(tboth pipe lost)" "$(tboth plain lost)"
row "RSS MB (median), peak" "$(both pipe rss "%.1f"), $(vmax pipe agent hwm "%.1f")" "$(both plain rss "%.1f"), $(vmax plain agent hwm "%.1f")"
row "counts = INFO commandstats (every round)" "$(matches pipe)" "$(matches plain)"
row "BPF ns/syscall of a non-target process" "$NT_NS_RUN" ""
row "idle agent CPU, ms/s" "$IDLE_MS_PER_S" ""
FOREIGN_TRAPS=${FOREIGN_TRAPS%; }
row "foreign uprobe traps in redis-server" "${FOREIGN_TRAPS:-none}" ""
# the floor table; under bench_all.sh (BENCH_SUMMARY set) it comes once at the end, with both scripts' rows
if [ -z "${BENCH_SUMMARY:-}" ]; then
	echo
	print_summary "$TMP/summary.tsv"
	bench_legend
fi
bench_finish
