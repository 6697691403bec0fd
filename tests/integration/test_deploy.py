#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""deploy/ works as shipped.

Static checks (no root): every YAML file parses; the Kubernetes objects have what the kubelet
needs (apiVersion/kind/name, image, ports, probes on the agent's routes and port, mounts whose
volumes exist, downward-API env, the capability list, tolerations, resources, the rules ConfigMap
wired to --alerts, Service/PodMonitor selecting the pods) and kustomize renders them; promtool
checks the Prometheus configs and rules and runs their unit tests; amtool checks the Alertmanager
config and where three alerts are routed; the OTel collector config's pipelines name defined
components; the Grafana dashboard is well formed; systemd-analyze verifies the unit; the image's
run stage installs a package for every library `ldd build/nexus-agent` reports.

Live checks (root, kernel BTF): a real redis-server and postgres with traffic (errors, misses, a
slow command, a slow statement), the agent run as the DaemonSet runs it (its capability set only,
the ConfigMap's rules file, --pg-exec-time --redis-uprobes for the optional families): /healthz and
/readyz answer; every metric name (and selector label) that the dashboard, the recording and
alerting rules and the rules files use is one the agent exports; Debian's Prometheus, on loopback
with the shipped config (only the target address rewritten; the Kubernetes job's pod discovery
replaced by a file with the same meta labels), scrapes the agent, relabels the pod target, answers
histogram_quantile over our histogram with a number, evaluates the recording rules and every
dashboard query. Prints TAP; what cannot run here is reported as skipped with the reason.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
try:
    import yaml
except ImportError:  # pyenv's python3 may lack it; Debian's python3-yaml is under /usr/bin
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    yaml = None
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DEPLOY = os.path.join(h.REPO, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
PROM = os.path.join(DEPLOY, "prometheus")
PROMETHEUS = os.environ.get("NEXUS_PROMETHEUS", "/usr/bin/prometheus")
CAPS = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"}
CAP_BITS = {"DAC_READ_SEARCH": 2, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_RESOURCE": 24,
            "PERFMON": 38, "BPF": 39}
DOWNWARD = {"NODE_NAME": "spec.nodeName", "POD_NAME": "metadata.name",
            "POD_NAMESPACE": "metadata.namespace"}
# labels Prometheus (not the agent) puts on series: the target's and the scrape configs' own
TARGET_LABELS = {"instance", "job", "node", "namespace", "pod"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def yaml_files():
    out = []
    for root, _, files in os.walk(DEPLOY):
        out += [os.path.join(root, f) for f in files if f.endswith((".yaml", ".yml"))]
    return sorted(out)


def rel(path):
    return os.path.relpath(path, h.REPO)


def agent_port():
    """The agent's default port, from its own --help ("default :9435")."""
    r, _ = h.run([h.AGENT, "--help"], timeout=10)
    m = re.search(r"--listen HOST:PORT.*default :(\d+)", r.stdout.decode() + r.stderr.decode())
    if not m:
        raise h.HarnessError("no default port in nexus-agent --help")
    return int(m.group(1))


def agent_routes():
    """The paths in run.c's route table."""
    return set(re.findall(r'\{\s*"(/[^"]*)",\s*\w+,', read(os.path.join(h.REPO, "agent", "cli",
                                                                          "run.c"))))


# -------------------------------------------------------------------------------- Kubernetes

def k8s_objects():
    """{(kind, name): (file, object)} for every file kustomization.yaml lists."""
    kust = yaml.safe_load(read(os.path.join(K8S, "kustomization.yaml")))
    objs = {}
    for f in kust["resources"]:
        for o in yaml.safe_load_all(read(os.path.join(K8S, f))):
            if o is not None:
                objs[(o.get("kind"), (o.get("metadata") or {}).get("name"))] = (f, o)
    return kust, objs


def only(objs, kind):
    found = [o for (k, _), (_, o) in objs.items() if k == kind]
    if len(found) != 1:
        raise h.HarnessError("expected one %s, found %d" % (kind, len(found)))
    return found[0]


def k8s_checks(tap):
    names = ["kustomization lists every manifest in deploy/kubernetes, and only those",
             "every object has apiVersion, kind, metadata.name; namespaced ones are in nexus",
             "kubectl kustomize renders the same objects",
             "DaemonSet: hostPID, every-node toleration, service account exists",
             "DaemonSet: image, port named http on the agent's default port",
             "DaemonSet: startup/readiness on /readyz, liveness on /healthz, agent routes",
             "DaemonSet: every mount's volume exists and btf/tracing/bpffs are host paths",
             "DaemonSet: downward-API NODE_NAME, POD_NAME, POD_NAMESPACE",
             "DaemonSet: capabilities drop ALL, add exactly BPF PERFMON SYS_RESOURCE "
             "SYS_PTRACE DAC_READ_SEARCH SYS_ADMIN; not privileged, privileged fallback "
             "documented",
             "DaemonSet: CPU and memory requests and limits, requests <= limits",
             "DaemonSet: --alerts names the ConfigMap's file where it is mounted",
             "Service and PodMonitor select the pods and name their http port"]

    def body(g):
        kust, objs = k8s_objects()
        files = sorted(f for f in os.listdir(K8S) if f.endswith(".yaml")
                       and f != "kustomization.yaml")
        g.check(names[0], sorted(kust["resources"]) == files,
                "listed %s, present %s" % (sorted(kust["resources"]), files))

        bad = []
        for (kind, name), (f, o) in objs.items():
            if not (o.get("apiVersion") and kind and name):
                bad.append("%s: %s/%s lacks apiVersion/kind/name" % (f, kind, name))
            if kind != "Namespace" and o["metadata"].get("namespace") != "nexus":
                bad.append("%s: %s/%s not in namespace nexus" % (f, kind, name))
        g.check(names[1], not bad and ("Namespace", "nexus") in objs, bad)

        kubectl = shutil.which("kubectl")
        if kubectl:
            r, _ = h.run([kubectl, "kustomize", K8S], timeout=60)
            rendered = {(o["kind"], o["metadata"]["name"])
                        for o in yaml.safe_load_all(r.stdout.decode()) if o}
            g.check(names[2], r.returncode == 0 and rendered == set(objs),
                    [r.stderr.decode()[-500:], "rendered %s" % sorted(rendered)])
        else:
            g.done.add(names[2])
            tap.skip(names[2], "kubectl not installed")

        ds = only(objs, "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        labels = ds["spec"]["template"]["metadata"]["labels"]
        sel = ds["spec"]["selector"]["matchLabels"]
        c = pod["containers"][0]
        tol = pod.get("tolerations") or []
        g.check(names[3], pod.get("hostPID") is True
                and any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t
                        for t in tol)
                and ("ServiceAccount", pod.get("serviceAccountName")) in objs
                and all(labels.get(k) == v for k, v in sel.items()),
                "hostPID %r tolerations %r sa %r" % (pod.get("hostPID"), tol,
                                                      pod.get("serviceAccountName")))

        port = agent_port()
        ports = {p["name"]: p for p in c.get("ports", [])}
        args = c.get("args", [])
        listen = args[args.index("--listen") + 1] if "--listen" in args else ":%d" % port
        g.check(names[4], c.get("image") and c.get("name")
                and ports.get("http", {}).get("containerPort") == port
                and listen.rsplit(":", 1)[1] == str(port),
                "image %r ports %r listen %r, agent default %d" % (c.get("image"), ports,
                                                                   listen, port))

        routes = agent_routes()
        probes = {k: (c.get(k) or {}).get("httpGet", {}) for k in
                  ("startupProbe", "readinessProbe", "livenessProbe")}
        g.check(names[5], probes["livenessProbe"].get("path") == "/healthz"
                and probes["readinessProbe"].get("path") == "/readyz"
                and probes["startupProbe"].get("path") == "/readyz"
                and all(p.get("port") in ports or p.get("port") == port
                        for p in probes.values())
                and {"/healthz", "/readyz", "/metrics"} <= routes,
                "probes %r, run.c routes %r" % (probes, sorted(routes)))

        vols = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        missing = [m["name"] for m in mounts.values() if m["name"] not in vols]
        unused = [n for n in vols if n not in {m["name"] for m in mounts.values()}]
        host = {p: vols.get(mounts.get(p, {}).get("name"), {}).get("hostPath", {}).get("path")
                for p in ("/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/bpf")}
        g.check(names[6], not missing and not unused and all(host[p] == p for p in host),
                "missing %r unused %r host paths %r" % (missing, unused, host))

        env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
               for e in c.get("env", [])}
        g.check(names[7], all(env.get(k) == v for k, v in DOWNWARD.items()), repr(env))

        sc = c.get("securityContext", {})
        capa = sc.get("capabilities", {})
        ds_text = read(os.path.join(K8S, "daemonset.yaml"))
        g.check(names[8], set(capa.get("add", [])) == CAPS and capa.get("drop") == ["ALL"]
                and not sc.get("privileged")
                and re.search(r"^#\s+privileged: true", ds_text, re.M) is not None,
                repr(sc))

        res = c.get("resources", {})

        def qty(v):
            m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Mi|Gi|Ki)?", str(v))
            mult = {None: 1, "m": 0.001, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3}
            return float(m.group(1)) * mult[m.group(2)]
        ok = all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory"))
        g.check(names[9], ok and all(qty(res["requests"][k]) <= qty(res["limits"][k])
                                     for k in ("cpu", "memory")), repr(res))

        cm = only(objs, "ConfigMap")
        alerts_path = args[args.index("--alerts") + 1] if "--alerts" in args else None
        why = []
        if alerts_path:
            d, f = os.path.split(alerts_path)
            m = mounts.get(d)
            v = vols.get(m["name"]) if m else None
            if not (v and v.get("configMap", {}).get("name") == cm["metadata"]["name"]
                    and f in cm.get("data", {})):
                why.append("no ConfigMap mounted at %s holding %s" % (d, f))
        g.check(names[10], alerts_path and not why, why or "no --alerts in args")

        svc = only(objs, "Service")
        pm = only(objs, "PodMonitor")
        sp = svc["spec"]
        ep = pm["spec"]["podMetricsEndpoints"]
        g.check(names[11],
                all(labels.get(k) == v for k, v in sp["selector"].items())
                and all(p.get("targetPort") in ports for p in sp["ports"])
                and all(labels.get(k) == v
                        for k, v in pm["spec"]["selector"]["matchLabels"].items())
                and all(e.get("port") in ports and e.get("path", "/metrics") in routes
                        for e in ep),
                [repr(sp), repr(pm["spec"])])

    h.run_group(tap, names, body, None if yaml else "python3-yaml is not installed")


# --------------------------------------------------------------------- Prometheus, Alertmanager

def tool_checks(tap):
    promtool = shutil.which("promtool")
    amtool = shutil.which("amtool")
    names_p = ["promtool check config deploy/prometheus/prometheus.yml",
               "promtool check config prometheus-kubernetes.yml "
               "(pod discovery swapped for file discovery: relabeling checked)",
               "promtool check rules on the recording and alerting rules",
               "promtool test rules deploy/prometheus/nexus-rules.test.yml"]

    def prom(g):
        r, _ = h.run([promtool, "check", "config", os.path.join(PROM, "prometheus.yml")],
                     timeout=60)
        g.check(names_p[0], r.returncode == 0, (r.stdout + r.stderr).decode()[-800:])
        with tempfile.TemporaryDirectory(prefix="nx-prom-") as tmp:
            cfg = yaml.safe_load(read(os.path.join(PROM, "prometheus-kubernetes.yml")))
            for sc in cfg["scrape_configs"]:
                if sc.pop("kubernetes_sd_configs", None) is not None:
                    sc["file_sd_configs"] = [{"files": [os.path.join(tmp, "pods.json")]}]
            for f in cfg.get("rule_files", []):
                shutil.copy(os.path.join(PROM, f), tmp)
            with open(os.path.join(tmp, "k8s.yml"), "w") as f:
                yaml.safe_dump(cfg, f)
            r, _ = h.run([promtool, "check", "config", os.path.join(tmp, "k8s.yml")], timeout=60)
            g.check(names_p[1], r.returncode == 0, (r.stdout + r.stderr).decode()[-800:])
        rules = [os.path.join(PROM, f) for f in ("nexus-recording.rules.yml",
                                                 "nexus-alerting.rules.yml")]
        r, _ = h.run([promtool, "check", "rules"] + rules, timeout=60)
        g.check(names_p[2], r.returncode == 0 and b"SUCCESS" in r.stdout,
                (r.stdout + r.stderr).decode()[-800:])
        r, _ = h.run([promtool, "test", "rules", "nexus-rules.test.yml"], timeout=120, cwd=PROM)
        g.check(names_p[3], r.returncode == 0 and b"SUCCESS" in r.stdout,
                (r.stdout + r.stderr).decode()[-1500:])

    h.run_group(tap, names_p, prom, None if promtool and yaml else
                "promtool (Debian's prometheus) or python3-yaml is not installed")

    am = os.path.join(DEPLOY, "alertmanager", "alertmanager.yml")
    routes = [("kind=redis severity=critical alertname=redis_miss_storm", "pager,cache-team"),
              ("kind=postgres severity=warning alertname=postgres_deadlock", "dba-team"),
              ("kind=agent severity=warning alertname=events_lost", "platform"),
              ("alertname=NexusHealthScoreLow severity=warning", "platform")]
    names_a = ["amtool check-config deploy/alertmanager/alertmanager.yml"] + \
        ["route %s -> %s" % r for r in routes]

    def amc(g):
        r, _ = h.run([amtool, "check-config", am], timeout=60)
        g.check(names_a[0], r.returncode == 0 and b"SUCCESS" in r.stdout,
                (r.stdout + r.stderr).decode()[-800:])
        for (labels, want), name in zip(routes, names_a[1:]):
            r, _ = h.run([amtool, "config", "routes", "test", "--config.file=" + am]
                         + labels.split(), timeout=60)
            got = r.stdout.decode().strip()
            g.check(name, r.returncode == 0 and got == want, "got %r" % got)

    h.run_group(tap, names_a, amc, None if amtool else
                "amtool (Debian's prometheus-alertmanager) is not installed")


# ------------------------------------------------------------ OTel, Grafana, systemd, image

def dashboard_exprs():
    d = json.loads(read(os.path.join(DEPLOY, "grafana", "nexus-agent.json")))
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            out.append(("variable " + v["name"], m.group(1) if m else q))
    return d, out


def rule_exprs():
    out = []
    for f in ("nexus-recording.rules.yml", "nexus-alerting.rules.yml"):
        for grp in yaml.safe_load(read(os.path.join(PROM, f)))["groups"]:
            for r in grp["rules"]:
                out.append((f, r.get("record") or r.get("alert"), r["expr"]))
    return out


def other_checks(tap):
    names = ["OTel collector: OTLP/HTTP on :4318, prometheusremotewrite and debug exporters, "
             "pipelines name defined components",
             "Grafana dashboard: JSON, unique panel ids, every panel has a datasource and queries",
             "systemd-analyze verify deploy/systemd/nexus-agent.service",
             "systemd unit: the DaemonSet's capabilities, hardening, the rules file",
             "image: run stage from bookworm-slim installs no build tools; build stage uses "
             "install-deps.sh build",
             "image: every library the agent links directly has its package in the run stage",
             "image: every library ldd reports comes with the run stage's packages"]

    def body(g):
        col = yaml.safe_load(read(os.path.join(DEPLOY, "otel", "collector.yaml")))
        comps = {k: set(col.get(k) or {}) for k in ("receivers", "processors", "exporters")}
        pipes = col["service"]["pipelines"]
        undefined = [(p, k, n) for p, spec in pipes.items() for k in comps
                     for n in spec.get(k, []) if n not in comps[k]]
        http = col["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        g.check(names[0], not undefined and http.endswith(":4318")
                and "prometheusremotewrite" in pipes["metrics"]["exporters"]
                and "debug" in pipes["metrics"]["exporters"] and "logs" in pipes
                and set(col["service"].get("extensions", [])) <= set(col.get("extensions", {})),
                "undefined %r, http %r" % (undefined, http))

        d, exprs = dashboard_exprs()
        ids = [p["id"] for p in d["panels"]]
        bad = [p["title"] for p in d["panels"] if p["type"] != "row"
               and not (p.get("datasource") and p.get("targets")
                        and all(t.get("expr") for t in p["targets"]))]
        g.check(names[1], d.get("uid") and len(ids) == len(set(ids)) and not bad
                and len(exprs) >= 20, "bad panels %r, %d queries" % (bad, len(exprs)))

        unit = read(os.path.join(DEPLOY, "systemd", "nexus-agent.service"))
        sa = shutil.which("systemd-analyze")
        if sa:
            with tempfile.TemporaryDirectory(prefix="nx-unit-") as tmp:
                # verify insists that ExecStart exists: point it at the built agent
                path = os.path.join(tmp, "nexus-agent.service")
                with open(path, "w") as f:
                    f.write(unit.replace("/usr/local/bin/nexus-agent", h.AGENT))
                r, _ = h.run([sa, "verify", path], timeout=60)
                out = (r.stdout + r.stderr).decode()
                g.check(names[2], r.returncode == 0 and not out.strip(), out[-800:])
        else:
            g.done.add(names[2])
            tap.skip(names[2], "systemd-analyze not installed")

        kv = {}
        for line in unit.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                kv[k.strip()] = v.strip()
        want = {"CAP_" + c for c in CAPS}
        g.check(names[3], set(kv.get("CapabilityBoundingSet", "").split()) == want
                and set(kv.get("AmbientCapabilities", "").split()) == want
                and kv.get("ProtectSystem") == "strict" and kv.get("NoNewPrivileges") == "yes"
                and "--alerts" in kv.get("ExecStart", "") and kv.get("ExecReload"), repr(kv))

        stages = re.split(r"^FROM\s+", read(os.path.join(DEPLOY, "Dockerfile")), flags=re.M)[1:]
        build, runst = stages[0], stages[-1]
        text = runst.replace("\\\n", " ")
        pkgs = set()
        for m in re.finditer(r"apt-get install((?:\s+[^&\s]+)+)", text):
            pkgs |= {p for p in m.group(1).split() if not p.startswith("-")}
        tools = [p for p in pkgs if p.endswith("-dev") or p in ("gcc", "clang", "make", "llvm")]
        g.check(names[4], len(stages) == 2 and runst.startswith("debian:bookworm-slim")
                and build.startswith("debian:bookworm ") and "install-deps.sh build" in build
                and "COPY --from=build" in runst and not tools and pkgs,
                "run stage packages %r" % sorted(pkgs))

        libs = ldd_packages()
        needed = direct_packages()
        core = base_packages()
        closure = depends_closure(pkgs)
        g.check(names[5], needed <= pkgs | core,
                "linked directly, not listed: %r" % sorted(needed - pkgs - core))
        g.check(names[6], set(libs.values()) <= closure | core,
                ["not installed by the run stage: %s (%s)" % (p, lib)
                 for lib, p in sorted(libs.items()) if p not in closure | core])

    h.run_group(tap, names, body, None if yaml and shutil.which("dpkg-query") else
                "python3-yaml or dpkg is not available")

    docker = shutil.which("docker")
    ok = False
    if docker:
        r, _ = h.run([docker, "info"], timeout=30)
        ok = r.returncode == 0
    name = "docker build -f deploy/Dockerfile, and the image's agent prints its version"
    if not ok:
        tap.skip(name, "no Docker daemon here")
        return
    tag = "nexus-agent-test:%d" % os.getpid()
    try:
        r, _ = h.run([docker, "build", "-q", "-f", os.path.join(DEPLOY, "Dockerfile"), "-t", tag,
                      h.REPO], timeout=1800)
        v, _ = h.run([docker, "run", "--rm", "--entrypoint", "/usr/local/bin/nexus-agent", tag,
                      "version"], timeout=120)
        tap.ok(r.returncode == 0 and v.returncode == 0 and b"0." in v.stdout, name,
               (r.stderr + v.stderr).decode()[-800:])
    finally:
        h.run([docker, "rmi", "-f", tag], timeout=120)


def dpkg_owner(path):
    for p in {path, os.path.realpath(path), re.sub(r"^/usr/lib/", "/lib/", path),
              re.sub(r"^/lib/", "/usr/lib/", path), re.sub(r"^/lib/", "/usr/lib/",
                                                           os.path.realpath(path))}:
        r, _ = h.run(["dpkg", "-S", p], timeout=30)
        if r.returncode == 0:
            return r.stdout.decode().split(":")[0].strip()
    raise h.HarnessError("no Debian package owns %s" % path)


def ldd_packages():
    """{library path: package} for everything ldd resolves for the agent."""
    r, _ = h.run(["ldd", h.AGENT], timeout=30)
    out = {}
    for m in re.finditer(r"=>\s+(/\S+)", r.stdout.decode()):
        out[m.group(1)] = dpkg_owner(m.group(1))
    m = re.search(r"^\s*(/lib\S*ld-linux\S*)", r.stdout.decode(), re.M)
    if m:
        out[m.group(1)] = dpkg_owner(m.group(1))
    if not out:
        raise h.HarnessError("ldd reported nothing: %s" % r.stderr.decode())
    return out


def direct_packages():
    """Packages of the agent's DT_NEEDED libraries."""
    r, _ = h.run(["readelf", "-d", h.AGENT], timeout=30)
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", r.stdout.decode())
    lr, _ = h.run(["ldd", h.AGENT], timeout=30)
    paths = dict(re.findall(r"^\s*(\S+)\s+=>\s+(/\S+)", lr.stdout.decode(), re.M))
    return {dpkg_owner(paths[n]) for n in needed if n in paths}


def base_packages():
    """Essential and Priority: required packages and what they depend on (libc6...):
    debian:bookworm-slim has them all."""
    r, _ = h.run(["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\\n"],
                 timeout=60)
    return depends_closure({l.split()[0] for l in r.stdout.decode().splitlines()
                            if " yes " in l + " " or l.endswith(" required")})


def depends_closure(pkgs):
    """pkgs and everything they depend on (every installed alternative), from dpkg's database."""
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        r, _ = h.run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p], timeout=30)
        if r.returncode != 0:
            continue
        for alt in re.split(r",|\|", r.stdout.decode()):
            name = re.sub(r"\(.*?\)|:\w+", "", alt).strip()
            if name and name not in seen:
                todo.append(name)
    return seen


# ------------------------------------------------------------------------------------- live

def http_get(port, path, timeout=10):
    """(status, body); (None, why) when nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def http_wait(port, path, timeout=15):
    """The first answer of the agent's HTTP server, which starts just after the attach line."""
    return h.wait_until(lambda: (lambda r: r if r[0] is not None else None)(
        http_get(port, path)), timeout, 0.1) or http_get(port, path)


def promql_names(expr):
    """(metric names, [(metric, label)] used in selectors) of a PromQL expression."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = set()
    for m in re.finditer(r"(?<![\w:$])([a-zA-Z_:][a-zA-Z0-9_:]*)", bare):
        n = m.group(1)
        if n.startswith("nexus_") or ":" in n or n == "up":
            names.add(n)
    sel = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
        for lm in re.finditer(r"(\w+)\s*(?:=~|!~|!=|=)", m.group(2)):
            sel.append((m.group(1), lm.group(1)))
    return names, sel


class Load:
    """Steady Redis traffic from one connection (hits, misses, an error now and then) so that
    rates are above zero in every scrape window."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                f = s.makefile("rb")
                i = 0
                while not self.stop.is_set():
                    # a present key, an absent one, and an error every 20 rounds (INCR of "v":
                    # ERR value is not an integer)
                    cmds = [["SET", "user:%d" % (i % 50), "v"], ["GET", "user:%d" % (i % 50)],
                            ["GET", "sess:%d" % i]] + ([["INCR", "user:1"]] if i % 20 == 0
                                                       else [])
                    for c in cmds:
                        s.sendall(("*%d\r\n" % len(c) + "".join(
                            "$%d\r\n%s\r\n" % (len(a), a) for a in c)).encode())
                        line = f.readline()
                        if line.startswith(b"$") and int(line[1:]) >= 0:
                            f.read(int(line[1:]) + 2)
                        self.sent += 1
                    i += 1
                    time.sleep(0.05)
        except OSError:
            pass

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(timeout=5)


def own_caps(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return 0


def setpriv_argv(caps=CAPS):
    """setpriv limiting the agent to the DaemonSet's capabilities, or None."""
    sp = shutil.which("setpriv")
    if not sp:
        return None
    r, _ = h.run([sp, "--bounding-set=-all,+bpf,+perfmon", "true"], timeout=10)
    if r.returncode != 0:
        return None
    return [sp, "--bounding-set=-all," + ",".join("+" + c.lower() for c in sorted(caps))]


def live_checks(tap):
    names = ["agent runs with only the DaemonSet's capabilities (CapEff)",
             "GET /healthz answers 200 ok, /readyz 200 ready",
             "Redis and PostgreSQL traffic shows on /metrics (commands, statements, slow ones)",
             "every metric the dashboard queries is one the agent exports",
             "every metric the recording and alerting rules use is exported or recorded",
             "every metric the rules files' custom rules name is exported",
             "selector labels in dashboard and rules exist on those metrics",
             "Prometheus (shipped config, target rewritten) scrapes the agent: up",
             "the Kubernetes job's relabeling keeps the pod target with node/namespace/pod",
             "histogram_quantile(0.95, ... nexus_redis_command_duration_seconds_bucket[1m]) "
             "is a number",
             "recording rules: Redis hit ratio and p95 recorded from the live agent",
             "every dashboard query evaluates in Prometheus without error",
             "the agent's peak resident memory stays under the DaemonSet's memory limit",
             "without SYS_ADMIN and with --no-usdt (the documented wire-only set) the agent is "
             "ready and counts Redis commands"]
    skip = h.privilege_skip_reason()
    miss = h.missing_tools("redis-server", "postgres", "initdb", "psql", PROMETHEUS)
    if not skip and miss:
        skip = "missing: " + ", ".join(miss)
    if not skip and not yaml:
        skip = "python3-yaml is not installed"

    def body(g):
        with h.time_limit(400), h.redis_server() as rs, h.postgres_server() as pg, \
                tempfile.TemporaryDirectory(prefix="nx-deploy-") as tmp:
            _, objs = k8s_objects()
            cm = only(objs, "ConfigMap")
            rules_file = os.path.join(tmp, "alerts.yaml")
            with open(rules_file, "w") as f:
                f.write(cm["data"]["alerts.yaml"])
            port = h.free_port()
            prefix = setpriv_argv()
            argv = (prefix or []) + [h.AGENT, "run", "--listen", "127.0.0.1:%d" % port,
                                     "--alerts", rules_file, "--pg-exec-time",
                                     "--redis-uprobes"]
            a = h.AgentRun(argv)
            a.start()
            try:
                if prefix:
                    eff = 0
                    with open("/proc/%d/status" % a.proc.pid) as f:
                        for line in f:
                            if line.startswith("CapEff:"):
                                eff = int(line.split()[1], 16)
                    # what the DaemonSet adds, within what this test itself may hold
                    want = sum(1 << CAP_BITS[c] for c in CAPS) & own_caps("CapBnd")
                    g.check(names[0], eff == want, "CapEff %x, want %x" % (eff, want))
                else:
                    g.done.add(names[0])
                    tap.skip(names[0], "setpriv cannot set CAP_BPF here")
                live = http_wait(port, "/healthz")
                ready = http_get(port, "/readyz")
                g.check(names[1], live[0] == 200 and live[1].startswith("ok")
                        and ready[0] == 200 and ready[1].startswith("ready"),
                        "healthz %r readyz %r" % (live, ready))
                with Load(rs.port) as load:
                    # a command that holds the server 50 ms: slow by the default 10 ms (DEBUG
                    # SLEEP would be refused: enable-debug-command is "no" by default)
                    rs.cli("EVAL", "local s = redis.call('TIME') repeat local t = "
                           "redis.call('TIME') until (t[1] - s[1]) * 1e6 + t[2] - s[2] > 50000 "
                           "return 1", "0")
                    pg.psql(["CREATE TABLE t (a int)",
                             "INSERT INTO t SELECT generate_series(1, 1000)",
                             "SELECT count(*) FROM t", "SELECT pg_sleep(0.6)"])
                    try:
                        pg.psql("SELECT 1/0")
                    except h.HarnessError:
                        pass

                    zero = []

                    def scrape():
                        st, text = http_get(port, "/metrics")
                        fams = h.parse_prometheus(text) if st == 200 else {}
                        zero[:] = [n for n in ("nexus_redis_slow_commands_total",
                                               "nexus_postgres_queries_total",
                                               "nexus_redis_keyspace_misses_total",
                                               "nexus_postgres_query_exec_seconds_total",
                                               "nexus_redis_command_exec_seconds",
                                               "nexus_postgres_buffer_hits_total")
                                   if not any(v > 0 for _, _, v in
                                              fams.get(n, {}).get("samples", []))]
                        return fams if not zero else None
                    fams = h.wait_until(scrape, 30, 0.5)
                    g.check(names[2], fams, ["still zero: %s" % zero] + a.stderr_tail())
                    fams = fams or h.parse_prometheus(http_get(port, "/metrics")[1])
                    check_names(g, names[3:7], fams)
                    prometheus(g, names[7:12], port, tmp, load, rs.port)
                    hwm = 0
                    with open("/proc/%d/status" % a.proc.pid) as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                hwm = int(line.split()[1]) * 1024
                    c = only(objs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
                    limit = c["resources"]["limits"]["memory"]
                    m = re.fullmatch(r"(\d+)Mi", limit)
                    g.check(names[12], m and 0 < hwm < int(m.group(1)) * 1024 * 1024,
                            "VmHWM %d MiB, limit %s" % (hwm >> 20, limit))
            finally:
                a.stop()
            wire_only(g, names[-1], rs)

    h.run_group(tap, names, body, skip)


def wire_only(g, name, rs):
    prefix = setpriv_argv(CAPS - {"SYS_ADMIN"})
    if not prefix:
        g.done.add(name)
        g.tap.skip(name, "setpriv cannot set CAP_BPF here")
        return
    port = h.free_port()
    a = h.AgentRun(prefix + [h.AGENT, "run", "--listen", "127.0.0.1:%d" % port, "--no-usdt",
                             "--no-alerts", "--no-default-targets", "--pid", str(rs.pid)])
    a.start()
    try:
        ready = http_wait(port, "/readyz")
        for i in range(5):
            rs.cli("SET", "wire:%d" % i, "v")

        def counted():
            fams = h.parse_prometheus(http_get(port, "/metrics")[1])
            return sum(v for n, lab, v in fams.get("nexus_redis_commands_total",
                                                   {}).get("samples", [])
                       if lab.get("command") == "set")
        n = h.wait_until(counted, 15, 0.5)
        denied = [l for l in a.stderr if "Permission denied" in l or "ermission" in l]
        g.check(name, ready[0] == 200 and n and n >= 5 and not denied,
                ["readyz %r, SETs counted %r" % (ready, n)] + denied + a.stderr_tail())
    finally:
        a.stop()


def exported(fams):
    """{series name: set of label names} the agent exports (histogram parts included; a family
    with no samples yet counts by its TYPE line)."""
    out = {}
    for fam, f in fams.items():
        out.setdefault(fam, set())
        if f["type"] == "histogram":
            for s in ("_bucket", "_sum", "_count"):
                out.setdefault(fam + s, set())
        for name, labels, _ in f["samples"]:
            out.setdefault(name, set()).update(labels)
    return out


def check_names(g, names, fams):
    have = exported(fams)
    recorded = {r for _, r, _ in rule_exprs() if r and ":" in r}
    _, dash = dashboard_exprs()
    sels = []

    unknown = []
    for title, e in dash:
        n, s = promql_names(e)
        sels += s
        unknown += ["%s: %s" % (title, x) for x in n if x != "up" and x not in have]
    g.check(names[0], not unknown, unknown)

    unknown = []
    for f, rule, e in rule_exprs():
        n, s = promql_names(e)
        sels += s
        unknown += ["%s %s: %s" % (f, rule, x) for x in n
                    if x != "up" and x not in have and x not in recorded]
    g.check(names[1], not unknown, unknown)

    _, objs = k8s_objects()
    files = {"configmap-alerts.yaml": yaml.safe_load(only(objs, "ConfigMap")["data"]
                                                     ["alerts.yaml"]),
             "alerts.example.yaml": yaml.safe_load(read(os.path.join(DEPLOY,
                                                                     "alerts.example.yaml")))}
    metrics = [(f, r["metric"]) for f, d in files.items() for r in d.get("custom_rules") or []]
    g.check(names[2], metrics and all(m in have for _, m in metrics),
            ["%s: %s" % fm for fm in metrics if fm[1] not in have])

    bad = sorted({"%s{%s}" % (m, l) for m, l in sels
                  if l not in TARGET_LABELS and m in have and have[m] and l not in have[m]})
    g.check(names[3], not bad, bad)


def prometheus(g, names, agent_port_, tmp, load, redis_port):
    """Debian's Prometheus with the shipped configs on loopback; names: the 5 checks."""
    cfg = yaml.safe_load(read(os.path.join(PROM, "prometheus.yml")))
    for sc in cfg["scrape_configs"]:
        for st in sc.get("static_configs", []):
            st["targets"] = ["127.0.0.1:%d" % agent_port_]
    k8s = yaml.safe_load(read(os.path.join(PROM, "prometheus-kubernetes.yml")))
    for sc in k8s["scrape_configs"]:
        if sc.pop("kubernetes_sd_configs", None) is not None:
            # what the pod role would find for one agent pod of the DaemonSet
            _, objs = k8s_objects()
            ds = only(objs, "DaemonSet")
            tpl = ds["spec"]["template"]
            meta = {"__meta_kubernetes_namespace": ds["metadata"]["namespace"],
                    "__meta_kubernetes_pod_name": "nexus-agent-x1y2z",
                    "__meta_kubernetes_pod_node_name": "node-a",
                    "__meta_kubernetes_pod_container_port_name":
                        tpl["spec"]["containers"][0]["ports"][0]["name"]}
            for k, v in tpl["metadata"]["labels"].items():
                meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = v
            for k, v in tpl["metadata"]["annotations"].items():
                meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = v
            # the pod role's address is the pod IP and container port; the annotation port is
            # what relabeling puts there: here the agent's real port
            meta["__meta_kubernetes_pod_annotation_prometheus_io_port"] = str(agent_port_)
            with open(os.path.join(tmp, "pods.json"), "w") as f:
                json.dump([{"targets": ["127.0.0.1:1"], "labels": meta}], f)
            sc["file_sd_configs"] = [{"files": [os.path.join(tmp, "pods.json")],
                                      "refresh_interval": "5s"}]
            cfg["scrape_configs"].append(sc)
    for f in cfg.get("rule_files", []):
        shutil.copy(os.path.join(PROM, f), tmp)
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        yaml.safe_dump(cfg, f)
    port = h.free_port()
    log = os.path.join(tmp, "prometheus.log")
    with open(log, "wb") as logf:
        proc = subprocess.Popen([PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % port],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp)
    try:
        def api(path, **params):
            url = "/api/v1/%s?%s" % (path, urllib.parse.urlencode(params))
            try:
                st, body = http_get(port, url)
                return json.loads(body) if st in (200, 400, 422) else None
            except (OSError, ValueError):
                return None

        def targets():
            t = api("targets")
            if not t:
                return None
            act = t["data"]["activeTargets"]
            return act if len(act) == 2 and all(x["health"] == "up" for x in act) else None
        act = h.wait_until(targets, 90, 1) or (api("targets") or {}).get("data", {}).get(
            "activeTargets", [])
        diag = ["prometheus log: " + l for l in h._tail(log, 10)] + [repr(act)]
        local = [x for x in act if x["labels"].get("job") == "nexus-agent-local"]
        pods = [x for x in act if x["labels"].get("job") == "nexus-agent"]
        g.check(names[0], local and local[0]["health"] == "up", diag)
        g.check(names[1], pods and pods[0]["health"] == "up"
                and pods[0]["labels"].get("node") == "node-a"
                and pods[0]["labels"].get("pod") == "nexus-agent-x1y2z"
                and pods[0]["labels"].get("namespace") == "nexus"
                and pods[0]["labels"].get("instance") == "127.0.0.1:%d" % agent_port_, diag)

        q = ('histogram_quantile(0.95, sum by (le) '
             '(rate(nexus_redis_command_duration_seconds_bucket{job="nexus-agent-local"}[1m])))')

        def number(query):
            r = api("query", query=query)
            try:
                v = float(r["data"]["result"][0]["value"][1])
                return v if v == v else None  # NaN: not yet two samples with traffic
            except (TypeError, KeyError, IndexError, ValueError):
                return None
        p95 = h.wait_until(lambda: number(q), 90, 2)
        g.check(names[2], p95 is not None and 0 < p95 < 10,
                "p95 %r after %d commands; %r" % (p95, load.sent, api("query", query=q)))

        # recorded series keep instance and server only; the agent sees every server on the host
        ours = '{server="127.0.0.1:%d"}' % redis_port
        hit = 'instance_server:nexus_redis_keyspace_hit_ratio:rate5m' + ours
        p95r = 'instance_server:nexus_redis_command_duration_seconds:p95_rate5m' + ours
        got = h.wait_until(lambda: (number(hit), number(p95r))
                           if number(hit) is not None and number(p95r) is not None else None,
                           60, 2)
        # the load reads one present key and one absent one per round: about half are hits
        g.check(names[3], got and 0.2 < got[0] < 0.8 and 0 < got[1] < 10,
                "hit ratio, p95 %r; %r" % (got, api("query", query='{__name__=~"instance_.*"}')))

        _, dash = dashboard_exprs()
        errors = []
        for title, e in dash:
            e = e.replace("$__rate_interval", "1m").replace("$instance", ".*") \
                .replace("$redis_server", ".*").replace("$pg_server", ".*")
            r = api("query", query=e)
            if not r or r.get("status") != "success":
                errors.append("%s: %s: %s" % (title, e, r and r.get("error")))
        g.check(names[4], not errors and len(dash) >= 20, errors)
    finally:
        h._stop_process(proc, signal.SIGTERM)


def main():
    h.exit_cleanly_on_sigterm()
    tap = h.Tap()
    k8s_checks(tap)
    tool_checks(tap)
    other_checks(tap)
    live_checks(tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
