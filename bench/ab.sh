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
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
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
for side in a b; do
  addr=$PA; [[ $side == b ]] && addr=$PB
  # The demo reads its pages and assets relative to the repository root.
  (cd "$ROOT" && exec "$W/$side" -addr $addr -admin-addr "" ${DEMO_FLAGS:-}) >"$W/$side.log" 2>&1 & PIDS+=($!)
done
up() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "$1 did not come up" >&2; return 1; }
up http://$PA/.well-known/openid-configuration && up http://$PB/.well-known/openid-configuration || { tail -5 "$W"/*.log; exit 1; }

GA="Basic $(printf '%s:%s' demo-service demo-service-secret | base64 -w0)"
token() { curl -s -H "Authorization: $GA" -d grant_type=client_credentials -d scope=assets:read "$1/oauth2/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
TA=$(token http://$PA) TB=$(token http://$PB)
[[ -n $TA && -n $TB ]] || { echo "a demo server issued no token" >&2; tail -5 "$W"/*.log; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user and system CPU time of process $1, in clock ticks
turn() { # SIDE: prints req/s and CPU ticks of one turn
  local addr=$PA pid=${PIDS[0]} tok=$TA
  [[ $1 == b ]] && addr=$PB pid=${PIDS[1]} tok=$TB
  local t0 t1 rps
  t0=$(ticks "$pid")
  if [[ $MODE == cc ]]; then
    rps=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$BENCH/lua/token.lua" "http://$addr/oauth2/token" -- "$GA" assets:read)
  else
    rps=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$BENCH/lua/introspect.lua" "http://$addr/oauth2/introspect" -- "$GA" "$tok")
  fi
  t1=$(ticks "$pid")
  echo "$(awk '/Requests\/sec/{print int($2)}' <<<"$rps") $((t1 - t0))"
}
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
RPS=() CPU=()
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then ra=$(turn a); rb=$(turn b); else rb=$(turn b); ra=$(turn a); fi
  read -r qa ca <<<"$ra"; read -r qb cb <<<"$rb"
  rr=$(awk -v a="$qa" -v b="$qb" 'BEGIN{printf "%.3f", b/a}')
  cr=$(awk -v a="$qa" -v b="$qb" -v x="$ca" -v y="$cb" 'BEGIN{printf "%.3f", (y/b)/(x/a)}')
  RPS+=("$rr") CPU+=("$cr")
  echo "round $r: $A $qa req/s, $B $qb req/s; B/A req/s $rr, CPU per request $cr"
done
echo "$MODE, $ROUNDS rounds: medians of the rounds' B/A ratios: req/s $(med "${RPS[@]}"), CPU per request $(med "${CPU[@]}")"
