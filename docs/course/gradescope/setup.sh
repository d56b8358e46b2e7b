#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (Ubuntu 22.04 base).
# Classroom Mesh needs Python 3.11 or newer; Ubuntu 22.04's own python3 is 3.10.
set -euo pipefail
apt-get update
apt-get install -y python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
# Pin the version the course grades with (a wheel in the zip works too: /autograder/source/*.whl).
/autograder/venv/bin/python -m pip install "classroom-mesh==0.1.0"
/autograder/venv/bin/classroom check
