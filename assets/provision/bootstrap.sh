#!/bin/sh
# loadtest provision: the steps run on each load-generator host (uploaded over SFTP, run over SSH).
#
#   sh bootstrap.sh facts                 -> key=value lines: os_id, os_version, cores, systemd, missing
#   sh bootstrap.sh install               -> installs missing Debian packages (nothing if none is missing)
#   sh bootstrap.sh apply hub|node        -> installs staged/<role>.toml and (re)starts the service
#                                            only if the config, the jar or the command changed;
#                                            prints "changed <role>" or "unchanged <role>"
#   sh bootstrap.sh stop hub|node         -> stops and removes the service; "stopped <role>" / "absent <role>"
#   sh bootstrap.sh status URL            -> GET URL/status (the hub's, seen from this host)
#   sh bootstrap.sh logtail hub|node      -> the last lines of the role's log
#
# Environment: LT_DIR (this host's working directory), LT_JAR (the Selenium server jar),
# LT_HEAP (java -Xmx). Services are systemd units when systemd is PID 1, otherwise background
# processes supervised through a pidfile in LT_DIR. Idempotent: running any step twice is safe.
set -eu

: "${LT_DIR:?LT_DIR is not set}"
LT_HEAP="${LT_HEAP:-512m}"
PACKAGES_FOR="chromium:chromium chromedriver:chromium-driver java:default-jre-headless curl:curl"

has_systemd() {
    [ "$(cat /proc/1/comm 2>/dev/null || true)" = systemd ]
}

missing_packages() {
    out=""
    for pair in $PACKAGES_FOR; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1; then
            out="$out $pkg"
        fi
    done
    echo "$out" | sed 's/^ *//'
}

facts() {
    os_id=unknown
    os_version=unknown
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        os_id=$(. /etc/os-release && echo "${ID:-unknown}")
        os_version=$(. /etc/os-release && echo "${VERSION_ID:-unknown}")
    fi
    echo "os_id=$os_id"
    echo "os_version=$os_version"
    echo "arch=$(uname -m)"
    echo "cores=$(nproc)"
    if has_systemd; then echo "systemd=yes"; else echo "systemd=no"; fi
    echo "missing=$(missing_packages)"
}

install() {
    missing=$(missing_packages)
    if [ -z "$missing" ]; then
        echo "nothing to install"
        return 0
    fi
    os_id=$(. /etc/os-release 2>/dev/null && echo "${ID:-unknown}") || os_id=unknown
    case "$os_id" in
        debian) ;;
        ubuntu)
            echo "missing $missing, and Ubuntu ships chromium only as a snap, which a Grid node cannot use: use a Debian image (e.g. debian-12)" >&2
            exit 3 ;;
        *)
            echo "missing $missing and $os_id is not Debian: install chromium, chromedriver, java 17+ and curl yourself" >&2
            exit 3 ;;
    esac
    if [ "$(id -u)" != 0 ]; then
        SUDO="sudo -n"
    else
        SUDO=""
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    $SUDO apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
    echo "installed $missing"
}

pidfile() { echo "$LT_DIR/$1.pid"; }

running_pid() {
    f=$(pidfile "$1")
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # The pid must still be our java, not a recycled pid.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$LT_DIR/$1.toml" || return 1
    echo "$pid"
}

command_line() {
    echo "java -Xmx$LT_HEAP -jar $LT_JAR $1 --config $LT_DIR/$1.toml --tracing false"
}

unit_name() { echo "loadtest-grid-$1.service"; }

unit_text() {
    cat <<EOF
[Unit]
Description=loadtest Selenium Grid $1
After=network-online.target

[Service]
ExecStart=/usr/bin/env $(command_line "$1")
WorkingDirectory=$LT_DIR
Restart=on-failure
RestartSec=3
StandardOutput=append:$LT_DIR/$1.log
StandardError=append:$LT_DIR/$1.log

[Install]
WantedBy=multi-user.target
EOF
}

stop_pid() {
    if pid=$(running_pid "$1"); then
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$(pidfile "$1")"
        return 0
    fi
    rm -f "$(pidfile "$1")"
    return 1
}

apply() {
    role=$1
    : "${LT_JAR:?LT_JAR is not set}"
    staged="$LT_DIR/staged/$role.toml"
    [ -f "$staged" ] || { echo "no staged config $staged" >&2; exit 2; }
    [ -f "$LT_JAR" ] || { echo "no jar at $LT_JAR" >&2; exit 2; }
    command_line "$role" >"$LT_DIR/staged/$role.cmd"
    changed=no
    for f in toml cmd; do
        if ! cmp -s "$LT_DIR/staged/$role.$f" "$LT_DIR/$role.$f"; then
            cp "$LT_DIR/staged/$role.$f" "$LT_DIR/$role.$f"
            changed=yes
        fi
    done
    if has_systemd; then
        unit="/etc/systemd/system/$(unit_name "$role")"
        unit_text "$role" >"$LT_DIR/staged/$role.service"
        if ! cmp -s "$LT_DIR/staged/$role.service" "$unit"; then
            cp "$LT_DIR/staged/$role.service" "$unit"
            systemctl daemon-reload
            changed=yes
        fi
        systemctl enable -q "$(unit_name "$role")"
        if [ $changed = yes ]; then
            systemctl restart "$(unit_name "$role")"
        elif ! systemctl is-active -q "$(unit_name "$role")"; then
            systemctl start "$(unit_name "$role")"
            changed=yes
        fi
    else
        if [ $changed = no ] && running_pid "$role" >/dev/null; then
            :
        else
            stop_pid "$role" || true
            # setsid + all three streams redirected: the SSH channel closes, the process stays.
            # shellcheck disable=SC2046
            setsid $(command_line "$role") </dev/null >>"$LT_DIR/$role.log" 2>&1 &
            echo $! >"$(pidfile "$role")"
            changed=yes
        fi
    fi
    if [ $changed = yes ]; then echo "changed $role"; else echo "unchanged $role"; fi
}

stop() {
    role=$1
    found=no
    if has_systemd && [ -f "/etc/systemd/system/$(unit_name "$role")" ]; then
        systemctl disable -q --now "$(unit_name "$role")" || true
        rm -f "/etc/systemd/system/$(unit_name "$role")"
        systemctl daemon-reload
        found=yes
    fi
    if stop_pid "$role"; then found=yes; fi
    rm -f "$LT_DIR/$role.toml" "$LT_DIR/$role.cmd"
    if [ $found = yes ]; then echo "stopped $role"; else echo "absent $role"; fi
}

status() {
    curl -s --max-time 5 "$1/status"
}

logtail() {
    tail -n 20 "$LT_DIR/$1.log" 2>/dev/null || true
}

case "${1:-}" in
    facts) facts ;;
    install) install ;;
    apply) apply "${2:?role}" ;;
    stop) stop "${2:?role}" ;;
    status) status "${2:?url}" ;;
    logtail) logtail "${2:?role}" ;;
    *) echo "usage: bootstrap.sh facts|install|apply ROLE|stop ROLE|status URL|logtail ROLE" >&2; exit 2 ;;
esac
