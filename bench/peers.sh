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
#   AGENTS="rsyslog before=/tmp/logship-old logship floor" bench/peers.sh
#
# AGENTS lists what is measured, in the order of each round: rsyslog,
# floor (bench/floor: sarama alone), logship (the binary BIN, built from
# this tree by default), or NAME=BINARY for another logship binary (a
# before/after comparison). Arguments go to logship-bench for every one of
# them. rsyslog and rsyslog-kafka are installed with apt when missing (as
# root).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
agents=${AGENTS:-rsyslog logship}

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
	for a in $agents; do
		name=${a%%=*} kind=$a abin=$bin
		if [ "$name" != "$a" ]; then kind=logship abin=${a#*=}; fi
		"$work/bench" -agent "$kind" -bin "$abin" "$@" >"$work/$name.$i.out" 2>"$work/$name.$i.err" || {
			cat "$work/$name.$i.err" >&2
			exit 1
		}
		printf 'round %d %-8s %s | %s | %s\n' "$i" "$name" \
			"$(grep '^cpu per million' "$work/$name.$i.out" | awk '{print $4" CPU-s/M"}')" \
			"$(grep '^peak rss' "$work/$name.$i.out" | awk '{print $3" MiB"}')" \
			"$(grep -E '^(latency|idle cpu|idle rss|open fds|records)' "$work/$name.$i.out" | sed 's/  */ /g' | paste -sd' ' -)"
	done
done

# median and range of field $2 of the lines matching $1, over the rounds
stat() {
	local agent=$1 pattern=$2 field=$3
	cat "$work/$agent".*.out | grep -E "$pattern" | awk -v f="$field" '{print $f}' | sort -g |
		awk '{v[NR]=$1} END {if (NR==0) exit; m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'
}
echo
printf '%-8s %-24s %-24s %-26s %s\n' agent "CPU-s per million lines" "peak RSS MiB" "latency p50 / p99 ms" "idle CPU-s per minute"
for a in $agents; do
	name=${a%%=*}
	printf '%-8s %-24s %-24s %-26s %s\n' "$name" "$(stat "$name" '^cpu per million' 4)" "$(stat "$name" '^peak rss' 3)" \
		"$(stat "$name" '^latency' 6) / $(stat "$name" '^latency' 12)" "$(stat "$name" '^idle cpu' 3)"
done
first=${agents%% *}
first=${first%%=*}
r=$(stat "$first" '^cpu per million' 4 | cut -d' ' -f1)
echo
for a in $agents; do
	name=${a%%=*}
	[ "$name" = "$first" ] && continue
	l=$(stat "$name" '^cpu per million' 4 | cut -d' ' -f1)
	awk -v n="$name" -v f="$first" -v l="$l" -v r="$r" 'BEGIN {printf "%s / %s CPU per line: %.2f\n", n, f, l/r}'
done
