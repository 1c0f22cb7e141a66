#!/usr/bin/env bash
# The test command of the README: installs what the tests need, starts the local
# services they use (a one-node SLURM cluster), runs pytest, stops the services.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k config -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup/system-packages.sh
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt

python3 -m pytest "$@"
