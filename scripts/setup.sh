#!/usr/bin/env bash
# Idempotent set-up: system packages the tests need, a virtualenv in .venv
# and the gateway installed into it (editable) with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

need_apt=()
# (system packages for later test suites are added here, e.g. openssh-server)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)  # real sshd for the SFTP transport tests
# the console's browser tests: Debian's chromium and its matching driver (never a downloaded browser)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
[ -x /usr/bin/promtool ] || need_apt+=(prometheus)  # promtool checks docs/alerts/*.yml
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_apt[*]} (run as root or install them)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log="$VENV/setup.log"
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
         "$VENV/bin/python" -m pip install -q -e '.[test]' &&
         # a local wheelhouse of every dependency (and the build backend): the
         # packaging tests install the gateway's wheel into fresh venvs from it
         "$VENV/bin/python" -m pip wheel -q -w "$VENV/wheelhouse" '.[test]' 'setuptools>=77' wheel &&
         rm -f "$VENV"/wheelhouse/billing_gateway-*.whl; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: pip install failed (log above, also in $log)" >&2
    exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
