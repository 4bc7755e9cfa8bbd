#!/usr/bin/env bash
# bench/ab.sh REV_A REV_B [cc|introspect] — the demo server built at two revisions of this
# repository (a commit, a branch, or "." for the working tree as it is), measured in alternating
# wrk turns in one run (A B A B ...; which goes first alternates), so that both see the same
# machine. Prints each round's B/A ratios of req/s and of the server's CPU time per request
# (from /proc, Linux), and their medians: what a change did, on a shared machine.
#   cc          client_credentials, opaque access tokens (default)
#   introspect  RFC 7662 introspection of a live token, the caller authenticated by Basic
# Environment: ROUNDS (10), DUR (5s), CONNS (32), THREADS (2), DEMO_FLAGS (extra flags for both
# demo servers, e.g. "-access-token-lifetime 60s").
set -uo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
[[ $# -ge 2 ]] || { echo "usage: $0 REV_A REV_B [cc|introspect]" >&2; exit 2; }
A=$1 B=$2 MODE=${3:-cc} ROUNDS=${ROUNDS:-10} DUR=${DUR:-5s} CONNS=${CONNS:-32} THREADS=${THREADS:-2}
case $MODE in cc|introspect) ;; *) echo "usage: $0 REV_A REV_B [cc|introspect]" >&2; exit 2 ;; esac
# shellcheck source=lib.sh
. "$BENCH/lib.sh"
need_wrk || exit 1
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT

build() { # REV NAME: builds the demo server of REV as $W/NAME
  local src=$ROOT
  if [[ $1 != . ]]; then
    src=$W/src-$2
    mkdir -p "$src" && (cd "$ROOT" && git archive "$1") | tar -x -C "$src" ||
      { echo "$1: not a revision of this repository" >&2; return 1; }
  fi
  (cd "$src" && go build -o "$W/$2" ./examples/server) || { echo "$1: build failed" >&2; return 1; }
}
build "$A" a && build "$B" b || exit 1

PA=127.0.0.1:18201 PB=127.0.0.1:18202
for s in a b; do
  addr=$PA; [[ $s == b ]] && addr=$PB
  # The demo reads its pages and assets relative to the repository root.
  (cd "$ROOT" && exec "$W/$s" -addr $addr -admin-addr "" ${DEMO_FLAGS:-}) >"$W/$s.log" 2>&1 & PIDS+=($!)
done
up http://$PA/.well-known/openid-configuration && up http://$PB/.well-known/openid-configuration || { tail -5 "$W"/*.log; exit 1; }

GA=$(basic demo-service demo-service-secret)
TA=$(token http://$PA "$GA" assets:read) TB=$(token http://$PB "$GA" assets:read)
[[ -n $TA && -n $TB ]] || { echo "a demo server issued no token" >&2; tail -5 "$W"/*.log; exit 1; }

side() { # a|b: "req/s CPU-µs-per-request" of one turn against that side's server
  local addr=$PA pid=${PIDS[0]} tok=$TA
  [[ $1 == b ]] && addr=$PB pid=${PIDS[1]} tok=$TB
  if [[ $MODE == cc ]]; then
    turn "$pid" "http://$addr/oauth2/token" token.lua "$GA" assets:read
  else
    turn "$pid" "http://$addr/oauth2/introspect" introspect.lua "$GA" "$tok"
  fi
}
RPS=() CPU=()
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then ra=$(side a); rb=$(side b); else rb=$(side b); ra=$(side a); fi
  read -r qa ca <<<"$ra"; read -r qb cb <<<"$rb"
  RPS+=("$(ratio "$qb" "$qa")") CPU+=("$(ratio "$cb" "$ca")")
  echo "round $r: $A $qa req/s ($ca µs CPU each), $B $qb req/s ($cb µs CPU each); B/A req/s ${RPS[-1]}, CPU per request ${CPU[-1]}"
done
echo "$MODE, $ROUNDS rounds: medians of the rounds' B/A ratios: req/s $(med "${RPS[@]}"), CPU per request $(med "${CPU[@]}")"
