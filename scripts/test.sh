#!/usr/bin/env bash
# The project's test command: installs what it needs (see scripts/install.sh), then runs pytest.
# Extra arguments go to pytest, e.g.: bash scripts/test.sh -k status -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/install.sh
source scripts/install.sh
exec .venv/bin/python -m pytest "$@"
