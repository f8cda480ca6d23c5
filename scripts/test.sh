#!/usr/bin/env bash
# The project's test command: installs what it needs (see scripts/install.sh), then runs pytest.
#   bash scripts/test.sh            the whole suite on the newest versions (.venv), then the
#                                   tests marked `oldest` on the oldest declared versions
#                                   (.venv-oldest, ci/oldest-constraints.txt): what CI runs
#   bash scripts/test.sh ARGS...    pytest ARGS on the newest versions only, e.g. -k status -x
#   bash scripts/test.sh --oldest [ARGS...]   the `oldest` tests (and ARGS) on the oldest only
# Most tests spend their time waiting for real timeouts, so without ARGS two run at a time
# (pytest-xdist, one file per worker: a module's shared server or wheel is made once); the
# tests marked `alone` load the machine on purpose and run afterwards, by themselves. With
# ARGS, pytest runs them in one process, in order.
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
parallel=()
if [ "$#" -eq 0 ]; then parallel=(-n 2 --dist loadfile); fi
rc=0
if [ "$newest" = 1 ]; then
    start=$SECONDS
    if [ "$#" -eq 0 ]; then
        .venv/bin/python -m pytest --durations=30 "${parallel[@]}" -m "not alone" || rc=$?
        .venv/bin/python -m pytest -m alone || rc=$?
    else
        .venv/bin/python -m pytest --durations=30 "$@" || rc=$?
    fi
    printf '[test] newest versions: %s s\n' "$((SECONDS - start))"
fi
if [ "$oldest" = 1 ]; then
    printf '[test] the oldest declared versions (%s):\n' \
        "$(grep -v '^#' ci/oldest-constraints.txt | tr '\n' ' ')"
    start=$SECONDS
    .venv-oldest/bin/python -m pytest "${parallel[@]}" -m oldest "$@" || rc=$?
    printf '[test] oldest versions: %s s\n' "$((SECONDS - start))"
fi
exit "$rc"
