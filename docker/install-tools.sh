#!/usr/bin/env bash
# The Debian tools the tests run for real: Prometheus and promtool, Alertmanager and amtool,
# headless Chromium for the operator page, kcat, openssl for the SASL_SSL listener's certificates.
# Installs only what is missing; needs root (or sudo) the first time.
set -euo pipefail

declare -A PACKAGE_OF=([prometheus]=prometheus [promtool]=prometheus [prometheus-alertmanager]=prometheus-alertmanager
                       [amtool]=prometheus-alertmanager [chromium]=chromium [kcat]=kcat [openssl]=openssl)
missing=()
for tool in "${!PACKAGE_OF[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "install-tools: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
