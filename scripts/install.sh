#!/usr/bin/env bash
# Install everything the project needs to run its tests and demo:
#   - a virtualenv at <repo>/.venv with this package installed editable, plus its [test] extra
#   - the JupyterLab extension: npm ci, built into jupyter_cull_ext/labextension and linked
#     into .venv/share/jupyter/labextensions (rebuilt whenever its sources change)
#   - Debian's chromium (browser tests)
#   - configurable-http-proxy from npm (JupyterHub tests)
#   - with CULL_EXT_INSTALL_OLDEST=1 (scripts/test.sh sets it), also .venv-oldest: the package
#     with the oldest versions we declare (ci/oldest-constraints.txt), the same built extension
# Idempotent: the pip step is skipped while .venv/.installed-<sha256 of pyproject.toml> exists.
#
# Use it either way:
#   source scripts/install.sh   # also exports PATH with .venv/bin and npm's global bin
#   bash scripts/install.sh
set -euo pipefail

_ci_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_ci_log() { printf '[install] %s\n' "$*" >&2; }
_ci_warn() { printf '[install] WARNING: %s\n' "$*" >&2; }

# Run a command as root: directly if we are root, else via passwordless sudo. Returns 1 if neither works.
_ci_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

_ci_venv_create() {
    local venv="${1:-$_ci_root/.venv}"
    if [ -d "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        _ci_log "$venv is broken; recreating it"
        rm -rf "$venv"
    fi
    if [ ! -d "$venv" ]; then
        command -v python3 >/dev/null 2>&1 || { _ci_warn "python3 not found"; return 1; }
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
            _ci_warn "python3 is $(python3 -V 2>&1); 3.10 or newer is required"; return 1; }
        _ci_log "creating virtualenv at $venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            # Debian's system python needs python3-venv for ensurepip.
            rm -rf "$venv"
            _ci_log "python3 -m venv failed; installing python3-venv"
            _ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
                || { _ci_as_root apt-get update -qq && _ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
            python3 -m venv "$venv"
        fi
    fi
}

_ci_venv() {
    local venv="$_ci_root/.venv"
    local hash stamp
    hash="$(sha256sum "$_ci_root/pyproject.toml" | cut -d' ' -f1)"
    stamp="$venv/.installed-$hash"
    if [ -e "$stamp" ]; then
        return 0
    fi
    _ci_log "pip install -e '.[test,test-gateway,test-notebook]' (first run takes a minute or two)"
    # pip writes the package's shared data through the venv's link to the build (an extra
    # install.json there breaks the next editable build): let it write a directory instead.
    local link="$venv/share/jupyter/labextensions/jupyter-cull-ext"
    if [ -L "$link" ]; then rm -f "$link"; fi
    (
        cd "$_ci_root"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,test-gateway,test-notebook]'
    )
    rm -f "$venv"/.installed-*
    touch "$stamp"
}

# The JupyterLab extension (labextension/, package.json). npm ci runs when package-lock.json
# changes, the build when a source changes or the build output is incomplete; the built
# extension is then linked into the venv, so JupyterLab there loads the current build.
# (pip install -e would build it too, through hatch-jupyter-builder, but only when pip runs.)
_ci_frontend_sources_hash() {
    (cd "$_ci_root" && find labextension package.json package-lock.json tsconfig.json \
        -type f ! -path '*/__tests__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

_ci_frontend_built() {
    local out="$_ci_root/jupyter_cull_ext/labextension"
    [ -f "$out/package.json" ] && [ -f "$out/static/style.js" ] || return 1
    local entry
    entry="$("$_ci_root/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jupyterlab"]["_build"]["load"])' "$out/package.json" 2>/dev/null)" || return 1
    [ -f "$out/$entry" ]
}

_ci_frontend() {
    local venv="$_ci_root/.venv"
    if ! command -v npm >/dev/null 2>&1; then
        _ci_warn "npm is not available: the JupyterLab extension is not built; browser tests will fail"
        return 0
    fi
    local lock stamp
    lock="$(cat "$_ci_root/package.json" "$_ci_root/package-lock.json" | sha256sum | cut -c1-16)"
    if [ ! -e "$_ci_root/node_modules/.installed-$lock" ]; then
        _ci_log "npm ci (JupyterLab extension dependencies)"
        (cd "$_ci_root" && npm ci --no-fund --no-audit --loglevel=error)
        touch "$_ci_root/node_modules/.installed-$lock"
    fi
    stamp="$venv/.frontend-$(_ci_frontend_sources_hash)"
    if [ -e "$stamp" ] && _ci_frontend_built; then
        return 0
    fi
    # The build runs jupyter-builder (a jupyterlab dependency); a fresh venv may lack it yet.
    if [ ! -x "$venv/bin/jupyter-builder" ]; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check 'jupyter_builder>=1.3'
    fi
    _ci_log "building the JupyterLab extension (npm run build)"
    local log="$venv/frontend-build.log"
    if ! (cd "$_ci_root" && PATH="$venv/bin:$PATH" npm run build) >"$log" 2>&1; then
        cat "$log" >&2
        _ci_warn "building the JupyterLab extension failed (log above)"
        return 1
    fi
    rm -f "$venv"/.frontend-*
    touch "$stamp"
}

_ci_frontend_link() {
    local link="$_ci_root/.venv/share/jupyter/labextensions/jupyter-cull-ext"
    [ -d "$_ci_root/jupyter_cull_ext/labextension" ] || return 0
    if [ "$(readlink -f "$link" 2>/dev/null)" != "$(readlink -f "$_ci_root/jupyter_cull_ext/labextension")" ]; then
        (cd "$_ci_root" && .venv/bin/jupyter-builder develop --overwrite . >/dev/null)
    fi
}

# The oldest versions we declare (README, "Supported versions"), pinned by
# ci/oldest-constraints.txt; recreated whenever it or pyproject.toml changes, since a pin may
# go down. The extension is not built again: the main venv's build is linked in.
_ci_oldest() {
    local venv="$_ci_root/.venv-oldest" stamp
    stamp="$venv/.installed-$(cat "$_ci_root/pyproject.toml" "$_ci_root/ci/oldest-constraints.txt" \
        | sha256sum | cut -c1-16)"
    if [ ! -e "$stamp" ]; then
        rm -rf "$venv"
        _ci_venv_create "$venv"
        _ci_log "pip install -e '.[test]' with the oldest declared versions into $venv"
        (cd "$_ci_root" && HATCH_JUPYTER_BUILDER_SKIP_NPM=1 "$venv/bin/python" -m pip install -q \
            --disable-pip-version-check -c ci/oldest-constraints.txt -e '.[test]')
        touch "$stamp"
    fi
    local link="$venv/share/jupyter/labextensions/jupyter-cull-ext"
    if [ "$(readlink -f "$link" 2>/dev/null)" != "$(readlink -f "$_ci_root/jupyter_cull_ext/labextension")" ]; then
        (cd "$_ci_root" && "$venv/bin/jupyter" labextension develop --overwrite . >/dev/null)
    fi
}

_ci_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        _ci_warn "/usr/bin/chromium is missing and apt-get is not available; browser tests will not run"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
        _ci_warn "/usr/bin/chromium is missing and we are neither root nor have passwordless sudo;" \
            "install it with: apt-get install chromium"
        return 0
    fi
    _ci_log "installing chromium with apt-get (takes a few minutes)"
    if ! { _ci_as_root apt-get update -qq \
        && _ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        _ci_warn "apt-get install chromium failed; browser tests will not run"
    fi
}

_ci_chp() {
    local npm_bin
    if command -v npm >/dev/null 2>&1; then
        npm_bin="$(npm prefix -g 2>/dev/null)/bin"
        case ":$PATH:" in *":$npm_bin:"*) ;; *) export PATH="$PATH:$npm_bin" ;; esac
    fi
    command -v configurable-http-proxy >/dev/null 2>&1 && return 0
    if ! command -v npm >/dev/null 2>&1; then
        _ci_warn "configurable-http-proxy is missing and npm is not available; JupyterHub tests will not run"
        return 0
    fi
    _ci_log "npm install -g configurable-http-proxy"
    local npm_install=(npm install -g --no-fund --no-audit --loglevel=error configurable-http-proxy)
    if [ -w "$(npm prefix -g)" ]; then
        "${npm_install[@]}" >/dev/null || npm_install=()
    else
        _ci_as_root "${npm_install[@]}" >/dev/null || npm_install=()
    fi
    if [ "${#npm_install[@]}" -eq 0 ]; then
        _ci_warn "npm install -g configurable-http-proxy failed; JupyterHub tests will not run"
    fi
}

_ci_venv_create
_ci_frontend
_ci_venv
# pip (re)installing the editable package replaces the venv's link to the build with a copy,
# and uninstalling the old one through that link can remove built files: check both again.
_ci_frontend_built || { rm -f "$_ci_root/.venv"/.frontend-*; _ci_frontend; }
_ci_frontend_link
if [ "${CULL_EXT_INSTALL_OLDEST:-0}" = 1 ]; then _ci_oldest; fi
_ci_chromium
_ci_chp
case ":$PATH:" in *":$_ci_root/.venv/bin:"*) ;; *) export PATH="$_ci_root/.venv/bin:$PATH" ;; esac
