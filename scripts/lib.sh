# Shared by scripts/test and scripts/run: install what a fresh Debian machine lacks.
DEB_PACKAGES="default-jdk-headless libtomcat9-java tomcat10 libtomcat10-java nginx mariadb-server tcpdump iproute2 curl chromium docker-compose wrk"

ensure_debian_packages() {
    local missing=()
    for p in $DEB_PACKAGES; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

find_python() {
    # The first interpreter >= 3.12 that actually runs: a pyenv shim can be on PATH for a
    # version that is installed but not selected, and then it refuses to start.
    local c
    for c in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python \
             "$HOME"/.pyenv/versions/3.12*/bin/python python3; do
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$c"
            return
        fi
    done
    echo "pytribes needs Python >= 3.12 (python3.12/python3.13 on PATH or under ~/.pyenv)" >&2
    return 1
}

ensure_venv() {
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
        rm -rf .venv
        "$(find_python)" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[test]'
}
