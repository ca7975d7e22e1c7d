#!/usr/bin/env bash
# A Kafka broker (coordinator and leader) down 10 s, Produce and OffsetCommit errors.
# The short form of tests/faults/kafka.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/kafka.sh" "$@"
