package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/logship/logship/agent"
	"github.com/logship/logship/config"
)

// runAgent runs the agent as a service: SIGHUP reloads the configuration
// file, and under systemd (Type=notify) readiness, reloads, stopping and
// the watchdog are reported with sd_notify. Outside systemd the
// notifications are no-ops.
func runAgent(ctx context.Context, cfg config.Config, path string, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the configuration", "path", path)
				select {
				case reload <- struct{}{}:
				default: // one is pending already
				}
			case <-done:
				return
			}
		}
	}()
	watchdog, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog setting unreadable", "err", err)
	}
	return agent.Run(ctx, cfg, log, agent.Options{
		Load:   func() (config.Config, error) { return config.Load(path) },
		Reload: reload,
		Notify: func(state string) {
			if state == daemon.SdNotifyReloading {
				// With the monotonic time, as Type=notify-reload wants it.
				state += "\n" + daemon.SdNotifyMonotonicUsec()
			}
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Debug("sd_notify", "state", state, "err", err)
			}
		},
		Watchdog: watchdog,
		Version:  version(),
	})
}
