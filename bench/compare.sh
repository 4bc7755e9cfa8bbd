#!/usr/bin/env bash
# bench/compare.sh [cc|jwt|introspect|audit] — requests per second of the Gatehouse demo server
# beside a bare fosite v0.49.0 server (bench/baseline: memory store, SHA-256 client-secret
# hasher) and a plain net/http ceiling, measured in turns (G F P G F P ...) in one run on
# loopback with wrk. Only the ratios of one run mean anything on a shared machine.
#   cc          client_credentials, opaque access tokens (default)
#   jwt         client_credentials, ES256 JWT access tokens (demo flag -jwt-access-tokens)
#   introspect  RFC 7662 introspection of a live token, the caller authenticated by Basic
#   audit       client_credentials on the demo with its audit trail on (the default) beside
#               the same demo with -audit=false, in turns: the last line gives on/off of
#               req/s and of the server's CPU time per request (from /proc, Linux)
# Environment: ROUNDS (3), DUR (5s), CONNS (32), THREADS (2), GATEHOUSE_FLAGS (extra demo
# flags, e.g. "-dsn postgres://..."). The last line holds the medians and the ratios: the ratio
# of the medians (what the reference script reports) and the median of the rounds' ratios (steadier
# when a neighbour's load spoils a few rounds).
set -uo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
MODE=${1:-cc} ROUNDS=${ROUNDS:-3} DUR=${DUR:-5s} CONNS=${CONNS:-32} THREADS=${THREADS:-2}
case $MODE in cc|jwt|introspect|audit) ;; *) echo "usage: $0 [cc|jwt|introspect|audit]" >&2; exit 2 ;; esac
# shellcheck source=lib.sh
. "$BENCH/lib.sh"
need_wrk || exit 1
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
(cd "$BENCH" && go build -o "$W/baseline" ./baseline) || { echo "bench/baseline: build failed" >&2; exit 1; }
(cd "$ROOT" && go build -o "$W/gatehouse" ./examples/server) || { echo "examples/server: build failed" >&2; exit 1; }

G=127.0.0.1:18192 F=127.0.0.1:18190 P=127.0.0.1:18191 A=127.0.0.1:18193
GFLAGS=(-admin-addr "" ${GATEHOUSE_FLAGS:-}) FFLAGS=(-hasher sha256)
[[ $MODE == jwt ]] && { GFLAGS+=(-jwt-access-tokens); FFLAGS+=(-strategy jwt); }
"$W/baseline" -addr $F "${FFLAGS[@]}" >"$W/f.log" 2>&1 & PIDS+=($!)
"$W/baseline" -addr $P -mode plain >"$W/p.log" 2>&1 & PIDS+=($!)
(cd "$ROOT" && exec "$W/gatehouse" -addr $G "${GFLAGS[@]}") >"$W/g.log" 2>&1 & PIDS+=($!)
up http://$F/oauth2/token && up http://$P/oauth2/token && up http://$G/.well-known/openid-configuration || { tail -5 "$W"/*.log; exit 1; }

GA=$(basic demo-service demo-service-secret) FA=$(basic perf-client perf-secret)
GT=$(token http://$G "$GA" assets:read) FT=$(token http://$F "$FA" read)
[[ -n $GT ]] || { echo "gatehouse issued no token to demo-service" >&2; tail -5 "$W/g.log"; exit 1; }
[[ -n $FT ]] || { echo "the baseline issued no token" >&2; tail -5 "$W/f.log"; exit 1; }
if [[ $MODE == jwt && $(tr -cd . <<<"$GT" | wc -c) != 2 ]]; then echo "gatehouse -jwt-access-tokens issued no JWT: $GT" >&2; exit 1; fi
if [[ $MODE == introspect ]]; then
  a=$(curl -s -H "Authorization: $GA" -d "token=$GT" http://$G/oauth2/introspect)
  grep -q '"active":true' <<<"$a" || { echo "gatehouse introspection is not active: $a" >&2; exit 1; }
fi

if [[ $MODE == audit ]]; then
  GPID=${PIDS[2]}
  (cd "$ROOT" && exec "$W/gatehouse" -addr $A -audit=false "${GFLAGS[@]}") >"$W/a.log" 2>&1 & PIDS+=($!)
  APID=${PIDS[3]}
  up http://$A/.well-known/openid-configuration || { tail -5 "$W/a.log"; exit 1; }
  [[ -n $(curl -sD - -o /dev/null -H "Authorization: $GA" -d grant_type=client_credentials http://$G/oauth2/token | grep -i '^x-request-id') ]] ||
    { echo "the audit-on demo sent no X-Request-Id: is its trail on?" >&2; exit 1; }
  [[ -z $(curl -sD - -o /dev/null -H "Authorization: $GA" -d grant_type=client_credentials http://$A/oauth2/token | grep -i '^x-request-id') ]] ||
    { echo "the -audit=false demo sent an X-Request-Id: is its trail off?" >&2; exit 1; }
  declare -a ON OFF RATIO CON COFF CRATIO
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then # which goes first alternates
      read -r on con < <(turn "$GPID" http://$G/oauth2/token token.lua "$GA" assets:read)
      read -r off coff < <(turn "$APID" http://$A/oauth2/token token.lua "$GA" assets:read)
    else
      read -r off coff < <(turn "$APID" http://$A/oauth2/token token.lua "$GA" assets:read)
      read -r on con < <(turn "$GPID" http://$G/oauth2/token token.lua "$GA" assets:read)
    fi
    ratio=$(ratio "$on" "$off") cratio=$(ratio "$con" "$coff")
    echo "round $r: audit on $on req/s ($con µs CPU each), off $off req/s ($coff µs CPU each); req/s on/off $ratio, CPU per request on/off $cratio"
    ON+=("${on:-0}"); OFF+=("${off:-0}"); RATIO+=("$ratio"); CON+=("${con:-0}"); COFF+=("${coff:-0}"); CRATIO+=("$cratio")
  done
  echo "audit medians: on $(med "${ON[@]}"), off $(med "${OFF[@]}") req/s, CPU per request on $(med "${CON[@]}"), off $(med "${COFF[@]}") µs;" \
    "medians of the rounds' ratios: req/s on/off $(med "${RATIO[@]}"), CPU per request on/off $(med "${CRATIO[@]}")"
  exit 0
fi
declare -a GR FR PR RR
for r in $(seq "$ROUNDS"); do
  if [[ $MODE == introspect ]]; then
    g=$(rate http://$G/oauth2/introspect introspect.lua "$GA" "$GT")
    f=$(rate http://$F/oauth2/introspect introspect.lua "$FA" "$FT")
  else
    g=$(rate http://$G/oauth2/token token.lua "$GA" assets:read)
    f=$(rate http://$F/oauth2/token token.lua "$FA" read)
  fi
  p=$(rate http://$P/oauth2/token token.lua "$(basic x y)" read)
  echo "round $r: gatehouse $g req/s, fosite $f req/s, plain $p req/s"
  GR+=("${g:-0}"); FR+=("${f:-0}"); PR+=("${p:-0}")
  RR+=("$(ratio "$g" "$f")")
done
gm=$(med "${GR[@]}") fm=$(med "${FR[@]}") pm=$(med "${PR[@]}")
echo "$MODE medians: gatehouse $gm, fosite-baseline $fm, plain-ceiling $pm req/s;" \
  "gatehouse/fosite $(awk -v a="$gm" -v b="$fm" 'BEGIN{printf "%.2f", a/b}')," \
  "gatehouse/ceiling $(awk -v a="$gm" -v b="$pm" 'BEGIN{printf "%.2f", a/b}');" \
  "median of the rounds' gatehouse/fosite $(med "${RR[@]}")"
