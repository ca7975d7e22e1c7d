#!/usr/bin/env bash
# Two daemons in one group decide exactly what one daemon decides.
# The short form of tests/faults/scale_out.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/scale_out.sh" "$@"
