#!/usr/bin/env bash
# Brings what vigia needs onto a fresh Debian machine with Node/npm: Deno
# (pinned here, the one place the version is named) and, with --test, the
# system packages the test suite uses. Idempotent: does nothing that is done.
#   scripts/setup.sh          Deno only (enough to run the daemon)
#   scripts/setup.sh --test   Deno + test packages (needs root for apt)
set -euo pipefail

DENO_VERSION=2.9.6
# System packages: libpcap for capture; dig/kdig/tcpdump/tshark/openssl/nsd/knot/dnsperf
# and the MaxMind DB writer as real peers and oracles in tests and benchmarks;
# PostgreSQL (central store), Prometheus/promtool (metrics), rsyslog and its TLS driver (alerts to
# syslog), logrotate, jq and man-db for the tests of those features.
APT_PACKAGES="libpcap0.8 tcpdump bind9-dnsutils knot-dnsutils openssl nsd knot dnsperf libmaxmind-db-writer-perl iproute2 util-linux libcap2-bin systemd postgresql prometheus rsyslog rsyslog-gnutls logrotate jq man-db sqlite3"

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

have_deno() {
  command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | head -n1 | grep -q "deno ${DENO_VERSION} "
}

if ! have_deno; then
  echo "setup: installing deno ${DENO_VERSION} from the npm registry" >&2
  if ! npm i -g "deno@${DENO_VERSION}" >/dev/null 2>&1; then
    # Without write access to npm's global prefix, install under the user's home.
    npm i -g --prefix "$HOME/.local" "deno@${DENO_VERSION}" >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
  fi
  have_deno || { echo "setup: deno ${DENO_VERSION} did not install" >&2; exit 1; }
fi

if [ "$want_test" = 1 ]; then
  missing=""
  for p in $APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: missing packages:$missing (run as root to install them; tests that need them will skip)" >&2
    else
      echo "setup: apt-get install$missing" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
  fi
  # The servers are only peers that tests start themselves: keep their packaged services down.
  for svc in nsd knot postgresql prometheus rsyslog; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" >/dev/null 2>&1 || true
    fi
  done
fi

# Fetch the npm dependencies named in deno.json/deno.lock once, up front.
cd "$(dirname "$0")/.."
deno install --frozen >/dev/null 2>&1 || deno install >/dev/null
