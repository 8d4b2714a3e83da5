package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// scenario is one kind of measurement.
type scenario struct {
	defaults func(*opts)
	run      func(*bench) (*result, error)
}

var scenarios = map[string]scenario{
	"catchup":    {defaults: sized(2_000_000, 1), run: catchup},
	"many-files": {defaults: sized(2_000_000, 200), run: catchup},
	"live":       {defaults: timed(30 * time.Second), run: live},
	"idle":       {defaults: idleDefaults, run: idle},
	"backlog":    {defaults: backlogDefaults, run: backlog},
}

func sized(lines, files int) func(*opts) {
	return func(o *opts) {
		o.lines = or(o.lines, lines)
		o.files = or(o.files, files)
	}
}

func timed(d time.Duration) func(*opts) {
	return func(o *opts) {
		o.files = 1
		if o.duration == 0 {
			o.duration = d
		}
		o.lines = int(o.duration.Seconds() * float64(o.rate))
	}
}

func idleDefaults(o *opts) {
	o.files = or(o.files, 1000)
	o.lines = o.files * max(1, 2000/o.size) // 2 KB per file
	if o.duration == 0 {
		o.duration = time.Minute
	}
}

func backlogDefaults(o *opts) {
	o.files = or(o.files, 1)
	o.lines = or(o.lines, int(o.bytes/int64(o.size)))
}

func or(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// result is what a scenario measured.
type result struct {
	wall    time.Duration // agent start (live: first write) to the last line in Kafka
	use     usage         // the agent's, start to stop
	cpu     time.Duration // the CPU the per-line figure is taken from
	records int64         // in the topic at the end
	extra   []string      // scenario's own lines, "name  value"
}

func (r *result) print(o opts) {
	fmt.Printf("scenario         %s, agent %s\n", o.scenario, o.agent)
	fmt.Printf("lines            %d x %d bytes in %d files", o.lines, o.size, o.files)
	if o.agent == "logship" {
		fmt.Printf(", codec %s", o.codec)
	}
	fmt.Printf(", cri %v\n", o.cri)
	if o.input != "" {
		fmt.Printf("input            %s\n", o.input)
	}
	exact := "exact"
	if r.records != int64(o.lines) {
		exact = fmt.Sprintf("%+d", r.records-int64(o.lines))
	}
	fmt.Printf("records          %d in Kafka (%s)\n", r.records, exact)
	fmt.Printf("wall             %.2f s\n", r.wall.Seconds())
	fmt.Printf("throughput       %.0f lines/s, %.1f MB/s\n", float64(o.lines)/r.wall.Seconds(), float64(o.lines)*float64(o.size)/1e6/r.wall.Seconds())
	fmt.Printf("agent cpu        %.2f s (user %.2f, sys %.2f)\n", r.use.cpu().Seconds(), r.use.user.Seconds(), r.use.sys.Seconds())
	fmt.Printf("cpu per million  %.2f CPU-s per million lines\n", r.cpu.Seconds()/float64(o.lines)*1e6)
	fmt.Printf("peak rss         %.1f MiB\n", float64(r.use.peakRSS)/(1<<20))
	for _, l := range r.extra {
		fmt.Println(l)
	}
}

// catchup ships files written before the agent starts.
func catchup(b *bench) (*result, error) {
	a, wall, err := b.shipWritten()
	if err != nil {
		return nil, err
	}
	u, err := a.stop()
	if err != nil {
		return nil, err
	}
	return &result{wall: wall, use: u, cpu: u.cpu(), records: b.delivered()}, nil
}

// shipWritten writes the files, starts the broker and the agent, and waits
// until every line is in Kafka; wall is from the agent's start to then.
func (b *bench) shipWritten() (a *agent, wall time.Duration, err error) {
	if err := writeFiles(b.logs(), b.o.lines, b.o.files, b.o.size, b.o.cri); err != nil {
		return nil, 0, err
	}
	if err := b.startBroker(false); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	if a, err = b.startAgent(); err != nil {
		return nil, 0, err
	}
	if err := b.waitDelivered(a, b.o.lines, 10*time.Minute); err != nil {
		_, _ = a.stop()
		return nil, 0, err
	}
	return a, time.Since(start), nil
}

// backlog writes its bytes while the broker is down, starts the agent, and
// starts the broker after the outage: the agent must hold the backlog in
// bounded memory and ship it whole.
func backlog(b *bench) (*result, error) {
	if err := writeFiles(b.logs(), b.o.lines, b.o.files, b.o.size, b.o.cri); err != nil {
		return nil, err
	}
	start := time.Now()
	a, err := b.startAgent()
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(b.o.outage):
	case <-a.done:
		return nil, fmt.Errorf("agent exited during the outage: %v", a.err)
	}
	_, during, _, err := a.now()
	if err != nil {
		return nil, err
	}
	up := time.Now()
	if err := b.startBroker(false); err != nil {
		_, _ = a.stop()
		return nil, err
	}
	if err := b.waitDelivered(a, b.o.lines, 10*time.Minute); err != nil {
		_, _ = a.stop()
		return nil, err
	}
	wall := time.Since(start)
	drained := time.Since(up)
	u, err := a.stop()
	if err != nil {
		return nil, err
	}
	return &result{wall: wall, use: u, cpu: u.cpu(), records: b.delivered(), extra: []string{
		fmt.Sprintf("outage           %s; rss at its end %.1f MiB", b.o.outage, float64(during)/(1<<20)),
		fmt.Sprintf("drained          %.2f s after the broker came up", drained.Seconds()),
	}}, nil
}

// idle starts the agent on many small files, waits until they are shipped,
// and then watches it while nothing is written.
func idle(b *bench) (*result, error) {
	a, wall, err := b.shipWritten()
	if err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second) // the last acknowledgements and registry write
	cpu0, _, _, err := a.now()
	if err != nil {
		return nil, err
	}
	time.Sleep(b.o.duration)
	cpu1, rss, fds, err := a.now()
	if err != nil {
		return nil, err
	}
	u, err := a.stop()
	if err != nil {
		return nil, err
	}
	perMin := (cpu1 - cpu0).Seconds() / b.o.duration.Minutes()
	return &result{wall: wall, use: u, cpu: u.cpu(), records: b.delivered(), extra: []string{
		fmt.Sprintf("idle cpu         %.3f CPU-s per minute (%.2f%% of one core) over %s", perMin, perMin/60*100, b.o.duration),
		fmt.Sprintf("idle rss         %.1f MiB", float64(rss)/(1<<20)),
		fmt.Sprintf("open fds         %d", fds),
	}}, nil
}

// live appends to one file at a steady rate, each line stamped with the
// time it was written, and measures when each line can be consumed.
func live(b *bench) (*result, error) {
	if err := b.startBroker(true); err != nil {
		return nil, err
	}
	path := filepath.Join(b.logs(), "f0.log")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := b.startAgent()
	if err != nil {
		return nil, err
	}
	// One line first: the agent is reading the file when it arrives.
	if _, err := f.WriteString(stamped(b.o.size, -1, 0)); err != nil {
		return nil, err
	}
	if err := b.waitDelivered(a, 1, time.Minute); err != nil {
		_, _ = a.stop()
		return nil, err
	}
	// read_committed: with exactly_once a line is consumable once its
	// transaction commits (the same as read_uncommitted otherwise).
	c, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics("logs"), kgo.FetchMaxWait(time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lat []time.Duration
	var mu sync.Mutex
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			fs := c.PollFetches(ctx)
			now := time.Now()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				v := strings.TrimSpace(string(r.Value))
				if ts, err := strconv.ParseInt(v[:strings.IndexByte(v, ' ')], 10, 64); err == nil && ts > 0 {
					lat = append(lat, now.Sub(time.Unix(0, ts)))
				}
			})
			n := len(lat)
			mu.Unlock()
			if n >= b.o.lines {
				return
			}
		}
	}()
	cpu0, _, _, err := a.now()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := writeAtRate(f, b.o); err != nil {
		return nil, err
	}
	if err := b.waitDelivered(a, b.o.lines+1, time.Minute); err != nil {
		_, _ = a.stop()
		return nil, err
	}
	wall := time.Since(start)
	cpu1, _, _, err := a.now()
	if err != nil {
		return nil, err
	}
	select {
	case <-consumed:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("consumer saw %d of %d lines", len(lat), b.o.lines)
	}
	u, err := a.stop()
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() * 1000 }
	return &result{wall: wall, use: u, cpu: cpu1 - cpu0, records: b.delivered() - 1, extra: []string{
		fmt.Sprintf("rate             %d lines/s for %s (cpu per million: while writing)", b.o.rate, b.o.duration),
		fmt.Sprintf("latency          write to consumable: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", q(0.5), q(0.9), q(0.99), q(1)),
	}}, nil
}

// writeAtRate appends o.lines lines at o.rate lines per second, in a write
// every o.every (a millisecond by default) of the lines due by then.
func writeAtRate(f *os.File, o opts) error {
	start := time.Now()
	var buf []byte
	for seq := 0; seq < o.lines; {
		due := min(o.lines, int(time.Since(start).Seconds()*float64(o.rate))+1)
		buf = buf[:0]
		now := time.Now().UnixNano()
		for ; seq < due; seq++ {
			buf = append(buf, stamped(o.size, seq, now)...)
		}
		if len(buf) > 0 {
			if _, err := f.Write(buf); err != nil {
				return err
			}
		}
		time.Sleep(o.every)
	}
	return nil
}

// stamped is a line of size bytes that starts with when it was written
// (unix nanoseconds; 0 for none).
func stamped(size, seq int, ns int64) string {
	head := fmt.Sprintf("%d INFO file=0 seq=%d ", ns, seq)
	return head + pad[:max(0, size-1-len(head))] + "\n"
}

var pad = strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 1000)

// writeFiles writes lines spread round-robin over files.
func writeFiles(dir string, lines, files, size int, cri bool) error {
	for f := range files {
		fh, err := os.Create(filepath.Join(dir, "f"+strconv.Itoa(f)+".log"))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		for i := f; i < lines; i += files {
			head := fmt.Sprintf("2026-11-21T10:00:00.000Z INFO file=%d seq=%d ", f, i)
			if cri {
				head = "2026-11-21T10:00:00.123456789Z stdout F " + head
			}
			w.WriteString(head)
			w.WriteString(pad[:max(0, size-1-len(head))])
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	return nil
}
