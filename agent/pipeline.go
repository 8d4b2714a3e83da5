package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/monitor"
	"github.com/logship/logship/output/kafka"
	"github.com/logship/logship/processor"
	"github.com/logship/logship/processor/kubernetes"
	"github.com/logship/logship/prospector"
	"github.com/logship/logship/registry"
	"github.com/logship/logship/spooler"
)

// pipeline is one configuration at work: output, spooler, prospector and
// harvesters, and the pod watcher. A reload stops one and starts another;
// the registry, the embedded broker and the HTTP endpoint outlive them.
type pipeline struct {
	cfg  config.Config
	log  *slog.Logger
	out  *kafka.Output
	sp   *spooler.Spooler
	pr   *prospector.Prospector
	errc chan error // a stage failed

	stopOut, stopSp, stopPr context.CancelFunc
	outWG, spWG, prWG       sync.WaitGroup
	stopped                 bool
}

// startPipeline builds and starts the stages of cfg; reloaded says that it
// replaces another pipeline of this run. It returns an error, having started
// nothing, when they cannot be built.
func startPipeline(ctx context.Context, cfg config.Config, host string, reg *registry.Registry, mon *monitor.Monitor, reloaded bool, log *slog.Logger) (*pipeline, error) {
	k := cfg.Output.Kafka
	if k.TLS.Enabled && k.TLS.VerificationMode == "none" {
		log.Warn("output.kafka.tls.verification_mode is none: the broker's certificate is not checked")
	}
	out, err := kafka.New(k, host, log)
	if err != nil {
		return nil, err
	}
	out.OnCommit(mon.TransactionCommitted)
	out.ExpectFiles(len(reg.Entries()))
	if k.ExactlyOnce() {
		reg.OnRemove(out.Forget) // a forgotten file's record is deleted from offsets_topic too
	} else {
		reg.OnRemove(nil) // a reload from exactly_once
	}
	q := cfg.Queue
	sp := spooler.New(spooler.Config{
		MaxEvents: q.MaxEvents, MaxBytes: int(q.MaxBytes),
		BatchEvents: q.BatchEvents, FlushInterval: q.FlushInterval.D(),
	}, out, reg)
	pr, err := prospector.New(cfg.Inputs, sp.In(), reg, log)
	if err != nil {
		return nil, err
	}
	if reloaded {
		pr.Reloaded()
	}
	if k.Codec == config.CodecRaw {
		pr.KeepBytes()
	}
	pods, err := podWatcher(cfg.Inputs, log)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Inputs {
		opts := processor.Options{HostName: host, Log: log.With("component", "processor")}
		if pods != nil {
			opts.Pods = pods
		}
		pl, err := processor.New(&cfg.Inputs[i], opts)
		if err != nil {
			return nil, fmt.Errorf("inputs[%d]: %w", i, err)
		}
		if pl != nil {
			pr.UsePipeline(i, pl.Chain)
		}
	}

	p := &pipeline{cfg: cfg, log: log, out: out, sp: sp, pr: pr, errc: make(chan error, 4)}
	// Each stage gets a context it can be stopped by on its own, in order.
	outCtx, stopOut := context.WithCancel(context.WithoutCancel(ctx))
	spCtx, stopSp := context.WithCancel(context.WithoutCancel(ctx))
	prCtx, stopPr := context.WithCancel(context.WithoutCancel(ctx))
	p.stopOut, p.stopSp, p.stopPr = stopOut, stopSp, stopPr
	p.outWG.Go(func() {
		if err := out.Run(outCtx); err != nil && !errors.Is(err, context.Canceled) {
			p.errc <- fmt.Errorf("output: %w", err)
		}
	})
	p.spWG.Go(func() {
		if err := sp.Run(spCtx); err != nil && !errors.Is(err, context.Canceled) {
			p.errc <- fmt.Errorf("spooler: %w", err)
		}
	})
	if pods != nil {
		p.prWG.Go(func() {
			if err := pods.Run(prCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("pod metadata watch stopped; events carry what their paths tell", "err", err)
			}
		})
	}
	if k.ExactlyOnce() {
		// Files resume where Kafka's committed transactions say: none is
		// read before they are adopted, but every file found meanwhile
		// (Kafka may be down for long) is entered in the registry.
		adopted := make(chan struct{})
		pr.HoldUntil(adopted)
		p.prWG.Go(func() {
			select {
			case <-out.Restored():
			case <-prCtx.Done():
				return
			}
			adopt(reg, out.RestoredEntries(), log)
			close(adopted)
		})
	}
	p.prWG.Go(func() {
		if err := pr.Run(prCtx); err != nil {
			p.errc <- fmt.Errorf("prospector: %w", err)
		}
	})
	return p, nil
}

// adopt takes the positions exactly_once read back from Kafka into the
// registry: where they differ from the local file, Kafka wins, and the
// difference is logged once.
func adopt(reg *registry.Registry, restored kafka.Restored, log *slog.Logger) {
	entries := make([]registry.Entry, 0, len(restored))
	for _, e := range restored {
		entries = append(entries, e)
	}
	local := map[string]registry.Entry{}
	for _, e := range reg.Entries() {
		local[e.ID] = e
	}
	changed := reg.Adopt(entries)
	if len(changed) == 0 {
		log.Info("file positions read from kafka match the registry", "files", len(entries))
		return
	}
	var examples []string
	for _, id := range changed[:min(len(changed), 5)] {
		e, was := restored[id], local[id]
		examples = append(examples, fmt.Sprintf("%s: %d (registry %d)", e.Path, e.Offset, was.Offset))
	}
	log.Warn("the registry differs from kafka's committed positions; kafka's are used", "files", len(changed), "examples", examples)
}

// stop shuts the pipeline down in order: discovery and harvesters, then the
// spooler publishes what it holds and the output drains, both within
// shutdown_timeout. Offsets of everything delivered are then committed. It
// returns how many events read were left unacknowledged (they are read
// again after a restart).
func (p *pipeline) stop(ctx context.Context) (unacknowledged int) {
	if p.stopped {
		return 0
	}
	p.stopped = true
	// 1. Discovery and harvesters.
	p.stopPr()
	p.prWG.Wait()
	close(p.sp.In())
	// 2. The spooler publishes what it holds, 3. the output drains.
	timeout := p.cfg.ShutdownTimeout.D()
	if p.out.Stats().Fenced {
		timeout = 0 // another agent took the transactional id: nothing more can be delivered
	}
	if n := p.sp.Stats().QueuedEvents; n > 0 && timeout > 0 {
		p.log.Info("waiting for events to reach Kafka before stopping", "unacknowledged", n, "up_to", timeout.String(),
			"kafka_connected", p.out.Stats().Connected)
	}
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	spDone := make(chan struct{})
	go func() { p.spWG.Wait(); close(spDone) }()
	select {
	case <-spDone:
	case <-deadline.Done():
		p.stopSp()
		<-spDone
	}
	if err := p.out.Drain(deadline); err != nil {
		p.log.Warn("shutdown timeout: unacknowledged events will be read again", "err", err)
	}
	p.out.Close()
	p.stopOut()
	// sarama's close waits for its own retries, however long the brokers
	// are gone: past shutdown_timeout (and a moment for a producer that
	// closes at once), its connections are closed under it, so that its
	// retries end and it lets go of its batches; a reload during an outage
	// must not leave one producer behind per reload.
	outDone := make(chan struct{})
	go func() { p.outWG.Wait(); close(outDone) }()
	grace := time.NewTimer(time.Until(deadlineOf(deadline)) + closeGrace)
	defer grace.Stop()
	select {
	case <-outDone:
	case <-grace.C:
		p.log.Warn("kafka producer still closing after shutdown_timeout; closing its connections")
		p.out.Abandon()
		grace.Reset(abandonWait)
		select {
		case <-outDone:
		case <-grace.C:
			p.log.Error("kafka producer still running after its connections were closed; its memory is held until it stops", "waited", abandonWait)
		}
	}
	p.stopSp()
	return p.sp.Stats().QueuedEvents
}

// closeGrace is how long past shutdown_timeout a stop waits for the Kafka
// producer to close; abandonWait how long after that, once its connections
// are closed.
const (
	closeGrace  = time.Second
	abandonWait = 10 * time.Second
)

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// snapshot reads the stages' counters.
func (p *pipeline) snapshot() monitor.Snapshot {
	s, o := p.sp.Stats(), p.out.Stats()
	snap := monitor.Snapshot{
		EventsPublished: o.Published, EventsAcked: s.AckedEvents, BytesAcked: s.AckedBytes,
		EventsFailed: o.Failed, EventsRetried: o.Retries, EventsDropped: o.Dropped, DeadLettered: o.DeadLettered,
		QueueEvents: s.QueuedEvents, QueueBytes: s.QueuedBytes,
		QueueMaxEvents: p.cfg.Queue.MaxEvents, QueueMaxBytes: int(p.cfg.Queue.MaxBytes),
		BatchesInflight: s.InflightBatches, EventsInflight: o.Inflight, OpenFiles: p.pr.OpenFiles(),
		OldestUnacked: s.OldestUnacked, LastDelivery: o.LastDelivery, KafkaConnected: o.Connected,
		TxnCommitted: o.TxnCommitted, TxnAborted: o.TxnAborted, Fenced: o.Fenced,
	}
	for i, st := range p.pr.InputStats() {
		snap.Inputs = append(snap.Inputs, monitor.Input{
			ID:        monitor.InputID(p.cfg.Inputs[i].ID, i),
			LinesRead: st.Lines.Load(), BytesRead: st.Bytes.Load(),
			LinesTruncated: st.Truncated.Load(), BytesAbandoned: st.Abandoned.Load(), HarvesterPanics: st.Panics.Load(),
		})
	}
	var files []monitor.File
	for _, l := range p.pr.Lag() {
		files = append(files, monitor.File{Input: monitor.InputID(p.cfg.Inputs[l.Input].ID, l.Input), Path: l.Path, LagBytes: l.Bytes})
	}
	monitor.TopFiles(&snap, files, p.cfg.HTTP.TopFiles)
	return snap
}

// podWatcher returns the pod metadata watcher for add_kubernetes_metadata,
// or nil when no input enables it. One watch serves every input; the first
// enabled input's settings configure it.
func podWatcher(inputs []config.Input, log *slog.Logger) (*kubernetes.Watcher, error) {
	for i, in := range inputs {
		k := in.AddKubernetesMetadata
		if !k.Enabled {
			continue
		}
		node, err := kubernetes.Node(k)
		if err != nil {
			return nil, fmt.Errorf("inputs[%d]: %w", i, err)
		}
		lw, err := kubernetes.PodsOnNode(k.KubeConfig, node)
		if err != nil {
			return nil, fmt.Errorf("inputs[%d].add_kubernetes_metadata: %w", i, err)
		}
		return kubernetes.New(lw, k, log.With("node", node)), nil
	}
	return nil, nil
}
