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
	"github.com/logship/logship/registry"
)

// Exactly once (delivery: exactly_once). Batches are committed in Kafka
// transactions: one transaction holds the records of the batches waiting
// (up to transaction_max_events) and, on offsets_topic, one record per file
// they advance, its key the transactional id and the file's identity, its
// value the registry entry the file reaches and the transaction's sequence
// number (see offsetsRecord). A transaction that fails is
// aborted and its batches sent again in a new one; only a committed one
// acknowledges its batches (and so moves the local registry). On start, and
// after a fatal producer error, the producer is initialised (which fences an
// older instance with the same transactional id and ends its open
// transaction) and the positions are read back from offsets_topic with
// read_committed: Kafka is the source of truth.
//
//	Publish ─▶ txnQ ─▶ txnLoop: Begin ─ records ─ offset records ─ Commit ─▶ Ack
//	                                        (Abort and again on failure)

// txn is one transaction's bookkeeping: how many results sarama must
// return for it, and the errors among them.
type txn struct {
	want int
	got  atomic.Int64
	done chan struct{} // closed when got reaches want

	mu   sync.Mutex
	errs []*sarama.ProducerError
}

// result counts one of the transaction's records returned by sarama.
func (t *txn) result(pe *sarama.ProducerError) {
	if pe != nil {
		t.mu.Lock()
		t.errs = append(t.errs, pe)
		t.mu.Unlock()
	}
	if int(t.got.Add(1)) == t.want {
		close(t.done)
	}
}

// ErrFenced is the error of an output whose transactional id another
// producer has taken over.
var ErrFenced = errors.New("fenced")

// Restored is what a start read back from offsets_topic: each file's
// committed entry, by its id.
type Restored map[string]registry.Entry

// Restored is closed once the positions were read from Kafka at start
// (exactly_once only); the prospector waits for them. RestoredEntries
// then returns them.
func (o *Output) Restored() <-chan struct{} { return o.restoredC }

// RestoredEntries is what the start read back from offsets_topic.
func (o *Output) RestoredEntries() Restored { return o.restored }

// ExpectFiles, called before Run, tells how many files the local registry
// knows. A start that finds none of this agent's records in its partition
// of offsets_topic although the registry knows files looks for them in the
// other partitions (the topic's partition count changed).
func (o *Output) ExpectFiles(n int) { o.expect = n }

// OnCommit, when set before Run, is told each committed transaction's
// commit latency.
func (o *Output) OnCommit(f func(time.Duration)) { o.onCommit = f }

// runTransactional is Run for exactly_once: connect and restore, then
// commit the batches Publish queues, until Close. A fatal producer error
// (not a fencing) makes it connect and restore again, and carry on with
// the transaction it was in.
func (o *Output) runTransactional(ctx context.Context) error {
	var pending []*batchState // a group that was not committed when its producer failed
	var pendingSeq uint64     // the sequence number of its last attempt
	first := true
	for {
		p, cl, restored, seq, err := o.connectAndRestore(ctx)
		if err != nil {
			return err
		}
		// Sequence numbers only grow, across producers and restarts.
		o.txnSeq = max(o.txnSeq, seq)
		if first {
			o.restored = restored
			close(o.restoredC)
			first = false
			// Health as at_least_once has it, once connected: a broker
			// that stops answering while a transaction waits is
			// reported within seconds, not when sarama gives up.
			probeDone := make(chan struct{})
			var probes sync.WaitGroup
			probes.Go(func() { o.probeLoop(probeDone) })
			defer func() {
				close(probeDone)
				probes.Wait()
			}()
		}
		o.sendMu.Lock()
		closed := o.closed
		if !closed { // else Close came first: p is closed below
			o.producer, o.client = p, cl
			select {
			case <-o.ready:
			default:
				close(o.ready)
			}
		}
		o.sendMu.Unlock()
		o.reachable.Store(true)
		var wg sync.WaitGroup
		wg.Go(func() { o.drain(p) })
		var loopErr error
		if !closed {
			if len(pending) > 0 && committed(pendingSeq, seq) {
				o.log.Info("the transaction in progress at the producer's failure was committed; not sent again", "txn_seq", pendingSeq)
				o.txnResolved.Add(1)
				o.ackGroup(pending)
				pending = nil
			}
			pending, loopErr = o.txnLoop(p, pending)
			pendingSeq = o.txnSeq
		}
		o.sendMu.Lock()
		o.producer = nil
		o.sendMu.Unlock()
		if p.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 {
			// Stopped within a transaction: end it now rather than leave
			// read_committed consumers waiting for its timeout. (The stop
			// does not wait for this past shutdown_timeout.)
			if err := p.AbortTxn(); err != nil {
				o.log.Warn("the open transaction could not be aborted; the broker ends it at its timeout", "err", err)
			}
		}
		p.AsyncClose()
		wg.Wait()
		cl.Close()
		switch {
		case loopErr == nil: // closed
			if o.dead != nil {
				if err := o.dead.close(); err != nil {
					o.log.Error("dead letter file close failed", "path", o.cfg.DeadLetter.Path, "err", err)
				}
			}
			return nil
		case errors.Is(loopErr, ErrFenced):
			o.fenced.Add(1)
			return loopErr
		}
		o.log.Error("kafka transactional producer failed; starting a new one", "transactional_id", o.cfg.TransactionalID, "err", loopErr)
		select {
		case <-o.stop:
			return nil
		default:
		}
	}
}

// txnLoop commits the queued batches, a group per transaction, until Close
// (nil) or a fatal error (the group then pending, to go again on a new
// producer).
func (o *Output) txnLoop(p sarama.AsyncProducer, pending []*batchState) ([]*batchState, error) {
	for {
		group := pending
		pending = nil
		if len(group) == 0 {
			select {
			case st := <-o.txnQ:
				group = append(group, st)
			case <-o.stop:
				return nil, nil
			}
		}
		events := 0
		for _, st := range group {
			events += len(st.msgs)
		}
	more:
		for events < o.cfg.TransactionMaxEvents {
			select {
			case st := <-o.txnQ:
				group = append(group, st)
				events += len(st.msgs)
			default:
				break more
			}
		}
		if err := o.commitGroup(p, group); err != nil {
			return group, err
		}
	}
}

// commitGroup commits group in one transaction, aborting and trying again
// on errors that allow it. It returns the fatal errors.
func (o *Output) commitGroup(p sarama.AsyncProducer, group []*batchState) error {
	for attempt := 1; ; attempt++ {
		errs, err := o.oneTxn(p, group)
		if err == nil {
			o.ackGroup(group)
			o.setReachable(true, "kafka committing transactions again")
			return nil
		}
		if isFenced(err) || p.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
			if isFenced(err) {
				return o.fencedOrTimedOut(err)
			}
			return err
		}
		if lost := producerStateLost(err, errs); lost != nil {
			// The broker no longer knows this producer's sequence (it
			// lost its state, a restart on its data): aborting would
			// only fail again. A new producer starts afresh.
			_ = p.AbortTxn()
			return fmt.Errorf("the broker lost this producer's state: %w", lost)
		}
		if aerr := p.AbortTxn(); aerr != nil {
			if isFenced(aerr) {
				return o.fencedOrTimedOut(aerr)
			}
			return fmt.Errorf("abort after %v: %w", err, aerr)
		}
		o.txnAborted.Add(1)
		o.failures.Add(1)
		// A record the broker refuses for good is settled by the policy
		// in the next attempt; the rest go again.
		for _, pe := range errs {
			meta, ok := pe.Msg.Metadata.(*msgMeta)
			if !ok || meta.event == nil {
				continue
			}
			if reason := permanentReason(pe.Err); reason != "" && meta.rej == nil {
				meta.rej = &rejection{meta.batch, meta.event, reason, pe.Err}
			}
		}
		if unreachable(err) {
			o.setReachable(false, "kafka unreachable: transactions fail", "err", err)
		}
		for _, pe := range errs {
			if o.notAuthorized(pe.Msg.Topic, pe.Err) {
				break
			}
		}
		wait := o.retryBackoff(attempt)
		o.failLog.Log(o.log, slog.LevelWarn, "kafka transaction failed; aborted, sending its batches again", "err", err, "retry_in", wait)
		select {
		case <-o.stop:
			return nil
		case <-time.After(wait):
		}
	}
}

// oneTxn runs one transaction of group: its records, the offset records,
// the dead letters of its rejected events (durable before the commit that
// moves their offsets), the commit. It returns the records' errors too.
func (o *Output) oneTxn(p sarama.AsyncProducer, group []*batchState) ([]*sarama.ProducerError, error) {
	// Numbered before anything can fail: a group whose last attempt
	// failed at its start must not carry the number of a transaction
	// committed before it.
	o.txnSeq++
	o.txnBegun = time.Now()
	if err := p.BeginTxn(); err != nil {
		return nil, err
	}
	offsets, tombs := o.offsetRecords(group, o.txnSeq)
	t := &txn{done: make(chan struct{})}
	for _, st := range group {
		for i := range st.metas {
			if st.metas[i].rej == nil {
				t.want++
			}
		}
	}
	t.want += len(offsets)
	o.cur.Store(t)
	if t.want == 0 {
		close(t.done)
	}
	// Dead letters first: a write that fails returns before any record
	// went to sarama, so none of this attempt's records is still in
	// sarama's hands when the next attempt sends them again.
	for _, st := range group {
		for i := range st.metas {
			meta := &st.metas[i]
			if meta.rej != nil && !meta.settled {
				if err := o.settle(meta.rej); err != nil {
					return nil, fmt.Errorf("dead letter: %w", err) // aborted, and the group tried again
				}
				meta.settled = true
			}
		}
	}
	for _, st := range group {
		for i := range st.msgs {
			meta := &st.metas[i]
			if meta.rej != nil {
				continue
			}
			meta.attempts++
			if !o.send(context.Background(), &st.msgs[i]) {
				return nil, errors.New("output closed")
			}
		}
	}
	for _, m := range offsets {
		if !o.send(context.Background(), m) {
			return nil, errors.New("output closed")
		}
	}
	start := time.Now()
	err := p.CommitTxn()
	select {
	case <-t.done:
	case <-o.stop:
		return nil, errors.New("output closed")
	}
	if err == nil {
		o.dropTombs(tombs)
		o.txnCommitted.Add(1)
		if o.onCommit != nil {
			o.onCommit(time.Since(start))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errs, err
}

// ackGroup acknowledges a committed group's batches.
func (o *Output) ackGroup(group []*batchState) {
	for _, st := range group {
		st.left.Store(1)
		o.done(st)
	}
}

// txnResult is delivered and failed for exactly_once: a result counts
// for the transaction in progress.
func (o *Output) txnResult(pe *sarama.ProducerError) {
	if t := o.cur.Load(); t != nil {
		t.result(pe)
	}
}

// settle writes a rejected event's dead letter (or drops it, with
// on_permanent_error: drop), counting and logging it; in a transaction,
// before the commit that moves its offset. A dead letter that cannot be
// written (a full disk) is an error and settles nothing: the event is
// neither in Kafka nor on disk, so its offset must not move; the caller
// tries again.
func (o *Output) settle(r *rejection) error {
	policy := config.PermanentDrop
	if o.dead != nil {
		policy = config.PermanentDeadLetter
		if err := o.dead.write(r.e, o.cfg.Topic, r.reason, r.err); err != nil {
			o.deadLog.Log(o.log, slog.LevelError, "dead letter write failed; the event waits, its file's offset does not move past it, and the write is tried again",
				"dead_letter", o.cfg.DeadLetter.Path, "path", r.e.Source.Path, "offset", r.e.Offset, "err", err)
			return err
		}
	}
	o.rejectMu.Lock()
	if policy == config.PermanentDrop {
		o.dropped[r.reason]++
	} else {
		o.deadLetter[r.reason]++
	}
	o.rejectMu.Unlock()
	o.log.Warn("event rejected by kafka for good", "reason", r.reason, "policy", policy,
		"path", r.e.Source.Path, "offset", r.e.Offset, "err", r.err)
	return nil
}

// producerStateLost finds, among a transaction's errors, one that says the
// broker lost the producer's sequence state.
func producerStateLost(err error, errs []*sarama.ProducerError) error {
	lost := func(e error) bool {
		return errors.Is(e, sarama.ErrOutOfOrderSequenceNumber) || errors.Is(e, sarama.ErrUnknownProducerID)
	}
	if lost(err) {
		return err
	}
	for _, pe := range errs {
		if lost(pe.Err) {
			return pe.Err
		}
	}
	return nil
}

func isFenced(err error) bool {
	return errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch)
}

// fencedOrTimedOut is the error of a transaction the broker refused with
// a newer producer epoch. Kafka answers alike when another producer took
// the transactional id over and when the coordinator aborted the
// transaction at its timeout (bumping the epoch): a transaction open
// shorter than transaction_timeout cannot have timed out, so that is
// fencing; a longer one is taken for a timeout, which a new producer
// recovers from (if it was fencing after all, the new producer fences the
// other agent in turn, and no line goes twice either way).
func (o *Output) fencedOrTimedOut(err error) error {
	if open := time.Since(o.txnBegun); open >= o.cfg.TransactionTimeout.D() {
		return fmt.Errorf("the transaction was open %s, longer than transaction_timeout (%s), and the broker aborted it: %w",
			open.Round(time.Millisecond), o.cfg.TransactionTimeout.D(), err)
	}
	return o.fencedError(err)
}

func (o *Output) fencedError(err error) error {
	return fmt.Errorf("%w: another producer took over transactional_id %q (a second logship with the same id?); this one stops shipping: %v",
		ErrFenced, o.cfg.TransactionalID, err)
}
