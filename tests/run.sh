#!/usr/bin/env bash
# The test command of the README: installs what the tests need, starts the local
# services they use (a one-node SLURM cluster), runs pytest, stops the services.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k config -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup/system-packages.sh
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt

# The SLURM cluster of tests/test_slurm.py (needs root). Stopped on exit if started
# here; one already running is used and left running. In CI it must come up.
cluster=tests/slurm/cluster.sh
if bash "$cluster" status >/dev/null 2>&1; then
  echo "run.sh: using the SLURM test cluster that is already running"
elif [ "$(id -u)" = 0 ]; then
  trap 'bash "$cluster" stop' EXIT
  if ! bash "$cluster" start; then
    [ "${CI:-}" != true ] || { echo "run.sh: the SLURM test cluster did not start" >&2; exit 1; }
    echo "run.sh: the SLURM test cluster did not start: SLURM tests will skip" >&2
  fi
elif [ "${CI:-}" = true ]; then
  echo "run.sh: CI needs root to start the SLURM test cluster" >&2; exit 1
else
  echo "run.sh: not root, cannot start the SLURM test cluster: SLURM tests will skip" >&2
fi

python3 -m pytest "$@"
