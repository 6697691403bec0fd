#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Installs the Debian packages the project needs: `install-deps.sh build` what building the agent
# needs (`make` calls that), `install-deps.sh` (all) also the servers, clients and tools that the
# tests, the demo and the benchmarks run (`make test`, `make demo`, `make bench`, CI).
# Idempotent and quiet when everything is already there.
set -euo pipefail

BUILD_PKGS=(
	# BPF objects, skeletons, agent
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
	libmicrohttpd-dev libjansson-dev libcmocka-dev libyaml-dev libcurl4-openssl-dev
	# nexus-agent top's screen
	libncurses-dev
	# OTLP export: protobuf-c code generated from the vendored .proto files, and its runtime
	protobuf-c-compiler libprotobuf-c-dev
	# --tls-cert/--tls-key: checked with GnuTLS (what libmicrohttpd's TLS uses)
	libgnutls28-dev
	# the status page (GET /) is embedded in the binary with xxd -i
	xxd
	# --pg-catalog talks to PostgreSQL through libpq (libpq5 at run time)
	libpq-dev
)
RUN_PKGS=(
	# make fuzz: libFuzzer and the sanitizer runtimes
	libclang-rt-14-dev
	# tests, demo and benchmark: real servers and their clients
	redis-server redis-tools postgresql postgresql-contrib python3 procps iproute2 curl
	# alert tests and make eval: a real Alertmanager on loopback; promtool checks /metrics
	prometheus-alertmanager prometheus
	# completeness tests with real client libraries (Debian's Python ones; npm's come from
	# npm, which ships with nodejs here)
	python3-redis python3-asyncpg python3-psycopg nodejs
	# deploy/ tests: YAML of the manifests and configs (promtool comes with prometheus)
	python3-yaml
	# make bench: the bare probe that is the floor every overhead is compared with
	bpftrace
	# nexus-agent top's integration test drives it in a terminal
	tmux
	# make lint (make test runs it): static analysis of agent/
	clang-tidy cppcheck
	# the OTLP integration test decodes what the agent sends with the official schema
	protobuf-compiler
	# the HTTP endpoint's test makes a self-signed certificate
	openssl
	# the status page's integration test renders it in a real browser (headless)
	chromium
	# test_faults / test_privileges: setpriv and unshare (capability sets, private mount
	# namespaces), readelf (the call sites the agent's uprobe links must match)
	util-linux binutils
)

case "${1:-all}" in
build) PKGS=("${BUILD_PKGS[@]}") ;;
all) PKGS=("${BUILD_PKGS[@]}" "${RUN_PKGS[@]}") ;;
*)
	echo "usage: install-deps.sh [build|all]" >&2
	exit 2
	;;
esac

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A package's postinst may try to start its service; our tests start their own servers on free ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
