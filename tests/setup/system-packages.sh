#!/usr/bin/env bash
# Debian packages some tests use. Installed only where we are root with apt-get;
# elsewhere the tests that need them skip and say why.
set -euo pipefail
# munge ... mariadb-server: the one-node SLURM cluster of tests/slurm/cluster.sh.
PACKAGES=(dataset-fashion-mnist munge slurmctld slurmd slurm-client slurmdbd mariadb-server chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "not root or no apt-get: skipping ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
# Keep package installs from starting daemons (we start what we need ourselves).
[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
