#!/usr/bin/env bash
# The .ci/run step: builds testfixture and the extension (build.sh), then runs the CI list
# (tests-ci.txt) plain and with sqlvault (run.sh) and checks the result against
# expected-differences.txt (report.py). Fails on any failure of the plain baseline, any
# sqlvault-only failure not listed there, a listed case that passes, or a wiring proof
# that does not hold.
#
# The tests run as an unprivileged user; when that user cannot reach this checkout (a
# clone under /root), the SQLite tree, the build and the logs go to /var/tmp instead.
# Environment: SUITE_WORK (work directory), SUITE_JOBS (default 2), SUITE_TIMEOUT (300).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
if [ -z "${SUITE_WORK:-}" ] && [ "$(id -u)" = 0 ]; then
  user=${SUITE_USER:-sqlsuite}
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  if ! runuser -u "$user" -- test -r "$here/run.sh"; then
    export SUITE_WORK=/var/tmp/sqlvault-sqlite-suite
    echo "run-ci.sh: $user cannot read $here; working in $SUITE_WORK"
    mkdir -p "$SUITE_WORK" && chmod 755 "$SUITE_WORK"
  fi
fi
"$here/build.sh"
t1=$(date +%s)
echo "run-ci.sh: build took $((t1 - t0))s"
status=0
"$here/run.sh" -j "${SUITE_JOBS:-2}" -t "${SUITE_TIMEOUT:-300}" -l "$here/tests-ci.txt" || status=$?
echo "run-ci.sh: logs and report in ${SUITE_WORK:-$here/work}/run (report.md, failures.md, logs/)"
echo "run-ci.sh: total $(( $(date +%s) - t0 ))s, exit $status"
exit $status
