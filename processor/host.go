package processor

import (
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/logship/logship/event"
)

// hostMetadata adds host.hostname, host.os.* and host.ip. The lookup is
// cached for ttl; the fields are shared by every event until it expires.
type hostMetadata struct {
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	fields  map[string]any
	fetched time.Time
	failing bool // the last lookup failed (logged)
}

func newHostMetadata(ttl time.Duration, now func() time.Time, log *slog.Logger) *hostMetadata {
	return &hostMetadata{ttl: ttl, now: now, log: log}
}

func (h *hostMetadata) run(e *event.Event, host string) bool {
	d := doc(e, host)
	// A copy: the host object is shared (see event.MakeDoc).
	old, _ := d["host"].(map[string]any)
	hm := maps.Clone(old)
	if hm == nil {
		hm = map[string]any{}
	}
	maps.Copy(hm, h.get())
	d["host"] = hm
	return true
}

func (h *hostMetadata) get() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); h.fields == nil || now.Sub(h.fetched) >= h.ttl {
		var err error
		h.fields, err = lookupHost()
		h.fetched = now
		// Logged once, and again after it worked in between.
		if err != nil && !h.failing {
			h.log.Warn("add_host_metadata: interface addresses unreadable, host.ip left out (under systemd, RestrictAddressFamilies must allow AF_NETLINK)", "err", err)
		}
		h.failing = err != nil
	}
	return h.fields
}

// lookupHost reads the host's fields; err says why host.ip is missing.
func lookupHost() (f map[string]any, err error) {
	f = map[string]any{"architecture": runtime.GOARCH}
	if name, err := os.Hostname(); err == nil {
		f["hostname"] = name
	}
	osf := map[string]any{"type": runtime.GOOS}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"`)
			switch k {
			case "ID":
				osf["platform"] = v
			case "NAME":
				osf["name"] = v
			case "VERSION_ID":
				osf["version"] = v
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		osf["kernel"] = strings.TrimSpace(string(b))
	}
	f["os"] = osf
	var ips []any
	addrs, err := interfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			ips = append(ips, n.IP.String())
		}
	}
	if len(ips) > 0 {
		f["ip"] = ips
	}
	return f, err
}

// interfaceAddrs is net.InterfaceAddrs; tests replace it.
var interfaceAddrs = net.InterfaceAddrs
