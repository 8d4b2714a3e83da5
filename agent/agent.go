// Package agent wires logship's stages together and owns their lifecycle.
//
//	prospector ─▶ harvesters ─▶ spooler ─▶ output/kafka ─▶ Kafka
//	                               ▲             │
//	                  registry ◀── acker ◀───────┘
//
// Start order: registry (load), embedded broker (if configured), output,
// spooler, prospector. Shutdown order, on ctx cancellation: stop discovery and
// harvesters → the spooler publishes what it holds → the output drains
// (bounded by shutdown_timeout) → the registry writes its last state.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logship/logship/config"
	"github.com/logship/logship/harvester"
	"github.com/logship/logship/output/kafka"
	"github.com/logship/logship/processor"
	"github.com/logship/logship/processor/kubernetes"
	"github.com/logship/logship/prospector"
	"github.com/logship/logship/registry"
	"github.com/logship/logship/spooler"
)

// Run runs the agent until ctx is done, then shuts down in order. It returns
// nil after a clean shutdown, or the error that stopped it.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	host := cfg.Name
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		host = h
	}
	lock, err := registry.Lock(cfg.Registry.Path)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	reg, err := registry.Open(cfg.Registry.Path, cfg.Registry.FlushInterval.D(), log.With("component", "registry"))
	if err != nil {
		return err
	}
	k := cfg.Output.Kafka
	if k.Embedded {
		cluster, err := kafka.StartEmbedded(k.Hosts[0], k.EmbeddedPartitions, kfake.SeedTopics(int32(k.EmbeddedPartitions), k.Topic))
		if err != nil {
			return err
		}
		defer cluster.Close()
		log.Info("embedded kafka broker started; read it with kcat -C -b "+k.Hosts[0]+" -t "+k.Topic,
			"addr", k.Hosts[0], "topic", k.Topic)
	}
	if k.TLS.Enabled && k.TLS.VerificationMode == "none" {
		log.Warn("output.kafka.tls.verification_mode is none: the broker's certificate is not checked")
	}
	out, err := kafka.New(k, host, log)
	if err != nil {
		return err
	}
	q := cfg.Queue
	sp := spooler.New(spooler.Config{
		MaxEvents: q.MaxEvents, MaxBytes: int(q.MaxBytes),
		BatchEvents: q.BatchEvents, FlushInterval: q.FlushInterval.D(),
	}, out, reg)
	stats := new(harvester.Stats)
	pr, err := prospector.New(cfg.Inputs, sp.In(), reg, stats, log)
	if err != nil {
		return err
	}
	pods, err := podWatcher(cfg.Inputs, log)
	if err != nil {
		return err
	}
	for i := range cfg.Inputs {
		opts := processor.Options{HostName: host, Log: log.With("component", "processor")}
		if pods != nil {
			opts.Pods = pods
		}
		pl, err := processor.New(&cfg.Inputs[i], opts)
		if err != nil {
			return fmt.Errorf("inputs[%d]: %w", i, err)
		}
		if pl != nil {
			pr.UsePipeline(i, pl.Chain)
		}
	}

	// Each stage gets a context it can be stopped by on its own, in order.
	outCtx, stopOut := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOut()
	spCtx, stopSp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSp()
	regCtx, stopReg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReg()
	prCtx, stopPr := context.WithCancel(ctx)
	defer stopPr()
	var podsWG sync.WaitGroup
	if pods != nil {
		podsWG.Go(func() { _ = pods.Run(prCtx) })
		defer podsWG.Wait()
	}

	var outWG, spWG, regWG, prWG sync.WaitGroup
	errc := make(chan error, 4)
	outWG.Go(func() {
		if err := out.Run(outCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("output: %w", err)
		}
	})
	spWG.Go(func() {
		if err := sp.Run(spCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("spooler: %w", err)
		}
	})
	regWG.Go(func() { _ = reg.Run(regCtx) })
	prWG.Go(func() {
		if err := pr.Run(prCtx); err != nil {
			errc <- fmt.Errorf("prospector: %w", err)
		}
	})
	log.Info("logship started", "inputs", len(cfg.Inputs), "registry", cfg.Registry.Path, "kafka", k.Hosts, "topic", k.Topic)

	p := progress{log: log, stats: stats, sp: sp, out: out, pr: pr}
	tick := time.NewTicker(cfg.Logging.Metrics.Period.D())
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case runErr = <-errc:
			log.Error("stopping after a failure", "err", runErr)
			break loop
		case <-tick.C:
			p.log.Info("progress", p.attrs()...)
		}
	}
	tick.Stop()

	// 1. Discovery and harvesters.
	stopPr()
	prWG.Wait()
	close(sp.In())
	// 2. The spooler publishes what it holds, 3. the output drains; both
	// within shutdown_timeout.
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout.D())
	defer cancel()
	spDone := make(chan struct{})
	go func() { spWG.Wait(); close(spDone) }()
	select {
	case <-spDone:
	case <-deadline.Done():
		stopSp()
		<-spDone
	}
	if err := out.Drain(deadline); err != nil {
		log.Warn("shutdown timeout: unacknowledged events will be read again at the next start", "err", err)
	}
	out.Close()
	stopOut()
	outWG.Wait()
	// 4. The registry's last state.
	stopReg()
	regWG.Wait()
	if err := reg.Flush(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("final registry write: %w", err))
	}
	log.Info("logship stopped", p.attrs()...)
	return runErr
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

// progress makes the periodic progress line.
type progress struct {
	log   *slog.Logger
	stats *harvester.Stats
	sp    *spooler.Spooler
	out   *kafka.Output
	pr    *prospector.Prospector
}

func (p progress) attrs() []any {
	s, o := p.sp.Stats(), p.out.Stats()
	var oldest time.Duration
	if !s.OldestUnacked.IsZero() {
		oldest = time.Since(s.OldestUnacked).Round(time.Millisecond)
	}
	var dropped, deadLettered int64
	for _, n := range o.Dropped {
		dropped += n
	}
	for _, n := range o.DeadLettered {
		deadLettered += n
	}
	return []any{
		"lines_read", p.stats.Lines.Load(), "bytes_read", p.stats.Bytes.Load(),
		"lines_truncated", p.stats.Truncated.Load(),
		"events_acked", s.AckedEvents, "bytes_acked", s.AckedBytes,
		"events_queued", s.QueuedEvents, "events_inflight", o.Inflight,
		"retries", o.Retries, "open_files", p.pr.OpenFiles(), "open_files_peak", p.pr.OpenFilesPeak(), "kafka_connected", o.Connected,
		"lines_abandoned_bytes", p.stats.Abandoned.Load(), "goroutines", runtime.NumGoroutine(),
		"events_dropped", dropped, "events_dead_lettered", deadLettered,
		"oldest_unacked_age", oldest, "last_delivery", o.LastDelivery.Format(time.RFC3339),
	}
}
