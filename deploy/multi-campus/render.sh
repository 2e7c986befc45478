#!/bin/sh
# Makes a real cluster's configuration from these examples:
#
#   ./render.sh OUTDIR
#
# Creates the cluster identity once (OUTDIR/fsid: a new uuid; OUTDIR/secret: 32 random
# bytes as 64 hex digits, mode 0600) and writes every *.toml of this directory into
# OUTDIR with the example fsid and the @CLUSTER_SECRET@ placeholder replaced. Run it
# again after editing the examples: the identity in OUTDIR is kept. Then copy to each
# host only what it runs (see README.md), e.g. for mon-north:
#   install -m 0640 -g cuttle OUTDIR/secret OUTDIR/mon.a.toml /etc/cuttle/
set -eu

EXAMPLE_FSID=5f0c2d8e-7b1a-4c3e-9a6f-2e8d4b1c7a90
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: render.sh OUTDIR}

mkdir -p "$out"
umask 077
if [ ! -s "$out/fsid" ]; then
    cat /proc/sys/kernel/random/uuid >"$out/fsid"
fi
if [ ! -s "$out/secret" ]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$out/secret"
    echo >>"$out/secret"
fi
fsid=$(tr -d ' \n' <"$out/fsid")
secret=$(tr -d ' \n' <"$out/secret")
case "$secret" in
    *[!0-9a-f]* | "") echo "render.sh: $out/secret is not hex" >&2; exit 1 ;;
esac
if [ ${#secret} -ne 64 ]; then
    echo "render.sh: $out/secret must hold 64 hex digits" >&2
    exit 1
fi

for f in "$here"/*.toml; do
    sed -e "s/$EXAMPLE_FSID/$fsid/g" -e "s/@CLUSTER_SECRET@/$secret/g" "$f" >"$out/$(basename "$f")"
done
echo "wrote $out: fsid $fsid; $(cd "$out" && ls ./*.toml | wc -l) configuration files and the secret"
