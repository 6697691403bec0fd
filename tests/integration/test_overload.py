#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Overload: more traffic than the agent can drain, on purpose. A real redis-server, the agent
with a 1 MiB ring buffer and 1 MiB captures, and redis-benchmark writing 16 KiB values in
pipelines of 32 from 40 clients: the ring fills and records are lost. While that lasts, /metrics
keeps answering fast; the losses are counted, also by CPU; the parser resynchronises rather than
pairing the wrong replies (no error status Redis never sent, never more commands than Redis ran).
Afterwards a clean workload is counted exactly again within seconds. Prints TAP.
"""
import os
import re
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

OVERLOAD_SECONDS = 10
CHECKS = [
    "overload: with --ring-mb 1 and 16 KiB values from 40 pipelining clients the ring buffer "
    "overflows: nexus_agent_events_lost_total > 0",
    "nexus_agent_events_lost_by_cpu_total: per-CPU series that add up to "
    "nexus_agent_events_lost_total",
    "/metrics answers every scrape while overloaded, p99 under 100 ms",
    "no invented outcome: every command the agent counted during the overload has status ok "
    "(Redis sent no error reply), and for get and set the agent counted no more than INFO "
    "commandstats",
    "the parser resynchronised: nexus_redis_resyncs_total grew",
    "afterwards a clean workload (20,000 GET and SET, -P 16) is counted exactly (INFO "
    "commandstats deltas) within 10 s, and the agent is still running",
]


def metric(text, name, **match):
    total = 0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        if all(labels.get(k) == v for k, v in match.items()):
            total += float(m.group(2))
    return total


def commands(text):
    """{(command, status): count} from nexus_redis_commands_total."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^nexus_redis_commands_total\{([^}]*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            k = (labels.get("command"), labels.get("status"))
            out[k] = out.get(k, 0) + float(m.group(2))
    return out


def error_replies(redis):
    out, _ = redis.cli("INFO", "stats")
    m = re.search(r"total_error_replies:(\d+)", out)
    return int(m.group(1)) if m else None


def scraper(port, stop, lat, failures):
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            h.fetch(port, timeout=5)
            lat.append(time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            failures.append(repr(e))
        time.sleep(0.05)


def body(g):
    with h.redis_server() as redis:
        port = h.free_port()
        with h.agent("--no-default-targets", "--pid", str(redis.pid), "--listen",
                     "127.0.0.1:%d" % port, "--no-alerts", "--ring-mb", "1",
                     "--capture-bytes", "1048576", mode="run", raw=False) as agent:
            redis.cli("CONFIG", "RESETSTAT")
            before = h.fetch(port)
            stop, lat, failures = threading.Event(), [], []
            t = threading.Thread(target=scraper, args=(port, stop, lat, failures), daemon=True)
            t.start()
            load = subprocess.Popen(
                ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port), "-c", "40",
                 "-P", "32", "-d", "16384", "-n", "100000000", "-t", "set,get", "-q",
                 "-r", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                load.wait(OVERLOAD_SECONDS)
            except subprocess.TimeoutExpired:
                pass  # the way it ends: the time is up
            finally:
                load.kill()
                load.wait()
                stop.set()
                t.join(10)
            time.sleep(2.5)  # the ring drained, the figures published
            during = h.fetch(port)
            cstats, errs = h.commandstats(redis), error_replies(redis)
            lost = metric(during, "nexus_agent_events_lost_total")
            g.check(CHECKS[0], lost > 0, ["lost %d" % lost])
            by_cpu = [line for line in during.splitlines()
                      if line.startswith("nexus_agent_events_lost_by_cpu_total{")]
            g.check(CHECKS[1], by_cpu and metric(during, "nexus_agent_events_lost_by_cpu_total")
                    == lost, by_cpu + ["total %d" % lost])
            lat.sort()
            p99 = lat[int(len(lat) * 0.99) - 1] if lat else None
            g.check(CHECKS[2], not failures and len(lat) >= 20 and p99 < 0.1,
                    ["%d scrapes, p99 %s s, max %s s" % (len(lat), p99, lat[-1] if lat else None)]
                    + failures[:5])
            got = commands(during)
            invented = {k: v for k, v in got.items() if k[1] != "ok"}
            over = ["%s: agent %d > commandstats %d" % (c, got.get((c, "ok"), 0), cstats.get(c, 0))
                    for c in ("get", "set") if got.get((c, "ok"), 0) > cstats.get(c, 0)]
            g.check(CHECKS[3], errs == 0 and not invented and not over
                    and got.get(("set", "ok"), 0) > 0,
                    ["Redis error replies %s" % errs, "non-ok %s" % invented] + over
                    + ["agent %s, commandstats %s" % (
                        {c: got.get((c, "ok")) for c in ("get", "set")},
                        {c: cstats.get(c) for c in ("get", "set")})])
            g.check(CHECKS[4], metric(during, "nexus_redis_resyncs_total")
                    > metric(before, "nexus_redis_resyncs_total"),
                    ["resyncs %d -> %d" % (metric(before, "nexus_redis_resyncs_total"),
                                           metric(during, "nexus_redis_resyncs_total"))])

            a0, c0 = commands(h.fetch(port)), h.commandstats(redis)
            r, _ = h.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port), "-c", "4",
                          "-P", "16", "-n", "20000", "-t", "set,get", "-q"], timeout=60)
            c1 = h.commandstats(redis)
            want = {c: c1.get(c, 0) - c0.get(c, 0) for c in ("get", "set")}
            deadline, seen = time.monotonic() + 10, None
            while time.monotonic() < deadline:
                a1 = commands(h.fetch(port))
                seen = {c: a1.get((c, "ok"), 0) - a0.get((c, "ok"), 0) for c in ("get", "set")}
                if seen == want:
                    break
                time.sleep(0.25)
            g.check(CHECKS[5], seen == want and want["get"] == 20000 and agent.running,
                    ["agent %s, commandstats %s, running %s" % (seen, want, agent.running)])


def main():
    tap = h.Tap()
    missing = h.missing_tools("redis-server", "redis-benchmark")
    reason = h.privilege_skip_reason() or (missing and "missing: %s" % " ".join(missing))
    h.run_group(tap, CHECKS, body, skip_reason=reason)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
