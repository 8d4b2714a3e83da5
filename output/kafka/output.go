package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
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
	// Transactions (exactly_once): committed, aborted, and whether this
	// output was fenced by another with its transactional id.
	TxnCommitted, TxnAborted int64
	Fenced                   bool
	// TxnFoundCommitted counts transactions whose commit had no known
	// outcome and that the positions read back showed committed.
	TxnFoundCommitted int64
}

// Output delivers batches to Kafka. Create it with New, run it with Run, hand
// it batches with Publish (from one goroutine), then Drain and Close it.
type Output struct {
	cfg    config.Kafka
	sc     *sarama.Config
	log    *slog.Logger
	enc    encoder
	router *router
	newPro func() (sarama.AsyncProducer, sarama.Client, error)
	// idemWhy says why idempotence is on or off, for the log.
	idemWhy string

	// ready is closed once producer is set; stop once Close is called.
	ready     chan struct{}
	stop      chan struct{}
	stopOnce  sync.Once
	producer  sarama.AsyncProducer
	client    sarama.Client // the producer's, for Abandon; guarded by sendMu
	abandoned atomic.Bool   // Abandon was called: sarama retries without waiting
	batches   atomic.Int64  // published and not yet done (see Drain)
	sendMu    sync.RWMutex  // held (read) while sending to the producer; Close takes it to close
	closed    bool          // guarded by sendMu

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

	// reachable is whether brokers answered the last probe or delivery,
	// and acknowledge what is in flight (see health.go).
	reachable                 atomic.Bool
	busySince                 atomic.Int64 // unix nanoseconds: inflight last rose from zero
	published, acked, retries atomic.Int64
	failures                  atomic.Int64
	lastDelivery              atomic.Int64 // unix nanoseconds
	failLog                   *ratelog.Logger
	deadLog                   *ratelog.Logger // dead letter writes that failed
	authLog                   *ratelog.Logger // deliveries refused for want of a topic ACL

	// exactly_once (see txn.go): batches wait in txnQ for txnLoop; cur is
	// the transaction whose results sarama returns.
	txnQ        chan *batchState
	cur         atomic.Pointer[txn]
	offsetsPart int32
	// txnSeq is the sequence number of the last transaction begun (see
	// offsetsRecord); only the transaction loop uses it.
	txnSeq uint64
	// tombs are the ids of files forgotten, to delete from offsets_topic
	// in the next transaction (see Forget).
	tombMu sync.Mutex
	tombs  []string
	// expect is how many files the local registry knows (see ExpectFiles).
	expect int
	// txnBegun is when the last transaction began (see fencedOrTimedOut).
	txnBegun                         time.Time
	restored                         Restored
	restoredC                        chan struct{}
	onCommit                         func(time.Duration)
	txnCommitted, txnAborted, fenced atomic.Int64
	txnResolved                      atomic.Int64
}

// failEvery is how often failed deliveries are logged during an outage;
// all are counted.
const failEvery = 10 * time.Second

// msgMeta travels in a ProducerMessage's Metadata.
type msgMeta struct {
	batch    *batchState
	event    *event.Event
	attempts int
	// partition is where the message went before it failed (-1: not yet
	// sent): a re-send goes there again; with pin, where it goes at once.
	partition int32
	pin       bool
	// rej is set when a transaction's event is rejected for good; settled
	// once its dead letter is written (exactly_once).
	rej     *rejection
	settled bool
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
	// partition is where the batch's keyless records go under the hash
	// strategy (see sticky); -1 until its first record is partitioned.
	partition atomic.Int32
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
		failLog: ratelog.New(failEvery), deadLog: ratelog.New(failEvery), authLog: ratelog.New(failEvery),
		txnQ: make(chan *batchState, cfg.MaxInFlight), restoredC: make(chan struct{}),
	}
	switch {
	case cfg.Idempotent != nil:
		o.idemWhy = "output.kafka.idempotent is set"
	case sc.Producer.Idempotent:
		o.idemWhy = "the default with required_acks: -1"
	default:
		o.idemWhy = "the default with required_acks other than -1"
	}
	if cfg.OnPermanentError == config.PermanentDeadLetter {
		o.dead = &deadLetter{path: cfg.DeadLetter.Path, maxSize: int64(cfg.DeadLetter.MaxSize)}
	}
	// sarama's retries wait retry.backoff each, until Abandon: then none,
	// so that a producer whose connections were closed gives up its
	// messages at once rather than after 100 waits.
	backoff := sc.Producer.Retry.Backoff
	sc.Producer.Retry.BackoffFunc = func(int, int) time.Duration {
		if o.abandoned.Load() {
			return 0
		}
		return backoff
	}
	o.newPro = func() (sarama.AsyncProducer, sarama.Client, error) {
		// Whatever version says: sarama told to speak 0.11+ to an older
		// broker encodes record batches for Produce v2 and panics.
		if err := checkBrokerVersion(cfg.Hosts, sc); err != nil {
			return nil, nil, err
		}
		p, cl, err := newProducer(cfg.Hosts, sc)
		if err != nil && cfg.Idempotent == nil && sc.Producer.Idempotent && !cfg.ExactlyOnce() && idempotenceRefused(err) {
			// On by default only where the broker allows it.
			o.log.Warn("kafka refused an idempotent producer; continuing without idempotence (re-sends after failures may duplicate)", "err", err)
			plain := *sc
			plain.Producer.Idempotent = false
			plain.Net.MaxOpenRequests = 5
			sc = &plain
			o.sc, o.idemWhy = sc, "refused by the broker"
			return newProducer(cfg.Hosts, sc)
		}
		return p, cl, err
	}
	return o, nil
}

// newProducer opens a client and a producer on it. sarama's
// NewAsyncProducer leaks its client (goroutines, connections) when the
// producer cannot start, as when the broker refuses a producer ID: here the
// client is closed then, and otherwise by the caller once the producer is.
func newProducer(hosts []string, sc *sarama.Config) (sarama.AsyncProducer, sarama.Client, error) {
	cl, err := sarama.NewClient(hosts, sc)
	if err != nil {
		return nil, nil, err
	}
	p, err := sarama.NewAsyncProducerFromClient(cl)
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return p, cl, nil
}

// Stats returns the output's counters; safe for concurrent use.
func (o *Output) Stats() Stats {
	st := Stats{
		Published: o.published.Load(), Acked: o.acked.Load(), Retries: o.retries.Load(), Failed: o.failures.Load(),
		Inflight: o.inflight.Load(), Dropped: map[string]int64{}, DeadLettered: map[string]int64{},
		TxnCommitted: o.txnCommitted.Load(), TxnAborted: o.txnAborted.Load(), Fenced: o.fenced.Load() > 0,
		TxnFoundCommitted: o.txnResolved.Load(),
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
	if o.cfg.ExactlyOnce() {
		return o.runTransactional(ctx)
	}
	p, cl, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close() // after the producer, which does not close it
	o.sendMu.Lock()
	o.producer, o.client = p, cl
	if o.closed { // Close came first: nothing will be sent
		p.AsyncClose()
	} else {
		close(o.ready)
	}
	o.sendMu.Unlock()
	o.reachable.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { o.retryLoop() })
	wg.Go(func() { o.probeLoop(nil) })
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

func (o *Output) connect(ctx context.Context) (sarama.AsyncProducer, sarama.Client, error) {
	for attempt := 1; ; attempt++ {
		wait := o.retryBackoff(attempt) // retry.backoff doubling to retry.max_backoff, as the README says
		p, cl, err := o.newPro()
		if err == nil {
			o.log.Info("connected to kafka", "hosts", o.cfg.Hosts, "topic", o.cfg.Topic,
				"idempotent", o.sc.Producer.Idempotent, "idempotent_because", o.idemWhy)
			return p, cl, nil
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
			return nil, nil, ctx.Err()
		case <-o.stop:
			return nil, nil, errors.New("output closed before connecting")
		case <-time.After(wait):
		}
	}
}

// drain reads both result channels until both are closed, each on its own
// goroutine: a receive per message rather than a select between the two.
func (o *Output) drain(p sarama.AsyncProducer) {
	var wg sync.WaitGroup
	if o.cfg.ExactlyOnce() {
		wg.Go(func() {
			for pe := range p.Errors() {
				o.txnResult(pe)
			}
		})
		for range p.Successes() {
			o.txnResult(nil)
		}
		wg.Wait()
		return
	}
	wg.Go(func() {
		for pe := range p.Errors() {
			o.failed(pe)
		}
	})
	for m := range p.Successes() {
		o.delivered(m)
	}
	wg.Wait()
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
	if n > 0 { // a batch of positions only says nothing of Kafka
		o.lastDelivery.Store(time.Now().UnixNano())
		o.setReachable(true, "kafka acknowledging again")
	}
	st.batch.Ack(n)
	clear(st.msgs) // drop references to values and metadata
	clear(st.metas)
	clear(st.headers[:cap(st.headers)])
	st.batch, st.buf = nil, st.buf[:0]
	statePool.Put(st)
	<-o.slots
	o.inflight.Add(-int64(n))
	if o.batches.Add(-1) == 0 {
		select {
		case o.idle <- struct{}{}:
		default:
		}
	}
}

// Drain waits until every published batch is acknowledged (its events
// delivered, its positions committed: a batch of positions only counts too)
// or ctx is done.
func (o *Output) Drain(ctx context.Context) error {
	for {
		if o.batches.Load() == 0 {
			return nil
		}
		select {
		case <-o.idle:
		case <-ctx.Done():
			return fmt.Errorf("%d events not acknowledged: %w", o.inflight.Load(), ctx.Err())
		}
	}
}

// Abandon closes the connections under a producer that Close did not close
// in time: sarama's close waits for its own retries however long the
// brokers are gone. Its remaining retries then fail at once, its messages
// come back as errors (they stay unacknowledged) and Run returns, so a stop
// or a reload never leaves a producer behind holding its batches in
// memory. Call it after Close; safe to call more than once.
func (o *Output) Abandon() {
	o.abandoned.Store(true)
	o.sendMu.RLock()
	cl := o.client
	o.sendMu.RUnlock()
	if cl != nil {
		_ = cl.Close() // ErrClosedClient when Run closed it already
	}
}

// Close stops re-sending and closes the producer; Run returns once its result
// channels are drained (see Abandon when they are not, in time). Events not
// yet acknowledged stay unacknowledged and are read again after a restart.
func (o *Output) Close() {
	o.stopOnce.Do(func() {
		close(o.stop) // releases senders waiting on the producer's input
		o.sendMu.Lock()
		defer o.sendMu.Unlock()
		o.closed = true
		// With exactly_once, runTransactional ends an open transaction
		// and closes the producer itself.
		if o.producer != nil && !o.cfg.ExactlyOnce() {
			o.producer.AsyncClose()
		}
	})
}
