#!/usr/bin/env bash
# Installs everything the test suite needs (npm packages and the Debian packages of
# the real servers the tests and the bench start), then type-checks, lints and runs
# the whole suite. README's second quick-start command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: wrk, nginx and haproxy (bench peers), python3 (a never-accepting
# listener in the connect-timeout test), the Prometheus client's reference parser
# (metrics tests parse /metrics with it), script(1) from bsdutils (the pretty-logs test
# runs the CLI on a pseudo-terminal), Prometheus itself (test/deploy/ runs
# promtool and a Prometheus of its own in a temp dir on a free port; the package's
# system service is never used), Chromium (test/browser/ drives it with playwright-core).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v python3 >/dev/null || missing+=(python3)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v taskset >/dev/null || missing+=(util-linux)
command -v script >/dev/null || missing+=(bsdutils)
# openssl makes the TLS tests' certificates (a CA and leaves) and OCSP responses; curl is a real client in many tests.
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
# etcd: the etcd provider's and the ACME shared storage's tests start one in a temp dir.
command -v etcd >/dev/null || missing+=(etcd-server)
# pebble: the ACME tests order certificates from it (RFC 8555 test server).
command -v pebble >/dev/null || missing+=(pebble)
# nghttp2-client: nghttp and h2load, real HTTP/2 clients for test/http2/downstream.test.ts and the divisor-h2, nginx-h2, haproxy-h2 bench rows.
command -v h2load >/dev/null || missing+=(nghttp2-client)
# systemd-analyze (verify, security) and logrotate: test/deploy/systemd.test.ts checks the unit and the logrotate rule of deploy/systemd/.
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v logrotate >/dev/null || missing+=(logrotate)
/usr/bin/python3 -c "import prometheus_client" 2>/dev/null || missing+=(python3-prometheus-client)
# Prometheus on its own, without its recommended prometheus-node-exporter (another system service).
no_recommends=()
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || no_recommends+=(prometheus)
[ -x /usr/bin/chromium ] || no_recommends+=(chromium)
if [ ${#missing[@]} -gt 0 ] || [ ${#no_recommends[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]} ${no_recommends[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  [ ${#no_recommends[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${no_recommends[@]}" >/dev/null
fi

# npm install, not npm ci: this registry mirror leaves other platforms' optional
# packages (@biomejs/cli-darwin-*, ...) out of the lock file, which npm ci refuses.
npm install --no-audit --no-fund

npm run typecheck
npm run lint
npm run build
npm test
# The bench must keep working: one short pass over every peer (numbers from so short a run mean little).
npm run bench -- --duration 1 --warmup 0 >/tmp/divisor-bench-smoke.log 2>&1 || { cat /tmp/divisor-bench-smoke.log; echo "bench smoke run failed"; exit 1; }
grep -q "Divisor bench summary" /tmp/divisor-bench-smoke.log || { cat /tmp/divisor-bench-smoke.log; echo "bench printed no summary"; exit 1; }
echo "bench smoke run: ok"
