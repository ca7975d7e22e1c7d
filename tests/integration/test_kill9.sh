#!/usr/bin/env bash
# kill -9 of the daemon at 3 random points of 20,000 events on 4 partitions.
# The short form of tests/faults/kill9.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/kill9.sh" "$@"
