#!/usr/bin/env bash
# Redis killed and restarted (AOF, password), the daemon stopped during an outage, Redis stalled 5 s.
# The short form of tests/faults/redis.sh, which says what it does and asserts;
# `make test-faults` runs the full one.
FAULTS_SIZE=short exec bash "$(dirname "$0")/../faults/redis.sh" "$@"
