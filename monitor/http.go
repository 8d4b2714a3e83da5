package monitor

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Handler serves /metrics, /healthz (the process is up), /readyz (see
// Ready) and /stats (the Snapshot as JSON): what probes and scrapers read.
// Control requests (see Control) are answered by control, or refused
// with 403 when control is nil.
func (m *Monitor) Handler(control http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := m.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		s := m.Snapshot()
		oldest, last := m.times(s)
		_ = enc.Encode(struct {
			Snapshot
			OldestUnackedAge float64 `json:"oldest_unacked_age_seconds"`
			LastDelivery     float64 `json:"last_delivery_timestamp_seconds"`
		}{s, oldest, last})
	})
	if control == nil {
		control = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "not served on this address: control requests (POST /reload, /debug/pprof/) are served on http.control_listen, "+
				"or on http.listen when it is a loopback address or http.control_token is set", http.StatusForbidden)
		})
	}
	for _, p := range controlPaths {
		mux.Handle(p, control)
	}
	return mux
}

// controlPaths are the requests that change the agent or reveal more than
// its counters: they are not for everyone who can reach the probes.
var controlPaths = []string{"/reload", "/debug/pprof/"}

// Control serves the requests that change the agent or reveal its
// internals: POST /reload, which answers once the new configuration runs
// or was refused (when reload is not nil), and with pprof Go's profiles
// (net/http/pprof) under /debug/pprof/. A token, when not empty, must come
// as "Authorization: Bearer TOKEN".
func Control(reload func(context.Context) error, withPprof bool, token string) http.Handler {
	mux := http.NewServeMux()
	if reload != nil {
		mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
			if err := reload(r.Context()); err != nil {
				http.Error(w, "reload refused: "+err.Error(), http.StatusUnprocessableEntity)
				return
			}
			fmt.Fprintln(w, "reloaded")
		})
	}
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="logship"`)
			http.Error(w, "unauthorized: this request needs Authorization: Bearer <http.control_token>", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Loopback reports whether a listen address is reachable from this host
// only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MaxConnections is how many connections the HTTP endpoint serves at once;
// more wait to be accepted. Probes and scrapers need a few: a flood of
// clients must not grow the agent's memory (1,000 concurrent GET /metrics
// took it to 138 MiB without a bound).
const MaxConnections = 16

// Serve serves h on l until ctx is done, at most MaxConnections at once; an
// idle keep-alive connection is closed after 30 s so that it does not hold
// a place. The caller opens l, so a port in use is reported at start.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	l = netutil.LimitListener(l, MaxConnections)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		log.Warn("http server shutdown", "err", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
