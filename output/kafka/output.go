package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
	"github.com/logship/logship/internal/backoff"
	"github.com/logship/logship/internal/ratelog"
	"github.com/logship/logship/spooler"
)

// Stats is a snapshot of the output's counters.
type Stats struct {
	Published int64 // events handed to sarama, first attempts
	Acked     int64 // events of fully acknowledged batches
	Retries   int64 // re-sends after a failed delivery
	Inflight  int64 // events sent and not yet acknowledged
	// Dropped and DeadLettered count events Kafka rejected for good, by reason.
	Dropped      map[string]int64
	DeadLettered map[string]int64
	Failed       int64     // failed delivery attempts (each is retried)
	Connected    bool      // a producer is up and brokers answer
	LastDelivery time.Time // zero before the first acknowledgement
}

// Output delivers batches to Kafka. Create it with New, run it with Run, hand
// it batches with Publish (from one goroutine), then Drain and Close it.
type Output struct {
	cfg    config.Kafka
	sc     *sarama.Config
	log    *slog.Logger
	enc    encoder
	router *router
	newPro func() (sarama.AsyncProducer, error)

	// ready is closed once producer is set; stop once Close is called.
	ready    chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	producer sarama.AsyncProducer
	sendMu   sync.RWMutex // held (read) while sending to the producer; Close takes it to close
	closed   bool         // guarded by sendMu

	retryMu  sync.Mutex
	retryQ   []*sarama.ProducerMessage
	retryAdd chan struct{} // capacity 1

	inflight atomic.Int64
	idle     chan struct{} // capacity 1: inflight reached zero
	slots    chan struct{} // one per batch in flight (max_in_flight)

	dead       *deadLetter // nil with on_permanent_error: drop
	rejectMu   sync.Mutex
	dropped    map[string]int64
	deadLetter map[string]int64
	// Rejections wait here for rejectLoop, which writes the dead letter
	// file: its I/O and fsync stay off the goroutines that drain sarama
	// and publish. Bounded by the events in flight.
	rejectQ   []rejection
	rejectAdd chan struct{} // capacity 1

	// reachable is whether brokers answered the last probe or delivery.
	reachable                 atomic.Bool
	published, acked, retries atomic.Int64
	failures                  atomic.Int64
	lastDelivery              atomic.Int64 // unix nanoseconds
	failLog                   *ratelog.Logger
}

// failEvery is how often failed deliveries are logged during an outage;
// all are counted.
const failEvery = 10 * time.Second

// msgMeta travels in a ProducerMessage's Metadata.
type msgMeta struct {
	batch    *batchState
	event    *event.Event
	attempts int
}

// batchState is one batch's messages, their values' buffer and how many are
// still unacknowledged. It is recycled once the batch is acknowledged.
type batchState struct {
	batch   *spooler.Batch
	msgs    []sarama.ProducerMessage
	metas   []msgMeta
	headers []sarama.RecordHeader
	buf     []byte
	left    atomic.Int64 // messages not yet acknowledged or rejected for good
}

var statePool = sync.Pool{New: func() any { return new(batchState) }}

// New checks the configuration and returns an output; it connects in Run.
// hostName fills the events' host.name.
func New(cfg config.Kafka, hostName string, log *slog.Logger) (*Output, error) {
	sc, err := saramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	rt, err := newRouter(cfg)
	if err != nil {
		return nil, err
	}
	o := &Output{
		cfg: cfg, sc: sc,
		log:      log.With("component", "output", "output", "kafka"),
		enc:      encoder{raw: cfg.Codec == config.CodecRaw, hostName: hostName},
		router:   rt,
		ready:    make(chan struct{}),
		stop:     make(chan struct{}),
		retryAdd: make(chan struct{}, 1), rejectAdd: make(chan struct{}, 1),
		idle:    make(chan struct{}, 1),
		slots:   make(chan struct{}, cfg.MaxInFlight),
		dropped: make(map[string]int64), deadLetter: make(map[string]int64),
		failLog: ratelog.New(failEvery),
	}
	if cfg.OnPermanentError == config.PermanentDeadLetter {
		o.dead = &deadLetter{path: cfg.DeadLetter.Path, maxSize: int64(cfg.DeadLetter.MaxSize)}
	}
	o.newPro = func() (sarama.AsyncProducer, error) {
		if cfg.Version == config.VersionAuto {
			if err := checkBrokerVersion(cfg.Hosts, sc); err != nil {
				return nil, err
			}
		}
		p, err := sarama.NewAsyncProducer(cfg.Hosts, sc)
		if err != nil && cfg.Idempotent == nil && sc.Producer.Idempotent && idempotenceRefused(err) {
			// On by default only where the broker allows it.
			o.log.Warn("kafka refused an idempotent producer; continuing without idempotence (re-sends after failures may duplicate)", "err", err)
			plain := *sc
			plain.Producer.Idempotent = false
			plain.Net.MaxOpenRequests = 5
			sc = &plain
			return sarama.NewAsyncProducer(cfg.Hosts, sc)
		}
		return p, err
	}
	return o, nil
}

// Stats returns the output's counters; safe for concurrent use.
func (o *Output) Stats() Stats {
	st := Stats{
		Published: o.published.Load(), Acked: o.acked.Load(), Retries: o.retries.Load(), Failed: o.failures.Load(),
		Inflight: o.inflight.Load(), Dropped: map[string]int64{}, DeadLettered: map[string]int64{},
	}
	o.rejectMu.Lock()
	for k, v := range o.dropped {
		st.Dropped[k] = v
	}
	for k, v := range o.deadLetter {
		st.DeadLettered[k] = v
	}
	o.rejectMu.Unlock()
	select {
	case <-o.ready:
		st.Connected = o.reachable.Load()
	default:
	}
	if ns := o.lastDelivery.Load(); ns != 0 {
		st.LastDelivery = time.Unix(0, ns)
	}
	return st
}

// Run connects (retrying with backoff until it succeeds or ctx is done),
// then drains the producer's results until Close has closed it. It returns
// ctx.Err() if ctx ends before a connection was made.
func (o *Output) Run(ctx context.Context) error {
	p, err := o.connect(ctx)
	if err != nil {
		return err
	}
	o.sendMu.Lock()
	o.producer = p
	if o.closed { // Close came first: nothing will be sent
		p.AsyncClose()
	} else {
		close(o.ready)
	}
	o.sendMu.Unlock()
	o.reachable.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { o.retryLoop() })
	wg.Go(func() { o.probeLoop() })
	wg.Go(func() { o.rejectLoop() })
	o.drain(p)
	wg.Wait()
	if o.dead != nil {
		if err := o.dead.close(); err != nil {
			o.log.Error("dead letter file close failed", "path", o.cfg.DeadLetter.Path, "err", err)
		}
	}
	return nil
}

// probeInterval is how often an idle output checks that a broker answers,
// so Stats.Connected follows the brokers with nothing to send. While events
// flow, their results say it and no probe is made (a fleet of agents should
// not dial the brokers for nothing).
const probeInterval = 30 * time.Second

// probeLoop probes the brokers when nothing was delivered for a
// probeInterval, until Close.
func (o *Output) probeLoop() {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			if last := o.lastDelivery.Load(); last != 0 && time.Since(time.Unix(0, last)) < probeInterval {
				continue
			}
			o.reachable.Store(o.probe() == nil)
		}
	}
}

// probe reports whether any broker answers an ApiVersions request.
func (o *Output) probe() error {
	_, _, err := firstAnswer(o.cfg.Hosts, o.sc)
	return err
}

func (o *Output) connect(ctx context.Context) (sarama.AsyncProducer, error) {
	for attempt := 1; ; attempt++ {
		wait := backoff.Delay(500*time.Millisecond, 30*time.Second, attempt)
		p, err := o.newPro()
		if err == nil {
			o.log.Info("connected to kafka", "hosts", o.cfg.Hosts, "topic", o.cfg.Topic)
			return p, nil
		}
		if errors.Is(err, errBrokerTooOld) {
			o.log.Error("kafka broker too old", "err", err, "retry_in", wait)
		} else if msg := authError(err, o.cfg.SASL.Mechanism != ""); msg != "" {
			o.log.Error(msg, "hosts", o.cfg.Hosts, "err", err, "retry_in", wait)
		} else {
			o.log.Warn("kafka unreachable, retrying", "hosts", o.cfg.Hosts, "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-o.stop:
			return nil, errors.New("output closed before connecting")
		case <-time.After(wait):
		}
	}
}

// drain reads both result channels until both are closed.
func (o *Output) drain(p sarama.AsyncProducer) {
	successes, failures := p.Successes(), p.Errors()
	for successes != nil || failures != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			o.delivered(m)
		case pe, ok := <-failures:
			if !ok {
				failures = nil
				continue
			}
			o.failed(pe)
		}
	}
}

func (o *Output) delivered(m *sarama.ProducerMessage) {
	o.done(m.Metadata.(*msgMeta).batch)
}

// done counts one message of st as settled (delivered, or rejected for good
// under the policy); the last one acknowledges the batch.
func (o *Output) done(st *batchState) {
	if st.left.Add(-1) != 0 {
		return
	}
	n := len(st.msgs)
	o.acked.Add(int64(n))
	o.lastDelivery.Store(time.Now().UnixNano())
	o.reachable.Store(true)
	st.batch.Ack(n)
	clear(st.msgs) // drop references to values and metadata
	clear(st.metas)
	clear(st.headers[:cap(st.headers)])
	st.batch, st.buf = nil, st.buf[:0]
	statePool.Put(st)
	<-o.slots
	if o.inflight.Add(-int64(n)) == 0 {
		select {
		case o.idle <- struct{}{}:
		default:
		}
	}
}

// rejection is an event Kafka will never take, waiting for rejectLoop.
type rejection struct {
	st     *batchState
	e      *event.Event
	reason string
	err    error
}

// reject queues an event Kafka will never take for rejectLoop. It never
// blocks.
func (o *Output) reject(st *batchState, e *event.Event, reason string, cause error) {
	o.rejectMu.Lock()
	o.rejectQ = append(o.rejectQ, rejection{st, e, reason, cause})
	o.rejectMu.Unlock()
	select {
	case o.rejectAdd <- struct{}{}:
	default:
	}
}

// rejectLoop settles rejected events until Close: each is dropped or
// written to the dead letter file (durably, before its offset may move),
// counted and logged. Events still queued at Close stay unacknowledged.
func (o *Output) rejectLoop() {
	for {
		select {
		case <-o.stop:
			return
		case <-o.rejectAdd:
		}
		o.rejectMu.Lock()
		q := o.rejectQ
		o.rejectQ = nil
		o.rejectMu.Unlock()
		for _, r := range q {
			o.settleRejected(r.st, r.e, r.reason, r.err)
		}
	}
}

// settleRejected drops an event Kafka will never take or writes it to the
// dead letter file; either way it is counted and logged, and its offset
// may advance.
func (o *Output) settleRejected(st *batchState, e *event.Event, reason string, cause error) {
	policy := config.PermanentDrop
	if o.dead != nil {
		policy = config.PermanentDeadLetter
		if err := o.dead.write(e, o.cfg.Topic, reason, cause); err != nil {
			// Not written: counted as dropped, and said loudly.
			o.log.Error("dead letter write failed, event dropped", "path", e.Source.Path, "offset", e.Offset, "err", err)
			policy = config.PermanentDrop
		}
	}
	o.rejectMu.Lock()
	if policy == config.PermanentDrop {
		o.dropped[reason]++
	} else {
		o.deadLetter[reason]++
	}
	o.rejectMu.Unlock()
	o.log.Warn("event rejected by kafka for good", "reason", reason, "policy", policy,
		"path", e.Source.Path, "offset", e.Offset, "err", cause)
	o.done(st)
}

// failed queues a message for re-sending. It never blocks: blocking here
// would stop sarama's result channels and so its input.
func (o *Output) failed(pe *sarama.ProducerError) {
	meta := pe.Msg.Metadata.(*msgMeta)
	if reason := permanentReason(pe.Err); reason != "" {
		o.reject(meta.batch, meta.event, reason, pe.Err)
		return
	}
	o.failLog.Log(o.log, slog.LevelWarn, "kafka delivery failed, retrying", "topic", pe.Msg.Topic, "err", pe.Err)
	o.failures.Add(1)
	if unreachable(pe.Err) {
		o.reachable.Store(false)
	}
	o.retryMu.Lock()
	o.retryQ = append(o.retryQ, pe.Msg)
	o.retryMu.Unlock()
	select {
	case o.retryAdd <- struct{}{}:
	default:
	}
}

// retryLoop re-sends failed messages after their backoff, until Close.
func (o *Output) retryLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	type due struct {
		at  time.Time
		msg *sarama.ProducerMessage
	}
	var waiting []due
	for {
		o.retryMu.Lock()
		for _, m := range o.retryQ {
			meta := m.Metadata.(*msgMeta)
			meta.attempts++
			waiting = append(waiting, due{time.Now().Add(o.retryBackoff(meta.attempts)), m})
		}
		clear(o.retryQ)
		o.retryQ = o.retryQ[:0]
		o.retryMu.Unlock()

		now, next := time.Now(), time.Time{}
		kept := waiting[:0]
		for _, d := range waiting {
			if d.at.After(now) {
				kept = append(kept, d)
				if next.IsZero() || d.at.Before(next) {
					next = d.at
				}
				continue
			}
			o.retries.Add(1)
			if !o.send(context.Background(), d.msg) {
				return // closed: the message stays unacknowledged
			}
		}
		waiting = kept
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-o.stop:
			return
		case <-o.retryAdd:
		case <-timer.C:
		}
	}
}

// retryBackoff is retry.backoff doubling per attempt, at most retry.max_backoff.
func (o *Output) retryBackoff(attempts int) time.Duration {
	return backoff.Delay(o.cfg.Retry.Backoff.D(), o.cfg.Retry.MaxBackoff.D(), attempts)
}

// send puts m on the producer's input unless the output is closing. It
// reports false when m was not sent.
func (o *Output) send(ctx context.Context, m *sarama.ProducerMessage) bool {
	o.sendMu.RLock()
	defer o.sendMu.RUnlock()
	if o.closed {
		return false
	}
	select { // the common case, without the cost of a three-way select
	case o.producer.Input() <- m:
		return true
	default:
	}
	select {
	case o.producer.Input() <- m:
		return true
	case <-o.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// Publish encodes b's events and sends them to Kafka; see spooler.Publisher.
// It blocks until connected. It must be called from one goroutine at a time.
func (o *Output) Publish(ctx context.Context, b *spooler.Batch) error {
	select {
	case <-o.ready:
	case <-o.stop:
		return errors.New("output closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select { // a batch slot: at most max_in_flight batches unacknowledged
	case o.slots <- struct{}{}:
	case <-o.stop:
		return errors.New("output closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	n := len(b.Events)
	st := statePool.Get().(*batchState)
	st.batch = b
	st.left.Store(int64(n))
	if cap(st.msgs) < n {
		st.msgs = make([]sarama.ProducerMessage, n)
		st.metas = make([]msgMeta, n)
	}
	st.msgs, st.metas = st.msgs[:n], st.metas[:n]
	size := 0
	for i := range b.Events {
		size += len(b.Events[i].Line)
	}
	if !o.enc.raw {
		size += n * (256 + len(o.enc.srcTail))
	}
	hpm := o.router.headerCount()
	if hpm > 0 {
		size += n * 24 // header values
		if cap(st.headers) < n*hpm {
			st.headers = make([]sarama.RecordHeader, 0, n*hpm)
		}
	}
	if cap(st.buf) < size {
		st.buf = make([]byte, 0, size)
	}
	buf, hs := st.buf[:0], st.headers[:0]
	maxValue := o.cfg.MaxMessageBytes - recordOverhead
	simple := o.router.simple()
	var rejected []rejection // in event order
	for i := range b.Events {
		e := &b.Events[i]
		start := len(buf)
		buf = o.enc.appendValue(buf, e)
		st.metas[i] = msgMeta{batch: st, event: e}
		if len(buf)-start > maxValue && e.Doc == nil && len(e.Line) <= maxValue {
			buf = o.fit(buf, start, e, maxValue)
		}
		m := &st.msgs[i]
		*m = sarama.ProducerMessage{Topic: o.cfg.Topic, Value: sarama.ByteEncoder(buf[start:len(buf):len(buf)]), Metadata: &st.metas[i]}
		if len(buf)-start > maxValue {
			buf = buf[:start]
			rejected = append(rejected, rejection{st, e, ReasonTooLarge, fmt.Errorf("event of %d bytes is over max_message_bytes (%d)", len(e.Line), o.cfg.MaxMessageBytes)})
			continue
		}
		if !simple {
			if err := o.router.route(m, e); err != nil {
				rejected = append(rejected, rejection{st, e, ReasonRouting, err})
				continue
			}
		}
		if hpm > 0 {
			h0 := len(hs)
			hs, buf = o.router.appendHeaders(hs, buf, e)
			m.Headers = hs[h0:len(hs):len(hs)]
		}
	}
	st.buf, st.headers = buf, hs
	o.inflight.Add(int64(n))
	next := 0
	for i := range st.msgs {
		if next < len(rejected) && rejected[next].e == &b.Events[i] {
			r := rejected[next]
			next++
			o.reject(r.st, r.e, r.reason, r.err)
			continue
		}
		if !o.send(ctx, &st.msgs[i]) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.New("output closed")
		}
		o.published.Add(1)
	}
	return nil
}

// fit cuts the line of an event whose value (from start in buf) is over
// maxValue though its line is not, so that it is shipped cut and flagged
// truncated, as a line over max_bytes is, rather than rejected: a line
// within max_bytes (at most max_message_bytes) can still grow past
// max_message_bytes when encoded (escapes, invalid UTF-8 made U+FFFD, the
// event's fields). An event whose line alone is too large follows
// on_permanent_error.
func (o *Output) fit(buf []byte, start int, e *event.Event, maxValue int) []byte {
	for range 8 { // cut in proportion to how the line grew: rarely a second pass
		size := len(buf) - start
		if size <= maxValue {
			break
		}
		// As much as fits if the rest of the event is what grew, or
		// the line's share if the line did; the next pass tells.
		keep := max(len(e.Line)-(size-maxValue), len(e.Line)*maxValue/size-8)
		for keep > 0 && !utf8.RuneStart(e.Line[keep]) {
			keep--
		}
		if keep <= 0 {
			break // the line is not what is too large
		}
		e.Line, e.Truncated = e.Line[:keep], true
		buf = o.enc.appendValue(buf[:start], e)
	}
	return buf
}

// Drain waits until every published event is acknowledged or ctx is done.
func (o *Output) Drain(ctx context.Context) error {
	for {
		if n := o.inflight.Load(); n == 0 {
			return nil
		}
		select {
		case <-o.idle:
		case <-ctx.Done():
			return fmt.Errorf("%d events not acknowledged: %w", o.inflight.Load(), ctx.Err())
		}
	}
}

// Close stops re-sending and closes the producer; Run returns once its result
// channels are drained. Events not yet acknowledged stay unacknowledged and
// are read again after a restart.
func (o *Output) Close() {
	o.stopOnce.Do(func() {
		close(o.stop) // releases senders waiting on the producer's input
		o.sendMu.Lock()
		defer o.sendMu.Unlock()
		o.closed = true
		if o.producer != nil {
			o.producer.AsyncClose()
		}
	})
}

// unreachable reports whether a delivery failed for want of a broker rather
// than for what was sent.
func unreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, sarama.ErrBrokerNotAvailable) || errors.Is(err, io.EOF) || errors.As(err, &ne)
}

// idempotenceRefused reports whether the broker turned down a producer ID:
// no IDEMPOTENT_WRITE permission, or no support for it.
func idempotenceRefused(err error) bool {
	return errors.Is(err, sarama.ErrClusterAuthorizationFailed) ||
		errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) ||
		errors.Is(err, sarama.ErrUnsupportedVersion)
}
