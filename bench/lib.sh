# bench/lib.sh — what bench/compare.sh and bench/ab.sh share; sourced, not run. The caller
# sets BENCH (this folder), W (a scratch folder), DUR, CONNS and THREADS.

# need_wrk installs wrk with apt-get when it is missing, or fails.
need_wrk() {
  command -v wrk >/dev/null && return 0
  echo "== installing wrk" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null ||
    { echo "wrk is missing and could not be installed (apt-get install wrk)" >&2; return 1; }
}

# up URL waits up to 30 s for URL to answer.
up() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "$1 did not come up" >&2; return 1; }

# basic USER PASS prints an HTTP Basic Authorization header value.
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# token BASE-URL AUTHORIZATION SCOPE prints the access token of a client_credentials request.
token() { curl -s -H "Authorization: $2" -d grant_type=client_credentials -d "scope=$3" "$1/oauth2/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }

# rate URL SCRIPT ARGS... runs wrk with lua/SCRIPT against URL for one turn, leaves its output
# in $W/wrk.out, and prints its requests per second (warning of non-2xx answers).
rate() {
  wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --timeout 10s -s "$BENCH/lua/$2" "$1" -- "${@:3}" >"$W/wrk.out" 2>&1
  local bad; bad=$(awk '/Non-2xx/{print $4}' "$W/wrk.out")
  [[ -n $bad ]] && echo "  ($1: $bad non-2xx responses)" >&2
  awk '/Requests\/sec/{print int($2)}' "$W/wrk.out"
}

# med NUMBERS... prints their median (of an even count, the lower middle one).
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# ticks PID prints the user and system CPU time of process PID, in clock ticks (Linux /proc).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# turn PID URL SCRIPT ARGS... runs one rate turn against the server of PID and prints
# "req/s CPU-µs-per-request", the server's CPU time over the requests wrk completed.
turn() {
  local pid=$1 t0 t1; shift
  t0=$(ticks "$pid"); rate "$@" >/dev/null; t1=$(ticks "$pid")
  awk -v f="$W/wrk.out" -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN{while ((getline l < f) > 0) {split(l, a, " ");
    if (l ~ /requests in/) n = a[1]; if (l ~ /Requests\/sec/) r = int(a[2])} printf "%d %.1f", r, n ? d * 1e6 / hz / n : 0}'
}

# ratio A B prints A/B to three places.
ratio() { awk -v a="${1:-0}" -v b="${2:-1}" 'BEGIN{printf "%.3f", a/b}'; }
