#!/usr/bin/env bash
# The project's test command: installs what it needs (see scripts/install.sh), then runs pytest.
#   bash scripts/test.sh            the whole suite on the newest versions (.venv), then the
#                                   tests marked `oldest` on the oldest declared versions
#                                   (.venv-oldest, ci/oldest-constraints.txt): what CI runs
#   bash scripts/test.sh ARGS...    pytest ARGS on the newest versions only, e.g. -k status -x
#   bash scripts/test.sh --oldest [ARGS...]   the `oldest` tests (and ARGS) on the oldest only
# Fails if any pytest run fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
newest=1 oldest=0
if [ "${1:-}" = --oldest ]; then
    shift
    newest=0 oldest=1
elif [ "$#" -eq 0 ]; then
    oldest=1
fi
export CULL_EXT_INSTALL_OLDEST="$oldest"
# shellcheck source=scripts/install.sh
source scripts/install.sh
rc=0
if [ "$newest" = 1 ]; then
    .venv/bin/python -m pytest --durations=30 "$@" || rc=$?
fi
if [ "$oldest" = 1 ]; then
    printf '[test] the oldest declared versions (%s):\n' \
        "$(grep -v '^#' ci/oldest-constraints.txt | tr '\n' ' ')"
    start=$SECONDS
    .venv-oldest/bin/python -m pytest -m oldest "$@" || rc=$?
    printf '[test] oldest versions: %s s\n' "$((SECONDS - start))"
fi
exit "$rc"
