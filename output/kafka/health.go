package kafka

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/IBM/sarama"
)

// Health: Stats.Connected follows the brokers. Delivery results set it;
// while events are in flight and none is acknowledged for longer than a
// broker may take (broker_timeout, and a little), the brokers are taken for
// gone (a hung broker answers no request and fails none: without this it
// looked connected until sarama gave up, minutes later); an idle output
// probes a broker now and then. Each change is logged once.

// probeInterval is how often an idle output checks that a broker answers.
// While events flow, their results say it and no probe is made (a fleet of
// agents should not dial the brokers for nothing).
const probeInterval = 30 * time.Second

// healthEvery is how often the output looks at its deliveries.
const healthEvery = time.Second

// stallAfter is how long events may wait for an acknowledgement before the
// brokers are taken for gone: the longest a broker may take to answer
// (broker_timeout), and a little for the network.
func (o *Output) stallAfter() time.Duration {
	return o.cfg.BrokerTimeout.D() + min(o.cfg.Timeout.D(), 5*time.Second)
}

// waitingProbeAfter is how long events may wait for an acknowledgement
// before a broker is asked whether it answers at all: a broker killed or
// unreachable refuses the connection at once, and is reported then rather
// than after stallAfter (with exactly_once, sarama reports the records'
// failures only when the transaction ends).
const waitingProbeAfter = 5 * time.Second

// probeLoop watches deliveries and probes the brokers of an idle output,
// or of one whose events wait, until Close or done.
func (o *Output) probeLoop(done <-chan struct{}) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	var lastProbe time.Time
	for {
		select {
		case <-o.stop:
			return
		case <-done:
			return
		case now := <-t.C:
			last := time.Unix(0, o.lastDelivery.Load())
			if n := o.inflight.Load(); n > 0 {
				since := time.Unix(0, max(o.lastDelivery.Load(), o.busySince.Load()))
				waiting := now.Sub(since)
				switch {
				case waiting > o.stallAfter():
					o.setReachable(false, "kafka not acknowledging: no delivery while events wait", "in_flight", n, "waiting", waiting.Round(time.Second))
				case waiting > waitingProbeAfter && now.Sub(lastProbe) > waitingProbeAfter && o.reachable.Load():
					lastProbe = now
					if err := o.probe(); err != nil {
						o.setReachable(false, "kafka unreachable: no broker answers while events wait", "in_flight", n, "err", err)
					}
				}
				continue
			}
			if now.Sub(last) < probeInterval || now.Sub(lastProbe) < probeInterval {
				continue
			}
			lastProbe = now
			if err := o.probe(); err != nil {
				o.setReachable(false, "kafka unreachable: no broker answers", "err", err)
			} else {
				o.setReachable(true, "kafka answers again")
			}
		}
	}
}

// setReachable records whether the brokers answer, and logs a change.
func (o *Output) setReachable(ok bool, msg string, args ...any) {
	if o.reachable.Swap(ok) == ok {
		return
	}
	if ok {
		o.log.Info(msg, args...)
	} else {
		o.log.Warn(msg, args...)
	}
}

// probe reports whether any broker answers an ApiVersions request.
func (o *Output) probe() error {
	_, _, err := firstAnswer(o.cfg.Hosts, o.sc)
	return err
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
