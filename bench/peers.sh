#!/usr/bin/env bash
# Measures logship and rsyslog (imfile + omkafka) side by side: the same
# scenario of cmd/logship-bench, the same data and the same kind of broker,
# alternated round by round (rsyslog, logship, rsyslog, logship, ...) so that
# both see the same noise, then prints each one's median and range and the
# ratio of the medians.
#
#   bench/peers.sh                       # catch-up, 2M lines in one file, 5 rounds
#   ROUNDS=3 bench/peers.sh -scenario live
#   BIN=/tmp/logship bench/peers.sh -scenario many-files
#
# Arguments go to logship-bench for both agents. rsyslog and rsyslog-kafka
# are installed with apt when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}

if ! command -v rsyslogd >/dev/null || ! ls /usr/lib/*/rsyslog/omkafka.so >/dev/null 2>&1; then
	echo "installing rsyslog and rsyslog-kafka" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rsyslog rsyslog-kafka >/dev/null
fi
# The packages' own daemon, if their install started one, is not measured.
if pgrep -x rsyslogd >/dev/null && [ -z "${KEEP_SYSTEM_RSYSLOG:-}" ]; then
	echo "note: an rsyslogd is already running on this machine; it is not stopped" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${BIN:-$work/logship}
[ -n "${BIN:-}" ] || go build -o "$bin" ./cmd/logship
go build -o "$work/bench" ./cmd/logship-bench

echo "machine: $(nproc) cores, $(uname -sr), $(rsyslogd -v | head -1)"
echo "logship: $(git describe --always --dirty 2>/dev/null || echo unknown), bench: logship-bench $*"
for i in $(seq "$rounds"); do
	for agent in rsyslog logship; do
		"$work/bench" -agent "$agent" -bin "$bin" "$@" >"$work/$agent.$i" 2>"$work/$agent.$i.err" || {
			cat "$work/$agent.$i.err" >&2
			exit 1
		}
		printf 'round %d %-8s %s | %s | %s\n' "$i" "$agent" \
			"$(grep '^cpu per million' "$work/$agent.$i" | awk '{print $4" CPU-s/M"}')" \
			"$(grep '^peak rss' "$work/$agent.$i" | awk '{print $3" MiB"}')" \
			"$(grep -E '^(latency|idle cpu|records)' "$work/$agent.$i" | sed 's/  */ /g' | paste -sd' ' -)"
	done
done

# median and range of field $2 of the lines matching $1, over the rounds
stat() {
	local agent=$1 pattern=$2 field=$3
	cat "$work/$agent".[0-9]* | grep -E "$pattern" | awk -v f="$field" '{print $f}' | sort -g |
		awk '{v[NR]=$1} END {if (NR==0) exit; m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'
}
echo
printf '%-8s %-26s %-26s %s\n' agent "CPU-s per million lines" "peak RSS MiB" "latency p50 / p99 ms"
for agent in rsyslog logship; do
	printf '%-8s %-26s %-26s %s / %s\n' "$agent" "$(stat $agent '^cpu per million' 4)" "$(stat $agent '^peak rss' 3)" \
		"$(stat $agent '^latency' 6)" "$(stat $agent '^latency' 12)"
done
r=$(stat rsyslog '^cpu per million' 4 | cut -d' ' -f1)
l=$(stat logship '^cpu per million' 4 | cut -d' ' -f1)
awk -v l="$l" -v r="$r" 'BEGIN {printf "\nlogship / rsyslog CPU per line: %.2f\n", l/r}'
