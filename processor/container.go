package processor

import (
	"bytes"
	"path/filepath"
	"strings"
	"time"

	"github.com/logship/logship/config"
	"github.com/logship/logship/event"
)

// containerConfig is the container input's decoding.
type containerConfig struct {
	format string // auto, cri, docker
	stream string // all, stdout, stderr
}

// container decodes a container runtime's log lines for one file: CRI
// ("<time> <stream> <P|F> <message>") or docker json-file
// ({"log":"…\n","stream":"…","time":"…"}). A runtime splits long lines
// (kubelet at 16 KiB): parts are joined per stream, up to max_bytes.
type container struct {
	p      *Pipeline
	path   PodPath
	metas  [3]*event.Meta // per stream
	pod    *Pod           // the pod metadata metas were built with
	parts  [3]partial     // per stream
	js     dockerLine     // encoding/json's record, for unusual lines
	buf    []byte         // the fast decoder's unescaped message
	warned bool           // an unparsed line was logged
}

// partial is a line a runtime has not finished.
type partial struct {
	n         int // parts so far
	first     unit
	buf       []byte
	truncated bool
}

func newContainer(p *Pipeline, src *event.Source) *container {
	c := &container{p: p, path: ParsePodPath(src.Path)}
	if target, err := filepath.EvalSymlinks(src.Path); err == nil && target != src.Path {
		c.path = c.path.merge(ParsePodPath(target))
	}
	c.buildMeta(nil)
	return c
}

// line decodes one raw line.
func (c *container) line(ch *Chain, u *unit) {
	c.refreshMeta()
	msg, stream, ts, final, ok := c.decode(u.text)
	if ts.IsZero() {
		ts = u.time // a record without a time: when it was read
	}
	if !ok {
		// Not a runtime's line: shipped as it is, flagged, never lost.
		// Logged once per file: a file of them would flood the log.
		if !c.warned {
			c.warned = true
			ch.p.opts.Log.Warn("line is not in a container runtime's format; shipped as read and flagged unparsed (logged once per file)",
				"path", ch.src.Path, "offset", u.offset, "format", c.p.container.format)
		}
		u.flags |= event.FlagUnparsed
		u.meta = c.metas[streamNone]
		ch.joined(u)
		return
	}
	if want := c.p.container.stream; want != config.StreamAll && want != streamNames[stream] {
		ch.skip(u)
		return
	}
	pt := &c.parts[stream]
	if pt.n == 0 && final { // the common case: a whole line, no copy
		u.text, u.time, u.stream, u.meta = msg, ts, stream, c.metas[stream]
		ch.joined(u)
		return
	}
	if pt.n == 0 {
		pt.first = *u
		pt.first.time, pt.first.stream = ts, stream
		pt.buf, pt.truncated = pt.buf[:0], u.truncated
	}
	pt.n++
	room := c.p.maxBytes - len(pt.buf)
	if len(msg) > room {
		msg, pt.truncated = msg[:max(room, 0)], true
	}
	pt.buf = append(pt.buf, msg...)
	pt.first.end, pt.first.after = u.end, u.after
	if final {
		c.emit(ch, pt)
	}
}

// flush sends the parts of unfinished lines: the file will not grow.
func (c *container) flush(ch *Chain) {
	for i := range c.parts {
		if c.parts[i].n > 0 {
			c.parts[i].first.flags |= event.FlagPartial
			c.emit(ch, &c.parts[i])
		}
	}
}

func (c *container) emit(ch *Chain, pt *partial) {
	u := pt.first
	u.text, u.truncated, u.meta = pt.buf, pt.truncated, c.metas[u.stream]
	pt.n = 0
	ch.joined(&u)
}

// decode splits a runtime's line into its message, stream, time and
// whether the line is complete.
func (c *container) decode(line []byte) (msg []byte, stream int, ts time.Time, final, ok bool) {
	format := c.p.container.format
	if format == config.FormatAuto {
		format = config.FormatCRI
		if len(line) > 0 && line[0] == '{' {
			format = config.FormatDocker
		}
	}
	if format == config.FormatDocker {
		return c.decodeDocker(line)
	}
	return decodeCRI(line)
}

func decodeCRI(line []byte) (msg []byte, stream int, ts time.Time, final, ok bool) {
	f1 := bytes.IndexByte(line, ' ')
	if f1 < 0 {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:f1]))
	if err != nil {
		return
	}
	rest := line[f1+1:]
	f2 := bytes.IndexByte(rest, ' ')
	if f2 < 0 {
		return
	}
	if stream = streamOf(rest[:f2]); stream == streamNone {
		return
	}
	rest = rest[f2+1:]
	tag := rest
	if f3 := bytes.IndexByte(rest, ' '); f3 >= 0 {
		tag, msg = rest[:f3], rest[f3+1:]
	} else {
		msg = rest[len(rest):]
	}
	// The tag is P or F, possibly followed by more tags after ':'.
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	switch string(tag) {
	case "F":
		final = true
	case "P":
	default:
		return
	}
	return msg, stream, t, final, true
}

// dockerLine is docker's json-file record.
type dockerLine struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (c *container) decodeDocker(line []byte) (msg []byte, stream int, ts time.Time, final, ok bool) {
	log, st, tsb, fast := decodeDockerFast(line, c.buf)
	if fast {
		c.buf = log
		t, good := parseDockerTime(tsb)
		if !good && len(tsb) > 0 {
			return
		}
		msg, stream, ts = log, streamOf(st), t
	} else {
		if !decodeDockerSlow(line, &c.js) {
			return
		}
		msg, stream, ts = []byte(c.js.Log), streamOf([]byte(c.js.Stream)), c.js.Time
	}
	if stream == streamNone {
		return
	}
	if final = bytes.HasSuffix(msg, []byte{'\n'}); final {
		msg = msg[:len(msg)-1]
		msg = bytes.TrimSuffix(msg, []byte{'\r'})
	}
	return msg, stream, ts, final, true
}

func streamOf(b []byte) int {
	switch string(b) {
	case "stdout":
		return streamStdout
	case "stderr":
		return streamStderr
	}
	return streamNone
}

// PodPath is what kubelet's log paths say about a container:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log and
// /var/log/containers/<pod>_<namespace>_<container>-<id>.log.
type PodPath struct {
	Namespace, Pod, UID, Container, ContainerID string
}

// ParsePodPath reads a log path; fields it does not hold stay empty.
func ParsePodPath(path string) PodPath {
	var p PodPath
	dir, file := filepath.Split(path)
	dir = filepath.Clean(dir)
	if base := filepath.Base(filepath.Dir(dir)); filepath.Base(filepath.Dir(filepath.Dir(dir))) == "pods" || strings.Count(base, "_") == 2 && strings.Contains(file, ".log") {
		parts := strings.SplitN(base, "_", 3)
		if len(parts) == 3 {
			p.Namespace, p.Pod, p.UID = parts[0], parts[1], parts[2]
			p.Container = filepath.Base(dir)
			return p
		}
	}
	if filepath.Base(dir) == "containers" {
		name := strings.TrimSuffix(file, ".log")
		parts := strings.SplitN(name, "_", 3)
		if len(parts) == 3 {
			p.Pod, p.Namespace = parts[0], parts[1]
			if i := strings.LastIndexByte(parts[2], '-'); i > 0 {
				p.Container, p.ContainerID = parts[2][:i], parts[2][i+1:]
			} else {
				p.Container = parts[2]
			}
		}
	}
	return p
}

func (p PodPath) merge(q PodPath) PodPath {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&p.Namespace, q.Namespace}, {&p.Pod, q.Pod}, {&p.UID, q.UID}, {&p.Container, q.Container}, {&p.ContainerID, q.ContainerID},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return p
}

// refreshMeta rebuilds the shared fields when the pod's metadata changed.
func (c *container) refreshMeta() {
	if !c.p.kube || c.p.opts.Pods == nil {
		return
	}
	pod := c.p.opts.Pods.Pod(c.path.Namespace, c.path.Pod, c.path.UID)
	if pod != c.pod {
		c.buildMeta(pod)
	}
}

func (c *container) buildMeta(pod *Pod) {
	c.pod = pod
	k := map[string]any{}
	put := func(name, v string) {
		if v != "" {
			event.Put(k, name, v)
		}
	}
	put("namespace", c.path.Namespace)
	put("pod.name", c.path.Pod)
	put("pod.uid", c.path.UID)
	put("container.name", c.path.Container)
	if pod != nil {
		put("pod.uid", pod.UID)
		put("node.name", pod.Node)
		if len(pod.Labels) > 0 {
			k["labels"] = stringMap(pod.Labels)
		}
		if len(pod.Annotations) > 0 {
			k["annotations"] = stringMap(pod.Annotations)
		}
	}
	for s := range c.metas {
		f := map[string]any{}
		if s != streamNone {
			f["stream"] = streamNames[s]
		}
		if len(k) > 0 {
			f["kubernetes"] = k
		}
		if id := c.path.ContainerID; id != "" {
			f["container"] = map[string]any{"id": id}
		}
		js := event.AppendJSON(nil, f)
		c.metas[s] = &event.Meta{Fields: f, JSON: js[1 : len(js)-1]}
	}
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
