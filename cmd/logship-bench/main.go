// Command logship-bench measures a log shipper end to end on this machine:
// it writes log files of ~200-byte lines, starts an in-process
// Kafka-protocol broker (kfake), runs the shipper on them as a subprocess,
// counts every line on the broker, and reports the shipper's CPU seconds
// per million lines, lines/s and peak RSS, from the kernel's accounting of
// the shipper's process alone.
//
//	go run ./cmd/logship-bench                          # catch-up: 2M lines, one file
//	go run ./cmd/logship-bench -scenario live           # 20,000 lines/s for 30 s: latency
//	go run ./cmd/logship-bench -scenario many-files     # 200 files x 10,000 lines
//	go run ./cmd/logship-bench -scenario idle           # 1,000 open idle files: CPU per minute
//	go run ./cmd/logship-bench -scenario backlog        # 1 GB written while the broker is down 60 s
//
// -agent rsyslog runs rsyslog's imfile and omkafka on the same data and the
// same broker instead (see bench/peers.sh, which alternates the two);
// -agent floor runs bench/floor, the least a sarama-based shipper can do.
// -input adds keys to logship's input, -codec picks its output codec, -cri
// writes the lines as a CRI runtime does:
//
//	go run ./cmd/logship-bench -codec json
//	go run ./cmd/logship-bench -input 'processors: [{add_fields: {fields: {env: prod}}}]'
//	go run ./cmd/logship-bench -cri -input 'type: container'
//
// -cpuprofile and -memprofile write the agent's profiles (logship only).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// opts are the command's flags.
type opts struct {
	scenario   string
	agent      string
	lines      int
	files      int
	size       int
	codec      string
	input      string
	cri        bool
	bin        string
	keep       bool
	rate       int
	duration   time.Duration
	outage     time.Duration
	bytes      int64
	cpuprofile string
	memprofile string
	extra      string
	output     string
	env        string
	every      time.Duration
}

func main() {
	var o opts
	flag.StringVar(&o.scenario, "scenario", "catchup", "catchup, many-files, live, idle or backlog")
	flag.StringVar(&o.agent, "agent", "logship", "the shipper measured: logship, rsyslog, or floor (bench/floor: sarama alone)")
	flag.IntVar(&o.lines, "lines", 0, "lines to ship in all (default per scenario)")
	flag.IntVar(&o.files, "files", 0, "files to spread them over (default per scenario)")
	flag.IntVar(&o.size, "size", 200, "bytes per line, newline included")
	flag.StringVar(&o.codec, "codec", "raw", "logship's output.kafka.codec: raw or json")
	flag.StringVar(&o.input, "input", "", "YAML keys added to logship's input, e.g. 'type: container'")
	flag.StringVar(&o.extra, "config", "", "YAML added to logship's configuration at the top level")
	flag.StringVar(&o.env, "env", "", "environment variables for the agent, e.g. 'GOGC=200 GOMAXPROCS=1'")
	flag.StringVar(&o.output, "output", "", "YAML keys added to logship's output.kafka")
	flag.BoolVar(&o.cri, "cri", false, "write lines in the CRI log format")
	flag.StringVar(&o.bin, "bin", "", "logship binary (default: build ./cmd/logship)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.IntVar(&o.rate, "rate", 20_000, "live: lines written per second")
	flag.DurationVar(&o.every, "every", time.Millisecond, "live: time between two writes")
	flag.DurationVar(&o.duration, "duration", 0, "live: how long to write; idle: how long to watch (default 30s, 60s)")
	flag.DurationVar(&o.outage, "outage", 60*time.Second, "backlog: how long the broker is down after the agent starts")
	flag.Int64Var(&o.bytes, "bytes", 1e9, "backlog: bytes written before the agent starts")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write the agent's CPU profile to this file (logship)")
	flag.StringVar(&o.memprofile, "memprofile", "", "write the agent's heap profile at its stop to this file (logship)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "logship-bench:", err)
		os.Exit(1)
	}
}

func run(o opts) error {
	s, ok := scenarios[o.scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q (catchup, many-files, live, idle, backlog)", o.scenario)
	}
	if o.agent != "logship" && o.agent != "rsyslog" && o.agent != "floor" {
		return fmt.Errorf("unknown agent %q (logship, rsyslog, floor)", o.agent)
	}
	if o.agent == "rsyslog" && (o.cpuprofile != "" || o.memprofile != "") {
		return fmt.Errorf("-cpuprofile and -memprofile profile logship and floor only")
	}
	s.defaults(&o)
	b, err := newBench(o)
	if err != nil {
		return err
	}
	defer b.close()
	res, err := s.run(b)
	if err != nil {
		return err
	}
	res.print(o)
	return nil
}
