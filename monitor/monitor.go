package monitor

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Monitor holds the metrics registry and the totals across pipelines. Its
// methods are safe for concurrent use.
type Monitor struct {
	reg         *prometheus.Registry
	readyWindow time.Duration
	topFiles    int
	now         func() time.Time

	mu      sync.Mutex
	base    Snapshot        // counters of the pipelines that finished
	current func() Snapshot // the running pipeline's; nil between pipelines
	started time.Time       // when the first pipeline started
	inputs  []string        // input ids exported at 0 until counted
	reasons []string        // rejection reasons exported at 0

	regWrite prometheus.Histogram
	regSize  prometheus.Gauge
	regFiles prometheus.Gauge
	reloads  *prometheus.CounterVec
	commits  prometheus.Histogram
}

// New returns a monitor with its own registry (Go runtime and process
// metrics included). readyWindow and topFiles are http.ready_window and
// http.top_files.
func New(version string, readyWindow time.Duration, topFiles int) *Monitor {
	m := &Monitor{reg: prometheus.NewRegistry(), readyWindow: readyWindow, topFiles: topFiles, now: time.Now}
	m.regWrite = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "logship_registry_write_duration_seconds", Help: "Time to write the registry file (atomic write, fsyncs included).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	m.regSize = prometheus.NewGauge(prometheus.GaugeOpts{Name: "logship_registry_size_bytes", Help: "Size of the registry file at its last write."})
	m.regFiles = prometheus.NewGauge(prometheus.GaugeOpts{Name: "logship_registry_files", Help: "Files in the registry at its last write."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logship_reloads_total", Help: "Configuration reloads, by result (ok, error)."}, []string{"result"})
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.commits = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "logship_transaction_commit_duration_seconds", Help: "Time to commit a transaction (delivery: exactly_once): flushing its records and EndTxn.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "logship_build_info", Help: "Always 1; the version as a label.", ConstLabels: prometheus.Labels{"version": version}})
	info.Set(1)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.regWrite, m.regSize, m.regFiles, m.reloads, m.commits, info, collector{m})
	return m
}

// Registry is where the metrics are registered.
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

// Attach makes snap the running pipeline's state.
func (m *Monitor) Attach(snap func() Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.current = snap
	if m.started.IsZero() {
		m.started = m.now()
	}
}

// Detach adds the stopped pipeline's counters to the totals.
func (m *Monitor) Detach() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current != nil {
		m.base = add(m.base, countersOnly(m.current()))
		m.current = nil
	}
}

// Expect names the series that exist from the start, at 0 until their
// first event: one per input (ids as InputID makes them) and one per
// reason an event can be rejected for good. A reload calls it again.
func (m *Monitor) Expect(inputs, reasons []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inputs, m.reasons = slices.Clone(inputs), slices.Clone(reasons)
}

// Snapshot is the state now, counters summed over every pipeline so far.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	cur, base, inputs, reasons := m.current, m.base, m.inputs, m.reasons
	m.mu.Unlock()
	var s Snapshot
	if cur == nil {
		s = add(Snapshot{}, base)
	} else {
		s = add(base, cur())
	}
	for _, id := range inputs {
		if !slices.ContainsFunc(s.Inputs, func(in Input) bool { return in.ID == id }) {
			s.Inputs = append(s.Inputs, Input{ID: id})
		}
	}
	for _, r := range reasons {
		if _, ok := s.EventsDropped[r]; !ok {
			s.EventsDropped = cloneSet(s.EventsDropped, r)
		}
		if _, ok := s.DeadLettered[r]; !ok {
			s.DeadLettered = cloneSet(s.DeadLettered, r)
		}
	}
	return s
}

// cloneSet is m with key at 0, copied: a snapshot's maps may be shared.
func cloneSet(m map[string]int64, key string) map[string]int64 {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]int64{}
	}
	out[key] = 0
	return out
}

// RegistryWritten records a registry write (registry.Registry.OnWrite).
func (m *Monitor) RegistryWritten(d time.Duration, bytes, files int) {
	m.regWrite.Observe(d.Seconds())
	m.regSize.Set(float64(bytes))
	m.regFiles.Set(float64(files))
}

// TransactionCommitted records a committed transaction's commit time.
func (m *Monitor) TransactionCommitted(d time.Duration) { m.commits.Observe(d.Seconds()) }

// Reloaded counts a reload and its result.
func (m *Monitor) Reloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
	} else {
		m.reloads.WithLabelValues("ok").Inc()
	}
}

// Ready reports whether the agent is delivering: a pipeline runs, Kafka
// answers, and events that wait have seen a delivery within the window.
func (m *Monitor) Ready() (bool, string) {
	m.mu.Lock()
	running := m.current != nil
	m.mu.Unlock()
	if !running {
		return false, "no pipeline running (starting, reloading or stopping)"
	}
	s := m.Snapshot()
	if !s.KafkaConnected {
		return false, "kafka not connected"
	}
	if s.EventsInflight > 0 || s.QueueEvents > 0 {
		last := s.LastDelivery
		if last.IsZero() {
			last = m.started
		}
		if age := m.now().Sub(last); age > m.readyWindow {
			return false, "events waiting and nothing delivered for " + age.Round(time.Second).String()
		}
	}
	return true, "ok"
}

var (
	descLines      = desc("logship_input_lines_read_total", "Lines read, by input.", "input")
	descBytes      = desc("logship_input_bytes_read_total", "Bytes read (newlines included), by input.", "input")
	descTruncated  = desc("logship_input_lines_truncated_total", "Lines longer than max_bytes, cut, by input.", "input")
	descAbandoned  = desc("logship_input_abandoned_bytes_total", "Bytes of deleted files given up after close_removed_after, by input.", "input")
	descPanics     = desc("logship_harvester_panics_total", "Harvesters that panicked (the file is retried at the next scan), by input.", "input")
	descInputLag   = desc("logship_input_lag_bytes", "Bytes written to the input's open files and not yet delivered.", "input")
	descFileLag    = desc("logship_file_lag_bytes", "Bytes written and not yet delivered, for the files furthest behind (http.top_files).", "input", "path")
	descPublished  = desc("logship_events_published_total", "Events handed to the Kafka producer (first attempts).")
	descAcked      = desc("logship_events_acked_total", "Events acknowledged by Kafka.")
	descAckedBytes = desc("logship_bytes_acked_total", "Bytes of events acknowledged by Kafka.")
	descFailed     = desc("logship_events_failed_total", "Failed delivery attempts; each is retried.")
	descRetried    = desc("logship_events_retried_total", "Events sent again after a failed attempt.")
	descDropped    = desc("logship_events_dropped_total", "Events Kafka rejected for good and dropped, by reason.", "reason")
	descDead       = desc("logship_events_dead_lettered_total", "Events Kafka rejected for good and written to the dead letter file, by reason.", "reason")
	descQueue      = desc("logship_queue_events", "Events held, from harvester to acknowledgement.")
	descQueueMax   = desc("logship_queue_max_events", "queue.max_events.")
	descQueueBytes = desc("logship_queue_bytes", "Bytes held, from harvester to acknowledgement.")
	descQueueBMax  = desc("logship_queue_max_bytes", "queue.max_bytes.")
	descBatches    = desc("logship_batches_inflight", "Batches published and not yet committed.")
	descInflight   = desc("logship_events_inflight", "Events sent to Kafka and not yet acknowledged.")
	descOpen       = desc("logship_open_files", "Files with a running harvester.")
	descOldest     = desc("logship_oldest_unacked_age_seconds", "Age of the oldest batch not yet acknowledged; 0 when none waits.")
	descLast       = desc("logship_last_delivery_timestamp_seconds", "When Kafka last acknowledged a batch (Unix time); 0 before the first.")
	descConnected  = desc("logship_kafka_connected", "1 while the producer is up and a broker answers.")
	descCommitted  = desc("logship_transactions_committed_total", "Transactions committed (delivery: exactly_once).")
	descAborted    = desc("logship_transactions_aborted_total", "Transactions aborted and sent again (delivery: exactly_once).")
	descFenced     = desc("logship_transactions_fenced", "1 once another producer took over the transactional id: this agent stopped shipping.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// collector reads a Snapshot at each scrape.
type collector struct{ m *Monitor }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLines, descBytes, descTruncated, descAbandoned, descPanics, descInputLag, descFileLag,
		descPublished, descAcked, descAckedBytes, descFailed, descRetried, descDropped, descDead, descQueue, descQueueMax,
		descQueueBytes, descQueueBMax, descBatches, descInflight, descOpen, descOldest, descLast, descConnected,
		descCommitted, descAborted, descFenced} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Snapshot()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, in := range s.Inputs {
		counter(descLines, in.LinesRead, in.ID)
		counter(descBytes, in.BytesRead, in.ID)
		counter(descTruncated, in.LinesTruncated, in.ID)
		counter(descAbandoned, in.BytesAbandoned, in.ID)
		counter(descPanics, in.HarvesterPanics, in.ID)
		gauge(descInputLag, float64(in.LagBytes), in.ID)
	}
	for _, f := range s.Files {
		gauge(descFileLag, float64(f.LagBytes), f.Input, f.Path)
	}
	counter(descPublished, s.EventsPublished)
	counter(descAcked, s.EventsAcked)
	counter(descAckedBytes, s.BytesAcked)
	counter(descFailed, s.EventsFailed)
	counter(descRetried, s.EventsRetried)
	for _, r := range slices.Sorted(maps.Keys(s.EventsDropped)) {
		counter(descDropped, s.EventsDropped[r], r)
	}
	for _, r := range slices.Sorted(maps.Keys(s.DeadLettered)) {
		counter(descDead, s.DeadLettered[r], r)
	}
	gauge(descQueue, float64(s.QueueEvents))
	gauge(descQueueMax, float64(s.QueueMaxEvents))
	gauge(descQueueBytes, float64(s.QueueBytes))
	gauge(descQueueBMax, float64(s.QueueMaxBytes))
	gauge(descBatches, float64(s.BatchesInflight))
	gauge(descInflight, float64(s.EventsInflight))
	gauge(descOpen, float64(s.OpenFiles))
	oldest, last := c.m.times(s)
	gauge(descOldest, oldest)
	gauge(descLast, last)
	connected := 0.0
	if s.KafkaConnected {
		connected = 1
	}
	gauge(descConnected, connected)
	counter(descCommitted, s.TxnCommitted)
	counter(descAborted, s.TxnAborted)
	fenced := 0.0
	if s.Fenced {
		fenced = 1
	}
	gauge(descFenced, fenced)
}

// times are the snapshot's oldest_unacked_age_seconds (0 when nothing
// waits) and last_delivery_timestamp_seconds (Unix time; 0 before the
// first delivery).
func (m *Monitor) times(s Snapshot) (oldest, last float64) {
	if !s.OldestUnacked.IsZero() {
		oldest = m.now().Sub(s.OldestUnacked).Seconds()
	}
	if !s.LastDelivery.IsZero() {
		last = float64(s.LastDelivery.UnixNano()) / 1e9
	}
	return oldest, last
}

// TopFiles keeps the n files furthest behind, and sums every file's lag
// into its input's.
func TopFiles(s *Snapshot, files []File, n int) {
	byID := map[string]int{}
	for i, in := range s.Inputs {
		byID[in.ID] = i
	}
	for _, f := range files {
		if i, ok := byID[f.Input]; ok {
			s.Inputs[i].LagBytes += f.LagBytes
		}
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return cmp.Or(cmp.Compare(b.LagBytes, a.LagBytes), cmp.Compare(a.Path, b.Path)) })
	n = min(n, len(files))
	for n > 0 && files[n-1].LagBytes == 0 {
		n--
	}
	s.Files = files[:n]
}

// InputID is an input's label: its id, or its position.
func InputID(id string, index int) string {
	if id != "" {
		return id
	}
	return strconv.Itoa(index)
}
