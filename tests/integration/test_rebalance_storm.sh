#!/usr/bin/env bash
# Three daemons in one group on 6 partitions, one leaving or joining every 2 s, 4 times.
# The short form of tests/faults/rebalance.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/rebalance.sh" "$@"
