#!/usr/bin/env bash
# Recovery benchmark on a throw-away local cluster of 4 OSDs (4 simulated hosts):
#
#   1. fill the EC 2+1 pool with `cuttle bench ec write` (client throughput, idle);
#   2. kill -9 one OSD and mark it out: time until every PG is active+clean again and
#      the bytes rebuilt on the other OSDs (recovery throughput, no client load);
#   3. purge it, add a fresh OSD in its place and write with `cuttle bench` while it
#      is backfilled (client throughput during recovery, and the backfill rate).
#
# Usage: benches/recovery.sh [FILL_SECONDS]   (default 20: ~1 GiB per OSD here)
# Needs the release binaries (`cargo build --release --workspace --bins`); set
# CUTTLE_BIN to their directory if it is not ~/.cache/cuttle/target/release.
# Prints a table and, last, one JSON line with every figure.
set -euo pipefail

FILL_SECONDS="${1:-20}"
BIN="${CUTTLE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/cuttle/target}/release}"
CUTTLE="$BIN/cuttle"
[ -x "$CUTTLE" ] || { echo "no $CUTTLE: build the release binaries first" >&2; exit 1; }
DIR="$(mktemp -d "${TMPDIR:-/tmp}/cuttle-recovery-XXXXXX")"
cleanup() { "$CUTTLE" cluster down --dir "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
export CUTTLE_CONF="$DIR/cuttle.toml"

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
calc() { python3 -c "print($1)"; }
log() { printf '==> %s\n' "$*" >&2; }

# Seconds until every PG is active+clean, printing recovery progress; echoes the
# elapsed seconds and the bytes recovered (sum over PGs) when done.
wait_clean() {
    local start="${1:-$(date +%s.%N)}" now seen=0
    while true; do
        local ls
        ls=$("$CUTTLE" --format json pg ls)
        local line
        line=$(echo "$ls" | json '"%d %d %d %.0f" % (sum(1 for p in d["pgs"] if p["state"] != "active+clean"), d["recovery"]["objects_remaining"], sum(p["recovery_bytes_done"] for p in d["pgs"]), d["recovery"]["bytes_per_sec"])')
        read -r unclean remaining done rate <<<"$line"
        now=$(date +%s.%N)
        printf '\r    %5.1fs  %3d PGs not clean, %5d objects left, %6.1f MiB/s   ' \
            "$(calc "$now - $start")" "$unclean" "$remaining" "$(calc "$rate / 1048576")" >&2
        # PG stats reach the monitors with the OSDs' heartbeats: until a PG is seen
        # unclean (at most 20 s), "all clean" may be the view from before the change.
        if [ "$unclean" -gt 0 ]; then seen=1; fi
        if [ "$unclean" -eq 0 ] && { [ "$seen" -eq 1 ] || [ "$(calc "int($now - $start > 20)")" -eq 1 ]; }; then
            printf '\n' >&2
            echo "$(calc "$now - $start") $done"
            return
        fi
        sleep 1
    done
}

log "starting a 4-OSD cluster in $DIR"
"$CUTTLE" cluster up --dir "$DIR" --osds 4 --osd-size 8G --rgws 0 >/dev/null

log "filling pool ec for ${FILL_SECONDS}s"
fill=$("$CUTTLE" --format json bench ec write --seconds "$FILL_SECONDS" --no-cleanup)
fill_mbs=$(echo "$fill" | json 'd["bandwidth_mb_s"]')
used=$("$CUTTLE" --format json status | json 'd["bytes_used"]')
per_osd=$((used / 4))

victim=3
pid=$("$CUTTLE" --format json cluster status --dir "$DIR" | json '[x["pid"] for x in d["daemons"] if x["name"] == "osd.'$victim'"][0]')
log "killing osd.$victim (holds ~$((per_osd >> 20)) MiB) and marking it out"
t0=$(date +%s.%N)
kill -9 "$pid"
# As an operator would after losing a node: mark it down and out at once (the
# monitors would do the same after the heartbeat grace and the down-out interval).
"$CUTTLE" osd down "$victim" >/dev/null
"$CUTTLE" osd out "$victim" >/dev/null
read -r rec_secs rec_bytes <<<"$(wait_clean "$t0")"

log "purging osd.$victim and adding a fresh OSD, with client writes during the backfill"
"$CUTTLE" osd purge "$victim" --yes-i-really-mean-it >/dev/null
before=$("$CUTTLE" --format json pg ls | json 'sum(p["recovery_bytes_done"] for p in d["pgs"])')
"$CUTTLE" osd add --dir "$DIR" >/dev/null
during=$("$CUTTLE" --format json bench ec write --seconds 15)
during_mbs=$(echo "$during" | json 'd["bandwidth_mb_s"]')
read -r bf_secs bf_done <<<"$(wait_clean)"
bf_secs=$(calc "$bf_secs + 15")

rec_mbs=$(calc "$rec_bytes / $rec_secs / 1e6")
bf_bytes=$((bf_done > before ? bf_done - before : 0))
bf_mbs=$(calc "$bf_bytes / $bf_secs / 1e6")
printf '\n%-44s %12s\n' "measure" "value"
printf '%-44s %12.1f\n' "client write MB/s, idle cluster" "$fill_mbs"
printf '%-44s %12d\n' "data on the lost OSD, MiB" "$((per_osd >> 20))"
printf '%-44s %12.1f\n' "recovery after kill+out: seconds to clean" "$rec_secs"
printf '%-44s %12.1f\n' "recovery after kill+out: MB/s rebuilt" "$rec_mbs"
printf '%-44s %12.1f\n' "client write MB/s during backfill" "$during_mbs"
printf '%-44s %12.1f\n' "backfill onto new OSD: MB/s (incl. writes)" "$bf_mbs"
printf '{"fill_write_mb_per_sec":%.1f,"lost_osd_bytes":%d,"recovery_secs":%.1f,"recovery_bytes":%d,"recovery_mb_per_sec":%.1f,"write_mb_per_sec_during_backfill":%.1f,"backfill_bytes":%d,"backfill_mb_per_sec":%.1f}\n' \
    "$fill_mbs" "$per_osd" "$rec_secs" "$rec_bytes" "$rec_mbs" "$during_mbs" "$bf_bytes" "$bf_mbs"
