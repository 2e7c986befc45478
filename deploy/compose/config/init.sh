#!/bin/sh
# One-shot job of the compose demo (service `init`): creates the S3 gateways' pools
# once the three OSD hosts are in the cluster map, then prints the status. Safe to run
# again: existing pools are left alone.
set -eu
conf=${CUTTLE_CONF:-/etc/cuttle/cuttle.toml}

# ensure_pool NAME ARGS...: `cuttle pool create NAME ARGS...` unless NAME exists,
# retried while the monitors have no quorum or too few hosts have OSDs.
ensure_pool() {
    name=$1
    shift
    tries=0
    until cuttle -c "$conf" pool get "$name" >/dev/null 2>&1 || cuttle -c "$conf" pool create "$name" "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 150 ]; then
            echo "init: could not create pool $name in 5 minutes" >&2
            exit 1
        fi
        sleep 2
    done
}

# Users, keys and bucket records; bucket indexes: replicated (they use omap).
ensure_pool .rgw.meta --replicated 3 --pg-num 16
ensure_pool .rgw.index --replicated 3 --pg-num 16
# Object data: erasure-coded 2+1, one chunk per host.
ensure_pool .rgw.data --ec 2+1 --pg-num 32
cuttle -c "$conf" status
