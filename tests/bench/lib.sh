# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Shared by tests/bench/bench.sh (Redis) and tests/bench/bench_pg.sh (PostgreSQL); sourced, not run.
# The caller sets `set -euo pipefail` and BENCH_TAG (the prefix of its messages) before sourcing it,
# may define bench_cleanup_servers (run on exit, before the temporary directory goes), calls
# bench_init and may add to BENCH_LOGS (more files whose tails are shown when it fails).
#
# Every workload runs in rounds of three modes, plus the variants a script adds:
#   off    no probe at all
#   bare   the floor: bpftrace attached to the tracepoints the agent attaches (read from the
#          running agent by bpftool, see agent_tracepoints), plus the USDT probes for PostgreSQL,
#          each filtered on the server's processes and doing nothing but count()
#   agent  `nexus-agent run --no-default-targets --pid <server>`
# The order of the modes rotates by one each round (run_rounds), so a drift of the machine favours
# none of them; each round's ratios (mode/off, mode/bare) are taken between runs of that round and
# the summary shows their median over the rounds.
#
# Environment (both scripts): BENCH_ROUNDS (5, rounds per workload), BENCH_SECONDS (5, length of
# one measured run), BENCH_IDLE_SECONDS (10, the idle agent), NEXUS_AGENT (the agent binary,
# default <repo>/build/nexus-agent; it is copied, so a concurrent rebuild does not change it
# mid-run), BENCH_SUMMARY (a file the summary rows are appended to; bench_all.sh sets it),
# BENCH_KEEP (1: keep the temporary directory with the agents' logs, scrapes and bpftrace scripts).

# shellcheck disable=SC2034 # LOAD_START, DATE_START, IDLE_* and the like are for the caller
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LIB_DIR/../.." && pwd)
AGENT_SRC=${NEXUS_AGENT:-$REPO/build/nexus-agent}
ROUNDS=${BENCH_ROUNDS:-5}
RUN_SECONDS=${BENCH_SECONDS:-5}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
ATTACH_TIMEOUT=30 # seconds for the agent to print "nexus-agent: attached"
BARE_TIMEOUT=90   # seconds for bpftrace to compile and attach (LLVM is slow on a busy machine)
BARE_EXIT_TIMEOUT=60 # seconds for bpftrace to print its counts and detach after SIGINT
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

TMP=
AGENT=
AGENT_PID=
METRICS_PORT=
BARE_PID=
BARE_IDS=
STATS_PID=
OLD_STATS=
AGENT_TPS=
MISMATCHES=()
declare -A STORE=()

log() { printf '%s: %s\n' "$BENCH_TAG" "$*" >&2; }
die() {
	printf '%s: FAILED: %s\n' "$BENCH_TAG" "$*" >&2
	exit 1
}
# mismatch TEXT: the agent counted wrong; the bench goes on, prints its summary and exits 1.  The
# scrapes of the run are kept beside its log (see BENCH_KEEP).
mismatch() {
	MISMATCHES+=("$*")
	[ -z "${A_NAME:-}" ] || { cp "$TMP/m0" "$TMP/$A_NAME.m0" 2>/dev/null || true; cp "$TMP/m1" "$TMP/$A_NAME.m1" 2>/dev/null || true; }
	printf '%s: MISMATCH: %s\n' "$BENCH_TAG" "$*" >&2
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
for _v in BENCH_ROUNDS:ROUNDS BENCH_SECONDS:RUN_SECONDS BENCH_IDLE_SECONDS:IDLE_SECONDS; do
	_n=${_v#*:}
	[[ ${!_n} =~ ^[1-9][0-9]*$ ]] || die "${_v%%:*} must be a positive integer (got '${!_n}')"
done
unset _v _n

# ---------------------------------------------------------------------------------------------
# arithmetic on strings that may be "n/a"

# div A B [FMT]: A/B, or n/a when B is 0 or either is not a number.
div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN {
		if (a !~ /^-?[0-9.eE+]+$/ || b !~ /^-?[0-9.eE+]+$/ || b + 0 == 0) { print "n/a"; exit }
		printf f "\n", a / b }'
}
# delta A B: B-A (n/a-aware)
delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^-?[0-9.]+$/ || b !~ /^-?[0-9.]+$/) print "n/a"; else printf "%.0f\n", b - a }'; }
# median VALUES...: median of the numeric values ("n/a" entries are ignored)
median() {
	printf '%s\n' "$@" | { grep -E '^-?[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
now() { date +%s.%N; }
ticks_ns() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { if (t !~ /^[0-9]+$/) print "n/a"; else printf "%.0f\n", t * 1e9 / hz }'; }

# The store: per workload, mode and figure, the values of the rounds (space-separated).
# rec WL MODE FIELD VALUE; med WL MODE FIELD [FMT]; total WL MODE FIELD; vmax WL MODE FIELD [FMT]
rec() { STORE["$1|$2|$3"]+="${STORE["$1|$2|$3"]:+ }$4"; }
med() {
	local -a v
	read -r -a v <<<"${STORE["$1|$2|$3"]:-}"
	div "$(median "${v[@]}")" 1 "${4:-%.0f}"
}
total() {
	local -a v
	read -r -a v <<<"${STORE["$1|$2|$3"]:-}"
	printf '%s\n' "${v[@]}" | awk 'NF { if ($1 !~ /^[0-9.]+$/) na = 1; s += $1; n++ }
		END { if (!n || na) print "n/a"; else printf "%.0f\n", s }'
}
vmax() {
	local -a v
	read -r -a v <<<"${STORE["$1|$2|$3"]:-}"
	printf '%s\n' "${v[@]}" | awk -v f="${4:-%.0f}" '$1 ~ /^[0-9.]+$/ { if (!n++ || $1 > m) m = $1 }
		END { if (!n) print "n/a"; else printf f "\n", m }'
}

# ---------------------------------------------------------------------------------------------
# set-up and clean-up

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	die "no free TCP port found"
}

# tracefs_dir: where tracefs is mounted (bpftrace and the agent both need it), or nothing.
tracefs_dir() {
	local d
	for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
		[ -e "$d/events" ] && { echo "$d"; return 0; }
	done
	return 0
}
tracefs_ensure() {
	[ -n "$(tracefs_dir)" ] && return 0
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	[ -n "$(tracefs_dir)" ] ||
		die "tracefs is not mounted and 'mount -t tracefs nodev /sys/kernel/tracing' failed; bpftrace needs it"
	log "mounted tracefs at /sys/kernel/tracing (bpftrace needs it; it stays mounted, the agent would mount it too)"
}

# stats_enable: BPF run-time statistics (run_time_ns, run_cnt) on for as long as the bench runs.
# BPF_ENABLE_STATS hands out a file descriptor that keeps them on while it is open, counted with
# every other holder's and with kernel.bpf_stats_enabled, so a concurrent bench's restore cannot
# switch them off under this one (nor this one's under it); a small python3 process holds it.  Where
# that fails, the sysctl is set and restored at exit.
STATS_PY='
import ctypes, os, platform, signal, sys
nr = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}.get(platform.machine())
if nr is None:
    sys.exit("unknown bpf syscall number for " + platform.machine())
libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(8)  # enable_stats.type = BPF_STATS_RUN_TIME (0)
fd = libc.syscall(nr, 32, attr, 8)  # BPF_ENABLE_STATS
if fd < 0:
    sys.exit("BPF_ENABLE_STATS: " + os.strerror(ctypes.get_errno()))
print("held", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    signal.pause()
'
stats_enable() {
	python3 -c "$STATS_PY" >"$TMP/stats.out" 2>"$TMP/stats.err" &
	STATS_PID=$!
	for _ in $(seq 1 50); do
		grep -q held "$TMP/stats.out" 2>/dev/null && return 0
		kill -0 "$STATS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$STATS_PID" 2>/dev/null || true
	wait "$STATS_PID" 2>/dev/null || true
	STATS_PID=
	log "cannot hold BPF_ENABLE_STATS ($(tr '\n' ' ' <"$TMP/stats.err")); setting kernel.bpf_stats_enabled=1 instead"
	OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || die "cannot read kernel.bpf_stats_enabled"
	sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot set kernel.bpf_stats_enabled=1"
}

# bench_init TMPNAME TOOLS...: checks, the temporary directory, the agent's copy, tracefs, stats.
bench_init() {
	local name=$1 t
	shift
	[ "$(id -u)" -eq 0 ] || die "needs root (loads BPF programs, runs bpftrace, enables BPF statistics); run: sudo $0"
	[ -x "$AGENT_SRC" ] || die "agent binary $AGENT_SRC not found; run 'make' first"
	for t in bpftrace bpftool curl python3 awk timeout "$@"; do
		command -v "$t" >/dev/null 2>&1 || die "'$t' not found; run deploy/install-deps.sh"
	done
	TMP=$(mktemp -d "/tmp/$name.XXXXXX")
	chmod 755 "$TMP"
	trap bench_cleanup EXIT
	# a command that fails outside a test ends the bench (set -e): say which one
	set -E
	trap 'log "FAILED: status $? from \"$BASH_COMMAND\" at ${BASH_SOURCE[0]##*/}:$LINENO${FUNCNAME[0]:+ in ${FUNCNAME[*]}}"' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	AGENT=$TMP/nexus-agent
	cp "$AGENT_SRC" "$AGENT" || die "cannot copy $AGENT_SRC"
	tracefs_ensure
	stats_enable
	LOAD_START=$(loadavg)
	DATE_START=$(date '+%Y-%m-%d %H:%M')
}

BENCH_LOGS=()
bench_cleanup() {
	local rc=$? f
	trap - EXIT INT TERM
	agent_stop
	bare_kill
	if declare -F bench_cleanup_servers >/dev/null; then bench_cleanup_servers || true; fi
	if [ -n "$STATS_PID" ]; then
		kill "$STATS_PID" 2>/dev/null || true
		wait "$STATS_PID" 2>/dev/null || true
	fi
	if [ -n "$OLD_STATS" ]; then sysctl -q -w kernel.bpf_stats_enabled="$OLD_STATS" >/dev/null 2>&1 || true; fi
	if [ "$rc" -ne 0 ] && [ "${#MISMATCHES[@]}" -eq 0 ] && [ -n "$TMP" ] && [ -d "$TMP" ]; then
		for f in "$TMP"/agent*.log "$TMP"/bare*.err "${BENCH_LOGS[@]}"; do
			[ -s "$f" ] || continue
			log "---- last lines of $(basename "$f") ----"
			grep -v 'RLIMIT_MEMLOCK' "$f" | tail -n 15 >&2 || true
		done
	fi
	if [ -n "$TMP" ] && [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "BENCH_KEEP=1: logs, scrapes and bpftrace scripts kept in $TMP"
	elif [ -n "$TMP" ]; then
		rm -rf "$TMP"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# the agent

agent_stop() {
	# SIGINT the running agent, wait up to 10 s, then SIGKILL; warn on a non-zero exit.
	[ -n "$AGENT_PID" ] || return 0
	local pid=$AGENT_PID rc=0
	AGENT_PID=
	kill -INT "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "WARNING: agent pid $pid ignored SIGINT for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || log "WARNING: agent exited with status $rc after SIGINT (expected 0)"
	return 0
}

# agent_start NAME ARGS...: `nexus-agent run ARGS`, logs in $TMP/NAME.log; waits for "nexus-agent:
# attached" and for /metrics to answer.
agent_start() {
	local name=$1 deadline
	shift
	A_NAME=$name
	METRICS_PORT=$(free_port)
	"$AGENT" run --listen "127.0.0.1:$METRICS_PORT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
	AGENT_PID=$!
	deadline=$((SECONDS + ATTACH_TIMEOUT))
	while ! grep -q '^nexus-agent: attached' "$TMP/$name.log" 2>/dev/null; do
		kill -0 "$AGENT_PID" 2>/dev/null || {
			local rc=0
			wait "$AGENT_PID" 2>/dev/null || rc=$?
			AGENT_PID=
			die "agent exited with status $rc before attaching: $(tail -n 5 "$TMP/$name.log" | tr '\n' ' ')"
		}
		[ "$SECONDS" -lt "$deadline" ] || die "agent did not print 'nexus-agent: attached' within ${ATTACH_TIMEOUT}s"
		sleep 0.1
	done
	for _ in $(seq 1 50); do
		curl -sf -m 2 "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "agent attached but http://127.0.0.1:$METRICS_PORT/metrics does not answer"
}

# scrape FILE: the running agent's /metrics, saved to FILE (empty when it does not answer).
scrape() { curl -sf -m 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$1" 2>/dev/null || : >"$1"; }
# mval FILE NAME [TEXT]: sum of the samples of NAME (whose line contains TEXT) in a scrape; 0 when
# the family is there without such a sample, n/a when the family is missing.
mval() {
	awk -v n="$2" -v t="${3:-}" '$1 == "#" && $2 == "TYPE" && $3 == n { f = 1 }
		($1 == n || index($1, n "{") == 1) && (t == "" || index($0, t)) { s += $NF; f = 1 }
		END { if (f) printf "%.0f\n", s; else print "n/a" }' "$1"
}
# mdelta NAME [TEXT]: mval's change from $TMP/m0 to $TMP/m1 (the scrapes before and after a run)
mdelta() { delta "$(mval "$TMP/m0" "$@")" "$(mval "$TMP/m1" "$@")"; }

# prog_ids PID: the BPF programs process PID holds (prog and link fds carry "prog_id:" in fdinfo),
# so other agents and probes running on the machine do not pollute the numbers.
prog_ids() {
	cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -un | tr '\n' ' ' || true
}
# bpftool_json WHAT: `bpftool WHAT show -j` (prog or perf), retried a few times: it walks every
# process's files while pgbench and postgres processes come and go, and one failed walk should not
# end a long run (in a pipeline under pipefail, it would, without a word).
bpftool_json() {
	local out
	for _ in $(seq 1 20); do
		out=$(bpftool "$1" show -j 2>/dev/null) && [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
		sleep 0.05
	done
	die "bpftool $1 show -j failed 20 times in a row"
}
# perf_attachments PID [TYPE]: how many tracepoint/raw_tracepoint/uprobe/... attachments process
# PID holds (of fd_type TYPE, or all).
perf_attachments() {
	bpftool_json perf | P="$1" T="${2:-}" python3 -c '
import json, os, sys
try:
    l = json.load(sys.stdin)
except ValueError:
    l = []
print(sum(1 for e in l if str(e.get("pid")) == os.environ["P"] and os.environ["T"] in ("", e.get("fd_type"))))'
}

# bpf_snap PID FILTER [KEY=PATTERNS...]: "run_time_ns run_cnt nprogs" summed over the BPF programs
# process PID holds -- those named nx_* (FILTER nx: the agent's capture programs, the PostgreSQL USDT
# programs nx_pg_*, the Redis uprobe programs nx_rd_*) or all of them (FILTER all: bpftrace's) --
# then the same three for each KEY: the programs matching one of its comma-separated PATTERNS (a
# name, NAME* a prefix, -NAME excluded).  A bpftool without BTF cuts names to 15 characters: those
# match by prefix.
bpf_snap() {
	local pid=$1 filter=$2 ids
	shift 2
	ids=$(prog_ids "$pid")
	bpftool_json prog | IDS="$ids" FILTER="$filter" TAG="$BENCH_TAG" python3 -c '
import json, os, sys
ids = {int(x) for x in os.environ["IDS"].split()}
def match(name, pats):
    hit = False
    for p in pats.split(","):
        neg = p.startswith("-")
        p = p.lstrip("-")
        if p.endswith("*"):
            ok = name.startswith(p[:-1])
        else:
            ok = name == p or (len(name) == 15 and len(p) > 15 and p.startswith(name))
        if ok and neg:
            return False
        hit = hit or ok
    return hit
progs = [p for p in json.load(sys.stdin) if p["id"] in ids and
         (os.environ["FILTER"] == "all" or p.get("name", "").startswith("nx_"))]
if not progs:
    print(os.environ["TAG"] + ": WARNING: no BPF programs of pid %s found; BPF cost is n/a" % sys.argv[1], file=sys.stderr)
def tot(ps):
    return [sum(p.get("run_time_ns", 0) for p in ps), sum(p.get("run_cnt", 0) for p in ps), len(ps)]
out = tot(progs)
for g in sys.argv[2:]:
    out += tot([p for p in progs if match(p.get("name", ""), g.split("=", 1)[1])])
print(*out)
' "$pid" "$@" || { printf '0 0 0'; for _ in "$@"; do printf ' 0 0 0'; done; echo; }
}

# cpu_ticks PID: utime+stime (clock ticks); sched_ns PID: CPU time of its live threads in ns
# (/proc/PID/task/*/schedstat, finer than ticks); mem_kb PID: "VmRSS VmHWM" in kB.
cpu_ticks() { sed 's/^.*) //' /proc/"$1"/stat 2>/dev/null | awk '{ print $12 + $13 }' || echo 0; }
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
mem_kb() { awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { print (r == "" ? "n/a" : r), (h == "" ? "n/a" : h) }' /proc/"$1"/status 2>/dev/null || echo "n/a n/a"; }

# agent_tracepoints PID: the tracepoints (and raw tracepoints) process PID has programs on, one
# "system:name" a line, as bpftrace names them; the system comes from tracefs.
agent_tracepoints() {
	local tf n d
	tf=$(tracefs_dir)
	bpftool_json perf | P="$1" python3 -c '
import json, os, sys
seen = []
for e in json.load(sys.stdin):
    if str(e.get("pid")) == os.environ["P"] and e.get("fd_type") in ("tracepoint", "raw_tracepoint"):
        if e["tracepoint"] not in seen:
            seen.append(e["tracepoint"])
print("\n".join(seen))' | while read -r n; do
		[ -n "$n" ] || continue
		d=$(find "$tf/events" -mindepth 2 -maxdepth 2 -type d -name "$n" 2>/dev/null | head -n 1)
		[ -n "$d" ] || die "cannot find the tracepoint $n the agent uses under $tf/events"
		echo "$(basename "$(dirname "$d")"):$n"
	done
}

# A run with the agent: agent_begin right before the load, then the load, then the caller drains
# (its last scrape in $TMP/m1), then agent_end, then agent_record.
# agent_begin [KEY=PATTERNS...]: takes the first snapshots (scrape $TMP/m0, BPF, CPU).
A_GROUPS=()
agent_begin() {
	A_GROUPS=("$@")
	scrape "$TMP/m0"
	A_T0=$(now)
	A_TICKS0=$(cpu_ticks "$AGENT_PID")
	A_SCHED0=$(sched_ns "$AGENT_PID")
	read -r -a A_S0 <<<"$(bpf_snap "$AGENT_PID" nx "${A_GROUPS[@]}")"
}
# agent_end: the last snapshots, memory, then stops the agent; sets A_RT A_RC A_NPROG (BPF),
# A_G_RT[i] A_G_RC[i] A_G_N[i] (per group), A_TICKS A_SCHED A_WIN (ns), A_EV A_LOST, A_RSS A_HWM (kB).
agent_end() {
	local t1 ticks1 sched1 i
	local -a s1
	ticks1=$(cpu_ticks "$AGENT_PID")
	sched1=$(sched_ns "$AGENT_PID")
	t1=$(now)
	read -r -a s1 <<<"$(bpf_snap "$AGENT_PID" nx "${A_GROUPS[@]}")"
	read -r A_RSS A_HWM <<<"$(mem_kb "$AGENT_PID")"
	agent_stop
	A_NPROG=${A_S0[2]}
	A_RT=$((s1[0] - A_S0[0]))
	A_RC=$((s1[1] - A_S0[1]))
	[ "$A_NPROG" -gt 0 ] || A_RT=n/a
	A_G_RT=()
	A_G_RC=()
	A_G_N=()
	for i in "${!A_GROUPS[@]}"; do
		A_G_RT+=($((s1[3 + 3 * i] - A_S0[3 + 3 * i])))
		A_G_RC+=($((s1[4 + 3 * i] - A_S0[4 + 3 * i])))
		A_G_N+=("${A_S0[5 + 3 * i]}")
	done
	A_TICKS=$((ticks1 - A_TICKS0))
	A_SCHED=$((sched1 - A_SCHED0))
	A_WIN=$(awk -v a="$A_T0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) * 1e9 }')
	A_EV=$(mdelta nexus_agent_events_total)
	A_LOST=$(mdelta nexus_agent_events_lost_total)
}
# agent_record WL MODE CMDS: the run's figures per command (CMDS: what the agent counted) into the
# store.  The idle rate (IDLE_NS_PER_S, from agent_idle) gives the CPU net of the agent's idle work.
agent_record() {
	local wl=$1 mode=$2 cmds=$3 i
	rec "$wl" "$mode" bpf_run "$(div "$A_RT" "$A_RC")"
	rec "$wl" "$mode" bpf_cmd "$(div "$A_RT" "$cmds")"
	rec "$wl" "$mode" runs_cmd "$(div "$A_RC" "$cmds" "%.3f")"
	rec "$wl" "$mode" bpf_ev "$(div "$A_RT" "$A_EV")"
	rec "$wl" "$mode" ev_cmd "$(div "$A_EV" "$cmds" "%.3f")"
	rec "$wl" "$mode" cpu_cmd "$(div "$(ticks_ns "$A_TICKS")" "$cmds")"
	rec "$wl" "$mode" cpu_res "$(div "$(ticks_ns 1)" "$cmds")"
	rec "$wl" "$mode" cpu_ev "$(div "$(ticks_ns "$A_TICKS")" "$A_EV")"
	rec "$wl" "$mode" sched_cmd "$(div "$A_SCHED" "$cmds")"
	rec "$wl" "$mode" net_cmd "$(div "$(awk -v c="$A_SCHED" -v w="$A_WIN" -v r="${IDLE_NS_PER_S:-0}" 'BEGIN { printf "%.0f\n", c - r * w / 1e9 }')" "$cmds")"
	rec "$wl" "$mode" cmds "$cmds"
	rec "$wl" "$mode" events "$A_EV"
	rec "$wl" "$mode" lost "$A_LOST"
	rec "$wl" "$mode" rss "$(div "$A_RSS" 1024)"
	rec "$wl" "$mode" hwm "$(div "$A_HWM" 1024)"
	for i in "${!A_GROUPS[@]}"; do
		rec "$wl" "$mode" "g_${A_GROUPS[i]%%=*}_cmd" "$(div "${A_G_RT[i]}" "$cmds")"
		rec "$wl" "$mode" "g_${A_GROUPS[i]%%=*}_runs" "$(div "${A_G_RC[i]}" "$cmds" "%.3f")"
		rec "$wl" "$mode" "g_${A_GROUPS[i]%%=*}_run" "$(div "${A_G_RT[i]}" "${A_G_RC[i]}")"
	done
}
# agent_line CMDS: the figures of the run just recorded, for its detail line.
agent_line() {
	printf 'BPF %s ns/cmd (%s ns/run, %s runs/cmd, %s progs), CPU %s ticks = %s ns/cmd (schedstat %s), events %s (%s/cmd), lost %s, RSS %s MB (peak %s)' \
		"$(div "$A_RT" "$1" "%.0f")" "$(div "$A_RT" "$A_RC" "%.0f")" "$(div "$A_RC" "$1" "%.2f")" "$A_NPROG" "$A_TICKS" \
		"$(div "$(ticks_ns "$A_TICKS")" "$1" "%.0f")" "$(div "$A_SCHED" "$1" "%.0f")" "$A_EV" "$(div "$A_EV" "$1" "%.2f")" "$A_LOST" \
		"$(div "$A_RSS" 1024)" "$(div "$A_HWM" 1024)"
}

# agent_idle ARGS...: the agent (ARGS) attached to an idle server for IDLE_SECONDS; sets
# IDLE_MS_PER_S (schedstat), IDLE_TICKS (/proc stat), IDLE_NS_PER_S and AGENT_TPS (the tracepoints
# it attached, for the bare probe).
agent_idle() {
	local t0 s0 t1 s1
	agent_start agent-idle "$@"
	AGENT_TPS=$(agent_tracepoints "$AGENT_PID")
	[ -n "$AGENT_TPS" ] || die "bpftool shows no tracepoint the agent (pid $AGENT_PID) is attached to"
	IDLE_UPROBES=$(perf_attachments "$AGENT_PID" uprobe)
	sleep 0.5
	t0=$(cpu_ticks "$AGENT_PID")
	s0=$(sched_ns "$AGENT_PID")
	sleep "$IDLE_SECONDS"
	t1=$(cpu_ticks "$AGENT_PID")
	s1=$(sched_ns "$AGENT_PID")
	read -r IDLE_RSS IDLE_HWM <<<"$(mem_kb "$AGENT_PID")"
	agent_stop
	IDLE_TICKS=$((t1 - t0))
	IDLE_NS_PER_S=$(div "$((s1 - s0))" "$IDLE_SECONDS" "%.0f")
	IDLE_MS_PER_S=$(div "$((s1 - s0))" "$((IDLE_SECONDS * 1000000))" "%.2f")
	echo "   idle agent CPU: $IDLE_MS_PER_S ms per second (schedstat; /proc stat: $IDLE_TICKS ticks of $(div 1000 "$CLK_TCK" "%.0f") ms in ${IDLE_SECONDS}s); RSS $(div "$IDLE_RSS" 1024) MB"
	echo "   tracepoints the agent attaches (the bare probe attaches the same): $(echo "$AGENT_TPS" | sed 's/^[^:]*://' | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# the bare probe: bpftrace, counting

# bare_tracepoints FILTER [TRACK]: bpftrace lines for AGENT_TPS, each `/FILTER/ { @name = count(); }`.
# With TRACK, the fork and exit tracepoints also keep the map @pg of the server's processes (FILTER
# then is @pg[pid]): a child of a process in it joins it, as the agent's fork programs do.
bare_tracepoints() {
	local filter=$1 track=${2:-} tp name
	for tp in $AGENT_TPS; do
		name=${tp#*:}
		case $track:$name in
		1:sched_process_fork) echo "tracepoint:$tp /$filter/ { @pg[args->child_pid] = 1; @$name = count(); }" ;;
		1:sched_process_exit) echo "tracepoint:$tp /$filter/ { delete(@pg[pid]); @$name = count(); }" ;;
		*) echo "tracepoint:$tp /$filter/ { @$name = count(); }" ;;
		esac
	done
}

# probe_events: the uprobe and kprobe events defined in tracefs (a bpftrace that cannot use the
# perf PMUs defines its probes there, and they would outlive it if it did not clean up).
probe_events() {
	local tf
	tf=$(tracefs_dir)
	cat "$tf/uprobe_events" "$tf/kprobe_events" 2>/dev/null || true
}

# bare_start NAME FILE: runs bpftrace FILE (whose BEGIN prints "nx-bare: ready"); waits for its
# "Attaching N probes" line, the ready line and all N attachments (bpftool perf show, BEGIN/END
# not counted), so the load never starts before the floor is in place.
bare_start() {
	local name=$1 file=$2 deadline n='' want got
	BARE_NAME=$name
	probe_events >"$TMP/probe_events.before"
	: >"$TMP/$name.out" # polled below, maybe before the child has opened it
	bpftrace "$file" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	BARE_PID=$!
	deadline=$((SECONDS + BARE_TIMEOUT))
	while :; do
		[ -n "$n" ] || n=$(sed -n 's/^Attaching \([0-9]*\) probes.*/\1/p' "$TMP/$name.out" 2>/dev/null | head -n 1 || true)
		if [ -n "$n" ] && grep -q '^nx-bare: ready' "$TMP/$name.out"; then
			want=$((n - $({ grep -cE '^(BEGIN|END)([^a-zA-Z_]|$)' "$file" || true; })))
			got=$(perf_attachments "$BARE_PID")
			[ "$got" -ge "$want" ] && break
		fi
		kill -0 "$BARE_PID" 2>/dev/null || {
			local rc=0
			wait "$BARE_PID" 2>/dev/null || rc=$?
			BARE_PID=
			die "bpftrace exited with status $rc before attaching: $(grep -v RLIMIT_MEMLOCK "$TMP/$name.err" | tail -n 5 | tr '\n' ' ' || true)"
		}
		[ "$SECONDS" -lt "$deadline" ] || die "bpftrace did not attach its ${n:-?} probes within ${BARE_TIMEOUT}s (attached: ${got:-?})"
		sleep 0.1
	done
	BARE_IDS=$(prog_ids "$BARE_PID")
	BARE_ATTACHED=$got
	BARE_UPROBES=$(perf_attachments "$BARE_PID" uprobe)
	read -r -a B_S0 <<<"$(bpf_snap "$BARE_PID" all)"
	B_T0=$(now)
}
# bare_stop: the last BPF snapshot, then SIGINT: bpftrace prints its counts and detaches.  Fails
# unless it exits 0 and leaves none of its programs or attachments behind.  Sets B_RT B_RC (BPF of
# its programs over the run), B_NPROG, B_HITS (all counts) and B_UHITS (counts named u_*: USDT).
bare_stop() {
	local pid=$BARE_PID rc=0 left='' id
	local -a s1
	read -r -a s1 <<<"$(bpf_snap "$pid" all)"
	BARE_PID=
	local t0 killed=0
	t0=$(now)
	kill -INT "$pid" 2>/dev/null || true
	for _ in $(seq 1 $((BARE_EXIT_TIMEOUT * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "WARNING: bpftrace ($BARE_NAME) has not exited ${BARE_EXIT_TIMEOUT}s after SIGINT (state $(awk '$1 == "State:" { print $2 }' /proc/"$pid"/status 2>/dev/null), wchan $(cat /proc/"$pid"/wchan 2>/dev/null), kernel stack: $(head -n 5 /proc/"$pid"/stack 2>/dev/null | awk '{ printf "%s ", $2 }')); killing it"
		kill -KILL "$pid" 2>/dev/null || true
		killed=1
	fi
	wait "$pid" 2>/dev/null || rc=$?
	B_EXIT_S=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$killed" = 1 ] && grep -qE '^@[A-Za-z0-9_]+: [0-9]+$' "$TMP/$BARE_NAME.out"; then
		log "bpftrace ($BARE_NAME) had printed its counts before it hung: using them"
	elif [ "$rc" -ne 0 ]; then
		die "bpftrace ($BARE_NAME) exited with status $rc: $(grep -v RLIMIT_MEMLOCK "$TMP/$BARE_NAME.err" | tail -n 3 | tr '\n' ' ' || true)"
	fi
	for _ in $(seq 1 50); do
		left=
		for id in $BARE_IDS; do
			bpftool prog show id "$id" >/dev/null 2>&1 && left+=" $id"
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	[ -z "$left" ] || die "bpftrace exited but its BPF programs$left are still loaded"
	[ "$(perf_attachments "$pid")" -eq 0 ] || die "bpftrace exited but attachments of its pid $pid remain"
	probe_events >"$TMP/probe_events.after"
	left=$(grep -vxFf "$TMP/probe_events.before" "$TMP/probe_events.after" || true)
	[ -z "$left" ] || die "bpftrace exited but left tracefs probe events behind: $(echo "$left" | tr '\n' ' ')"
	B_NPROG=${B_S0[2]}
	B_RT=$((s1[0] - B_S0[0]))
	B_RC=$((s1[1] - B_S0[1]))
	[ "$B_NPROG" -gt 0 ] || B_RT=n/a
	read -r B_HITS B_UHITS <<<"$(awk '/^@[A-Za-z0-9_]+: [0-9]+$/ { v = $2; s += v; if (index($1, "@u_") == 1) u += v }
		END { printf "%.0f %.0f\n", s, u }' "$TMP/$BARE_NAME.out")"
}
# bare_kill: on exit, a bpftrace still running is stopped (its detaching is the kernel's business
# once it is gone).
bare_kill() {
	[ -n "$BARE_PID" ] || return 0
	kill -INT "$BARE_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$BARE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$BARE_PID" 2>/dev/null || true
	wait "$BARE_PID" 2>/dev/null || true
	BARE_PID=
}
# bare_record WL CMDS: the bare probe's figures per command into the store.
bare_record() {
	rec "$1" bare bpf_run "$(div "$B_RT" "$B_RC")"
	rec "$1" bare bpf_cmd "$(div "$B_RT" "$2")"
	rec "$1" bare hits_cmd "$(div "$B_HITS" "$2" "%.3f")"
	rec "$1" bare uhits_cmd "$(div "$B_UHITS" "$2" "%.3f")"
}
bare_line() {
	printf 'bpftrace: %s probes attached, %s hits (%s/cmd), BPF %s ns/run, %s ns/cmd, exited %s s after SIGINT' "$BARE_ATTACHED" "$B_HITS" \
		"$(div "$B_HITS" "$1" "%.2f")" "$(div "$B_RT" "$B_RC" "%.0f")" "$(div "$B_RT" "$1" "%.0f")" "$B_EXIT_S"
}

# ---------------------------------------------------------------------------------------------
# rounds and the summary

# run_rounds WL FN MODES...: ROUNDS rounds over MODES, the first of which is off and the second
# bare; round r runs them rotated left by r-1, so each mode takes each place in turn.  FN MODE ROUND
# runs one and sets RUN_THR (its throughput).  Per round: every mode's ratio to off (r_off) and,
# beyond bare, to bare (r_bare).
run_rounds() {
	local wl=$1 fn=$2 r i m n line
	shift 2
	local -a modes=("$@") order
	n=${#modes[@]}
	for r in $(seq 1 "$ROUNDS"); do
		order=()
		for i in $(seq 0 $((n - 1))); do order+=("${modes[(i + r - 1) % n]}"); done
		echo "   round $r of $ROUNDS (order: ${order[*]})"
		local -A thr=()
		for m in "${order[@]}"; do
			"$fn" "$m" "$r"
			thr[$m]=$RUN_THR
			rec "$wl" "$m" thr "$RUN_THR"
		done
		line="      =>"
		for m in "${modes[@]}"; do
			[ "$m" = off ] && continue
			rec "$wl" "$m" r_off "$(div "${thr[$m]}" "${thr[off]}" "%.4f")"
			line+=" $m/off $(div "${thr[$m]}" "${thr[off]}" "%.3f")"
			[ "$m" = bare ] && continue
			rec "$wl" "$m" r_bare "$(div "${thr[$m]}" "${thr[bare]}" "%.4f")"
			line+=" $m/bare $(div "${thr[$m]}" "${thr[bare]}" "%.3f")"
		done
		echo "$line"
	done
}

# summary_row WL MODE LABEL UNIT [variant]: a row of the floor table (tab-separated) from the store's
# medians, to $TMP/summary.tsv and, when set, $BENCH_SUMMARY.  A variant row (another agent mode of
# the same workload) leaves out the figures of off and bare, which are the main row's.
summary_row() {
	local wl=$1 mode=$2 label=$3 unit=$4 variant=${5:-} off bo bb row
	if [ -n "$variant" ]; then
		off=
		bo=
		bb=
	else
		off="$(med "$wl" off thr) $unit"
		bo=$(med "$wl" bare r_off "%.3f")
		bb=$(med "$wl" bare bpf_run)
	fi
	row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s' "$label" "$off" "$(med "$wl" "$mode" r_off "%.3f")" "$bo" \
		"$(med "$wl" "$mode" r_bare "%.3f")" "$(med "$wl" "$mode" bpf_run)" "$(med "$wl" "$mode" bpf_cmd)" \
		"$(med "$wl" "$mode" cpu_cmd)" "$(total "$wl" "$mode" lost)" "$(med "$wl" "$mode" rss "%.1f")" \
		"$(vmax "$wl" "$mode" hwm "%.1f")" "$bb")
	printf '%s\n' "$row" >>"$TMP/summary.tsv"
	[ -z "${BENCH_SUMMARY:-}" ] || printf '%s\n' "$row" >>"$BENCH_SUMMARY"
}
# summary_note TEXT: a line printed under the table (idle CPU, load), kept with the rows.
summary_note() {
	printf '#\t%s\n' "$*" >>"$TMP/summary.tsv"
	[ -z "${BENCH_SUMMARY:-}" ] || printf '#\t%s\n' "$*" >>"$BENCH_SUMMARY"
}

# print_summary FILE: the floor table of the rows in FILE, then its notes.
print_summary() {
	awk -F'\t' '
		BEGIN { fmt = "%-34s %16s %9s %8s %10s %7s %9s %9s %5s %11s %7s\n"
			printf fmt, "workload", "off (median)", "agent/off", "bare/off", "agent/bare", "BPF ns", "BPF ns", "CPU ns", "lost", "RSS/peak", "bare ns"
			printf fmt, "", "", "", "", "", "/run", "/cmd", "/cmd", "", "MB", "/run"
			line = sprintf(fmt, "", "", "", "", "", "", "", "", "", "", ""); gsub(/./, "-", line); print line }
		$1 == "#" { notes[++nn] = $2; next }
		{ printf fmt, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }
		END { for (i = 1; i <= nn; i++) print notes[i] }' "$1"
}
# bench_legend: what the table columns are.
bench_legend() {
	cat <<'EOF'
(Medians over the rounds. off: throughput with no probe. agent/off, bare/off, agent/bare: the
 median of each round's ratio of throughputs; bare is bpftrace on the tracepoints (and USDT probes)
 the agent attaches, filtered on the server's processes, counting. A variant row (another agent
 setting) is compared with the same off and bare runs. BPF ns/run, per event (probe hit):
 run_time_ns/run_cnt of the agent's nx_* programs (kernel BPF statistics, which add ~20-40 ns a
 run). BPF ns/cmd and CPU ns/cmd: run_time_ns and the agent's utime+stime (/proc/PID/stat) over
 the commands or statements the agent counted (every syscall of interest on the machine included,
 the client's too); the trap cost of a uprobe or USDT probe is not in run_time_ns, it shows in the
 ratios. lost: events lost, summed over the rounds. RSS: VmRSS at the end of a run (median) /
 VmHWM (the highest). bare ns/run: the same figure for bpftrace's programs.)
EOF
}

# The details table of a script: row LABEL A B; both WL FIELD [FMT]: the median of the agent's runs
# and, when VARIANT (the script's second agent mode, or nothing) is set, of VARIANT's after " | ";
# tboth WL FIELD: the same of sums over the rounds; matches WL: "yes" unless a count of workload WL
# was wrong.
VARIANT=
row() { printf '%-46s %-26s %s\n' "$1" "$2" "$3"; }
both() {
	printf '%s' "$(med "$1" agent "$2" "${3:-%.0f}")"
	[ -z "$VARIANT" ] || printf ' | %s' "$(med "$1" "$VARIANT" "$2" "${3:-%.0f}")"
}
tboth() {
	printf '%s' "$(total "$1" agent "$2")"
	[ -z "$VARIANT" ] || printf ' | %s' "$(total "$1" "$VARIANT" "$2")"
}
matches() {
	local m
	for m in "${MISMATCHES[@]}"; do [[ $m == "$1 "* ]] && { echo NO; return 0; }; done
	echo yes
}

# bench_finish: exit 1 when an agent count was wrong (the table has been printed by then).
bench_finish() {
	if [ "${#MISMATCHES[@]}" -gt 0 ]; then
		printf '%s: FAILED: %d count(s) wrong:\n' "$BENCH_TAG" "${#MISMATCHES[@]}" >&2
		printf '   %s\n' "${MISMATCHES[@]}" >&2
		exit 1
	fi
}
