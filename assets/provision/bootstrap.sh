#!/bin/sh
# loadtest provision: the steps run on each load-generator host (uploaded over SFTP, run over SSH).
#
#   sh bootstrap.sh facts                 -> key=value lines: os_id, os_version, cores, systemd, missing
#   sh bootstrap.sh install               -> installs missing Debian packages (nothing if none is missing)
#   sh bootstrap.sh privnet ADDR [IFACE]  -> makes sure the private address ADDR is configured: prints
#                                            "present ADDR on DEV", or brings IFACE (default: every
#                                            interface but lo without an IPv4 address) up, asks DHCP and
#                                            prints "configured ADDR on DEV by DHCP on IFACE"; else exit 4
#                                            with the reason (IONOS hot-adds the private NIC after boot,
#                                            and it may come up without an address)
#   sh bootstrap.sh apply hub|node        -> installs staged/<role>.toml and (re)starts the service
#                                            only if the config, the jar or the command changed;
#                                            prints "changed <role>" or "unchanged <role>". A staged
#                                            <role>.command (and <role>.networks) replaces the java
#                                            command: the node as `loadtest network-node`, for cohorts
#   sh bootstrap.sh stop hub|node         -> stops and removes the service; "stopped <role>" / "absent <role>"
#   sh bootstrap.sh status URL            -> GET URL/status (the hub's, seen from this host)
#   sh bootstrap.sh logtail hub|node      -> the last lines of the role's log
#
# Environment: LT_DIR (this host's working directory), LT_JAR (the Selenium server jar),
# LT_HEAP (java -Xmx), LT_DHCP_CLIENT (a DHCP client command taking the interface; default: the
# first of dhclient, dhcpcd, networkctl that exists). Services are systemd units when systemd is PID 1, otherwise background
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

# The interface holding IPv4 address $1 (exactly that address, whatever the prefix), if any.
addr_dev() {
    ip -o -4 addr show 2>/dev/null | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }'
}

# Interfaces to ask DHCP on: $1 if given, else every interface but lo without an IPv4 address.
dhcp_candidates() {
    if [ -n "${1:-}" ]; then
        echo "$1"
        return
    fi
    for dev in $(ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//'); do
        [ "$dev" = lo ] && continue
        [ -z "$(ip -o -4 addr show dev "$dev" 2>/dev/null)" ] && echo "$dev"
    done
}

# One DHCP request on interface $1.
dhcp_request() {
    if [ -n "${LT_DHCP_CLIENT:-}" ]; then
        # shellcheck disable=SC2086
        $LT_DHCP_CLIENT "$1"
    elif command -v dhclient >/dev/null 2>&1; then
        timeout 40 dhclient -1 -4 "$1"
    elif command -v dhcpcd >/dev/null 2>&1; then
        timeout 40 dhcpcd -4 -1 -w "$1"
    elif command -v networkctl >/dev/null 2>&1; then
        networkctl reconfigure "$1" && sleep 10
    else
        echo "no DHCP client on this host (dhclient, dhcpcd or networkctl)"
        return 1
    fi
}

privnet() {
    addr=$1
    dev=$(addr_dev "$addr")
    if [ -n "$dev" ]; then
        echo "present $addr on $dev"
        return 0
    fi
    tried=""
    said=""
    for cand in $(dhcp_candidates "${2:-}"); do
        ip link set "$cand" up 2>/dev/null || true
        said=$(dhcp_request "$cand" 2>&1) || true
        tried="$tried $cand"
        dev=$(addr_dev "$addr")
        if [ -n "$dev" ]; then
            echo "configured $addr on $dev by DHCP on $cand"
            return 0
        fi
    done
    have=$(ip -o -4 addr show | awk '{ printf "%s %s, ", $2, $4 }' | sed 's/, $//')
    if [ -z "$tried" ]; then
        echo "private address $addr is not configured on any interface, and no interface without an address is there to ask DHCP (configured: $have)" >&2
    else
        said=$(echo "$said" | tail -n 2 | tr '\n' ' ' | sed 's/ *$//')
        echo "private address $addr is not configured: DHCP on$tried did not bring it up${said:+ ($said)} (configured: $have)" >&2
    fi
    exit 4
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
ExecStart=/usr/bin/env $(cat "$LT_DIR/$1.cmd")
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
    # A staged command (the node as `loadtest network-node`, for cohorts) replaces the plain one.
    if [ -f "$LT_DIR/staged/$role.command" ]; then
        cp "$LT_DIR/staged/$role.command" "$LT_DIR/staged/$role.cmd"
    else
        command_line "$role" >"$LT_DIR/staged/$role.cmd"
    fi
    changed=no
    for f in toml cmd networks; do
        [ -f "$LT_DIR/staged/$role.$f" ] || continue
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
            setsid $(cat "$LT_DIR/$role.cmd") </dev/null >>"$LT_DIR/$role.log" 2>&1 &
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
    privnet) privnet "${2:?address}" "${3:-}" ;;
    apply) apply "${2:?role}" ;;
    stop) stop "${2:?role}" ;;
    status) status "${2:?url}" ;;
    logtail) logtail "${2:?role}" ;;
    *) echo "usage: bootstrap.sh facts|install|privnet ADDR [IFACE]|apply ROLE|stop ROLE|status URL|logtail ROLE" >&2; exit 2 ;;
esac
