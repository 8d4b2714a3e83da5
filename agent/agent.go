// Package agent wires logship's stages together and owns their lifecycle.
//
//	prospector ─▶ harvesters ─▶ spooler ─▶ output/kafka ─▶ Kafka
//	                               ▲             │
//	                  registry ◀── acker ◀───────┘
//
// Start order: registry (locked, loaded), embedded broker (if configured),
// HTTP endpoint, then a pipeline: output, spooler, prospector. Shutdown
// order, on ctx cancellation: stop discovery and harvesters → the spooler
// publishes what it holds → the output drains (bounded by shutdown_timeout)
// → the registry writes its last state. A reload (SIGHUP, POST /reload)
// validates the new file, stops the pipeline in that same order, and starts
// one on the new configuration; the registry, broker and endpoint stay.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logship/logship/config"
	"github.com/logship/logship/embedded"
	"github.com/logship/logship/monitor"
	"github.com/logship/logship/output/kafka"
	"github.com/logship/logship/registry"
)

// Options are the agent's ties to its process.
type Options struct {
	// Load reads the configuration again, for a reload; nil: no reloads.
	Load func() (config.Config, error)
	// Reload asks for a reload (SIGHUP).
	Reload <-chan struct{}
	// Notify tells the service manager the agent's state: "READY=1",
	// "RELOADING=1", "STOPPING=1", "WATCHDOG=1" (systemd's sd_notify).
	Notify func(state string)
	// Watchdog is how often WATCHDOG=1 must be sent; 0: never.
	Watchdog time.Duration
	// Version is the build's version, for logship_build_info.
	Version string
}

// reloadRequest is a POST /reload waiting for its answer.
type reloadRequest struct{ reply chan error }

// Run runs the agent until ctx is done, then shuts down in order. It returns
// nil after a clean shutdown, or the error that stopped it.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) error {
	notify := opts.Notify
	if notify == nil {
		notify = func(string) {}
	}
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
	if err := reg.Create(); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	mon := monitor.New(opts.Version, cfg.HTTP.ReadyWindow.D(), cfg.HTTP.TopFiles)
	expect(mon, cfg)
	reg.OnWrite = mon.RegistryWritten
	regCtx, stopReg := context.WithCancel(context.WithoutCancel(ctx))
	regDone := make(chan struct{})
	go func() { _ = reg.Run(regCtx); close(regDone) }()
	defer func() { stopReg(); <-regDone }()

	k := cfg.Output.Kafka
	if k.Embedded {
		cluster, err := embedded.Start(k.Hosts[0], k.EmbeddedPartitions, kfake.SeedTopics(int32(k.EmbeddedPartitions), k.Topic))
		if err != nil {
			return err
		}
		defer cluster.Close()
		log.Info("embedded kafka broker started; read it with kcat -C -b "+k.Hosts[0]+" -t "+k.Topic,
			"addr", k.Hosts[0], "topic", k.Topic)
	}

	reloads := make(chan reloadRequest)
	if cfg.HTTP.Enabled {
		var reload func(context.Context) error
		if opts.Load != nil {
			reload = func(rctx context.Context) error {
				req := reloadRequest{reply: make(chan error, 1)}
				select {
				case reloads <- req:
				case <-rctx.Done():
					return rctx.Err()
				}
				select {
				case err := <-req.reply:
					return err
				case <-rctx.Done():
					return rctx.Err()
				}
			}
		}
		stop, err := serveHTTP(ctx, cfg.HTTP, mon, reload, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	p, err := startPipeline(ctx, cfg, host, reg, mon, false, log)
	if err != nil {
		return err
	}
	mon.Attach(p.snapshot)
	log.Info("logship started", "inputs", len(cfg.Inputs), "registry", cfg.Registry.Path, "kafka", k.Hosts, "topic", k.Topic)
	notify("READY=1")

	prog := &progress{peak: func() int { return p.pr.OpenFilesPeak() }}
	tick := time.NewTicker(cfg.Logging.Metrics.Period.D())
	defer tick.Stop()
	var watchdog <-chan time.Time
	if opts.Watchdog > 0 {
		t := time.NewTicker(opts.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	reload := func(reply chan error) {
		next, err := p.reload(ctx, opts.Load, host, reg, mon, notify)
		if next != nil {
			p, cfg = next, next.cfg
			tick.Reset(cfg.Logging.Metrics.Period.D())
		}
		if reply != nil {
			reply <- err
		}
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case runErr = <-p.errc:
			log.Error("stopping after a failure", "err", runErr)
			break loop
		case <-tick.C:
			log.Info("progress", prog.attrs(mon.Snapshot())...)
		case <-opts.Reload:
			reload(nil)
		case req := <-reloads:
			reload(req.reply)
		case <-watchdog:
			notify("WATCHDOG=1")
		}
		if p.stopped { // a reload stopped it and could start nothing
			runErr = errors.New("no configuration could be started after a reload")
			break loop
		}
	}
	notify("STOPPING=1")
	connected := mon.Snapshot().KafkaConnected // as it was while running: a stopped output is not connected
	left := p.stop(ctx)
	mon.Detach()
	// The registry's last state.
	stopReg()
	<-regDone
	if err := reg.Flush(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("final registry write: %w", err))
	}
	// unacknowledged: events read and not delivered, to be read again at
	// the next start; 0 after a clean stop. The counters are the run's
	// totals (a fresh progress has seen nothing), not what moved since the
	// last progress line.
	final := mon.Snapshot()
	final.KafkaConnected = connected
	attrs := append([]any{"unacknowledged", left}, (&progress{peak: prog.peak}).attrs(final)...)
	if left == 0 {
		log.Info("logship stopped", attrs...)
		return runErr
	}
	log.Warn("logship stopped", attrs...)
	return errors.Join(runErr, &Unacknowledged{Events: left})
}

// Unacknowledged is the error of a stop that left events Kafka had not
// acknowledged: nothing is lost (their offsets were not committed, so the
// next start reads them again), but the stop was not clean.
type Unacknowledged struct{ Events int }

func (e *Unacknowledged) Error() string {
	return fmt.Sprintf("stopped with %d events unacknowledged by Kafka; they are read again at the next start", e.Events)
}

// reload reads the configuration again and, if it is valid and can be
// applied, stops p and starts a pipeline on it. It returns the pipeline now
// running (nil: p still runs) and why a new configuration was refused.
func (p *pipeline) reload(ctx context.Context, load func() (config.Config, error), host string,
	reg *registry.Registry, mon *monitor.Monitor, notify func(string)) (*pipeline, error) {
	log, cfg := p.log, p.cfg
	if load == nil {
		return nil, errors.New("reload is not available")
	}
	next, err := load()
	if err == nil {
		err = reloadable(cfg, next)
	}
	if err == nil {
		err = Check("the new configuration", next)
	}
	if err != nil {
		log.Error("reload refused; the running configuration stays", "err", err)
		mon.Reloaded(err)
		return nil, err
	}
	notify("RELOADING=1")
	log.Info("reloading: draining the running configuration")
	p.stop(ctx)
	mon.Detach()
	if err := reg.Flush(); err != nil {
		log.Warn("registry write before reload", "err", err)
	}
	np, err := startPipeline(ctx, next, host, reg, mon, true, log)
	if err != nil {
		// Valid but not buildable (a bad format string...): back to the old one.
		log.Error("reload failed; restarting the previous configuration", "err", err)
		mon.Reloaded(err)
		back, err2 := startPipeline(ctx, cfg, host, reg, mon, true, log)
		if err2 != nil {
			return nil, fmt.Errorf("restart previous configuration: %w", err2)
		}
		mon.Attach(back.snapshot)
		notify("READY=1")
		return back, err
	}
	expect(mon, next)
	mon.Attach(np.snapshot)
	mon.Reloaded(nil)
	notify("READY=1")
	log.Info("reloaded", "inputs", len(next.Inputs), "kafka", next.Output.Kafka.Hosts, "topic", next.Output.Kafka.Topic)
	return np, nil
}

// reloadable refuses changes a reload cannot apply: they need a restart.
func reloadable(old, next config.Config) error {
	switch {
	case old.Registry.Path != next.Registry.Path:
		return errors.New("registry.path cannot change without a restart")
	case old.Output.Kafka.Embedded != next.Output.Kafka.Embedded ||
		old.Output.Kafka.Embedded && !reflect.DeepEqual(old.Output.Kafka.Hosts, next.Output.Kafka.Hosts):
		return errors.New("output.kafka.embedded (and its hosts) cannot change without a restart")
	case old.HTTP != next.HTTP:
		return errors.New("http cannot change without a restart")
	}
	return nil
}

// serveHTTP opens http.listen (and http.control_listen) and serves the
// monitoring endpoints, and the control requests where they may be
// served; stop shuts the servers down.
func serveHTTP(ctx context.Context, c config.HTTP, mon *monitor.Monitor, reload func(context.Context) error, log *slog.Logger) (stop func(), err error) {
	control := monitor.Control(reload, c.PProf, string(c.ControlToken))
	type server struct {
		key string
		l   net.Listener
		h   http.Handler
	}
	var servers []server
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	switch {
	case c.ControlListen != "":
		cl, err := net.Listen("tcp", c.ControlListen)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("http.control_listen: %w", err)
		}
		servers = append(servers, server{"http.listen", l, mon.Handler(nil)}, server{"http.control_listen", cl, control})
	case monitor.Loopback(c.Listen) || c.ControlToken != "":
		servers = append(servers, server{"http.listen", l, mon.Handler(control)})
	default:
		servers = append(servers, server{"http.listen", l, mon.Handler(nil)})
		log.Info("control requests (POST /reload, /debug/pprof/) are refused on http.listen: it is not a loopback address; "+
			"set http.control_listen (e.g. 127.0.0.1:5067) or http.control_token to serve them", "addr", l.Addr().String())
	}
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := monitor.Serve(httpCtx, s.l, s.h, log); err != nil {
				log.Error("http endpoint stopped", "key", s.key, "err", err)
			}
		})
		log.Info("http endpoint listening", "key", s.key, "addr", s.l.Addr().String())
	}
	return func() { stopHTTP(); wg.Wait() }, nil
}

// expect tells the monitor the series cfg makes, exported at 0 from the
// start: its inputs and the reasons Kafka can reject an event for good.
func expect(mon *monitor.Monitor, cfg config.Config) {
	ids := make([]string, len(cfg.Inputs))
	for i, in := range cfg.Inputs {
		ids[i] = monitor.InputID(in.ID, i)
	}
	mon.Expect(ids, kafka.Reasons)
}
