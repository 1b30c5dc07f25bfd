#!/usr/bin/env bash
# How far a mount's metadata cache trails other mounts on etcd (the watch's delay in the
# guarantee ARCHITECTURE.md states), and what reading one's own commit back costs, against a
# read straight from etcd: one etcd member on loopback, the `watch_delay` bench of
# datenlord-meta (release build). Numbers, not a pass/fail test.
#
#   scripts/perf/watch_delay.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /var/tmp/dl-watch-delay.XXXXXX)
BIN=true
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server etcd-client; }
# shellcheck source=servers.sh
source "$ROOT/scripts/perf/servers.sh"
start_etcd
DATENLORD_BENCH_ETCD="127.0.0.1:$etcd_port" cargo bench --locked -q \
    --manifest-path "$ROOT/Cargo.toml" -p datenlord-meta --bench watch_delay
