#!/usr/bin/env bash
# SIGTERM during a live stream, then a restart: nothing processed twice.
# The short form of tests/faults/sigterm.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/sigterm.sh" "$@"
