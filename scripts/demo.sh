#!/usr/bin/env bash
# Demo of jupyter-cull-ext with short timeouts, so culling can be watched in minutes.
#   bash scripts/demo.sh        a local JupyterHub (http://127.0.0.1:8000, any user, password
#                               "demo") with the max-age companion; config in demo/
#   bash scripts/demo.sh lab    a single JupyterLab, no hub
#   PORT=8888            port on 127.0.0.1 (hub: 8000)
#   DEMO_DIR=...         the demo's directory (hub: its database, cookie secret and the
#                        users' homes; lab: the notebook root). Default: a fresh private
#                        one (mktemp -d, mode 0700) per run. One you give must be yours and
#                        not writable by others; it is created with mode 0700 if missing.
#   TOKEN=...            login token (default: a fresh random one)
# Hub only, optional (whole seconds; the defaults are the timeouts described below):
#   DEMO_KERNEL_IDLE=120 DEMO_SERVER_IDLE=300 DEMO_WARN_BEFORE=60
#   DEMO_MAX_AGE=900 DEMO_SHORT_MAX_AGE=300   (read by demo/jupyterhub_config.py)
set -euo pipefail

# DEMO_DIR, made safe to keep secrets in: never a predictable path another local user could
# have created first (a shared /tmp), and never someone else's or a group-writable directory.
private_dir() {
    if [ -z "${DEMO_DIR:-}" ]; then
        DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/jupyter-cull-demo.XXXXXXXX")"
    elif [ ! -e "$DEMO_DIR" ] && [ ! -L "$DEMO_DIR" ]; then
        mkdir -p -m 0700 "$DEMO_DIR"
    fi
    if [ ! -d "$DEMO_DIR" ] || [ ! -O "$DEMO_DIR" ]; then
        echo "DEMO_DIR=$DEMO_DIR is not a directory of yours; choose another" >&2
        return 1
    fi
    if [ -n "$(find "$DEMO_DIR/" -maxdepth 0 -perm /022)" ]; then
        echo "DEMO_DIR=$DEMO_DIR is writable by other users; choose a private directory" >&2
        return 1
    fi
    DEMO_DIR="$(cd "$DEMO_DIR" && pwd -P)"
    export DEMO_DIR
}

private_dir  # before the cd below: a relative DEMO_DIR is relative to where you are
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/install.sh
source scripts/install.sh

if [ "${1:-hub}" = "hub" ]; then
    export PORT="${PORT:-8000}"
    command -v configurable-http-proxy >/dev/null || {
        echo "configurable-http-proxy is missing (npm install -g configurable-http-proxy)" >&2
        exit 1; }
    cat <<MSG

==============================================================================
 jupyter-cull-ext demo: a local JupyterHub
------------------------------------------------------------------------------
 Open:   http://127.0.0.1:$PORT/
 Login:  any user name, password "demo" ("admin" is an admin; "shorty" has a
         5-minute max age, everyone else 15 minutes)

 In JupyterLab, watch the status bar: the countdown to the next stop and why.
   - leave a kernel idle: it is culled after 2 minutes
   - leave everything idle (even with the tab open): the server stops after
     5 minutes, with a warning a minute before; unsaved notebooks are saved
   - run  import time; time.sleep(600)  : a busy kernel keeps the server up,
     until its max age; the hub companion stops it then
   - in a terminal:  jupyter cull status   explains the deadlines in words
   - why was it stopped?  cat ~/.jupyter-server-log.txt
 Config: demo/jupyterhub_config.py   Hub state: $DEMO_DIR
==============================================================================

MSG
    overrides="$(env | grep -E '^DEMO_(KERNEL_IDLE|SERVER_IDLE|WARN_BEFORE|MAX_AGE|SHORT_MAX_AGE)=' \
        | sort | tr '\n' ' ' || true)"
    [ -z "$overrides" ] || printf ' Timeouts overridden (seconds): %s\n\n' "$overrides"
    cd "$DEMO_DIR"
    exec "$OLDPWD/.venv/bin/jupyterhub" -f "$OLDPWD/demo/jupyterhub_config.py"
fi

PORT="${PORT:-8888}"
TOKEN="${TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}"
BASE="http://127.0.0.1:$PORT"

cat > "$DEMO_DIR/README.md" <<'MD'
# jupyter-cull-ext demo

This server runs with short timeouts:

- an idle kernel is culled after 2 minutes (`MappingKernelManager.cull_idle_timeout=120`);
- the whole server stops after 5 minutes with no activity
  (`ServerApp.shutdown_no_activity_timeout=300`), with a warning 60 s before (`CullExt.warn_before=60`).

Things to try:

1. Open a notebook, run a cell, then leave it alone. Keeping the tab open does not
   keep the kernel alive: the tab's background polling is not activity. After 2 minutes
   the kernel is culled.
2. Run `import time; time.sleep(600)`. A busy kernel is activity, so neither it nor the
   server is culled while it runs.
3. Open a terminal and type in it: that counts. Leave it: it is culled like a kernel.
4. Leave everything idle: the server stops about 5 minutes after the last thing that counted,
   even with an idle kernel still open.
5. Watch `GET /api/cull/status` (the command is printed in the shell that started the demo)
   to see each deadline and the reason for it.
MD

cat <<MSG

==============================================================================
 jupyter-cull-ext demo
------------------------------------------------------------------------------
 Open:  $BASE/lab?token=$TOKEN
 Root:  $DEMO_DIR

 What to watch (in another shell):

   Deadlines, and why they are what they are:
     curl -s -H "Authorization: token $TOKEN" $BASE/api/cull/status | python3 -m json.tool

   - Start a kernel and leave it idle:  it is culled after 2 minutes.
   - Leave everything idle:             the server stops after 5 minutes
                                        (warning 60 s before).
   - Keep the server up for 10 minutes:
     curl -s -X POST -H "Authorization: token $TOKEN" $BASE/api/cull/keepalive -d '{"seconds": 600}'
==============================================================================

MSG

exec .venv/bin/jupyter lab \
    --ServerApp.ip=127.0.0.1 \
    --ServerApp.port="$PORT" \
    --ServerApp.port_retries=0 \
    --ServerApp.allow_root=True \
    --ServerApp.open_browser=False \
    --ServerApp.root_dir="$DEMO_DIR" \
    --IdentityProvider.token="$TOKEN" \
    --MappingKernelManager.cull_idle_timeout=120 \
    --ServerApp.shutdown_no_activity_timeout=300 \
    --CullExt.warn_before=60
