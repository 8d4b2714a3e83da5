package kafkatest

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Acks records, from the bytes on the broker's connections, the records of
// every produce request the broker acknowledged: the value of each record
// of a partition the produce response answers without error, recorded as
// the broker writes that response, before the client can read it. A commit
// checked against Acks is checked against the real invariant: the agent may
// commit only what Kafka acknowledged. Safe for concurrent use.
type Acks struct {
	mu    sync.Mutex
	acked map[string]int
	subs  []func(value []byte)
}

// Subscribe calls fn with the value of every record acknowledged from now
// on, under the recorder's lock.
func (a *Acks) Subscribe(fn func(value []byte)) {
	a.mu.Lock()
	a.subs = append(a.subs, fn)
	a.mu.Unlock()
}

// NewAcks returns an empty record of acknowledgements.
func NewAcks() *Acks { return &Acks{acked: make(map[string]int)} }

// Count is how many times a record with this value was acknowledged.
func (a *Acks) Count(value string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked[value]
}

// listen is a kfake.ListenFn whose connections report to a.
func (a *Acks) listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return ackListener{Listener: l, acks: a}, nil
}

type ackListener struct {
	net.Listener
	acks *Acks
}

func (l ackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ackConn{Conn: c, acks: l.acks, pending: make(map[int32]*kmsg.ProduceRequest)}, nil
}

// ackConn follows the Kafka framing both ways: produce requests read by the
// broker are kept by correlation ID until the broker writes their answers.
type ackConn struct {
	net.Conn
	acks *Acks

	rmu     sync.Mutex
	in      []byte // requests read, not yet framed
	wmu     sync.Mutex
	out     []byte // responses written, not yet framed
	pmu     sync.Mutex
	pending map[int32]*kmsg.ProduceRequest
}

func (c *ackConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.rmu.Lock()
		c.in = append(c.in, p[:n]...)
		c.in = frames(c.in, c.request)
		c.rmu.Unlock()
	}
	return n, err
}

func (c *ackConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.out = append(c.out, p...)
	c.out = frames(c.out, c.response)
	c.wmu.Unlock()
	return c.Conn.Write(p)
}

// frames calls fn with each whole frame's body at the start of buf and
// returns what is left.
func frames(buf []byte, fn func([]byte)) []byte {
	for len(buf) >= 4 {
		size := int(int32(binary.BigEndian.Uint32(buf)))
		if size < 0 || len(buf) < 4+size {
			break
		}
		fn(buf[4 : 4+size])
		buf = buf[4+size:]
	}
	return append([]byte(nil), buf...)
}

// skipTags skips a header's tagged fields; nil if they do not parse.
func skipTags(b []byte) []byte {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil
	}
	b = b[k:]
	for range n {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil
		}
		b = b[k+int(size):]
	}
	return b
}

// request keeps a produce request (header: key, version, correlation ID,
// client ID, and tagged fields for flexible versions).
func (c *ackConn) request(b []byte) {
	if len(b) < 10 || int16(binary.BigEndian.Uint16(b)) != int16(kmsg.Produce) {
		return
	}
	version := int16(binary.BigEndian.Uint16(b[2:]))
	corr := int32(binary.BigEndian.Uint32(b[4:]))
	idLen := int(int16(binary.BigEndian.Uint16(b[8:])))
	if 10+max(idLen, 0) > len(b) {
		return
	}
	body := b[10+max(idLen, 0):]
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	if req.IsFlexible() {
		if body = skipTags(body); body == nil {
			return
		}
	}
	if req.ReadFrom(body) != nil {
		return
	}
	c.pmu.Lock()
	c.pending[corr] = req
	c.pmu.Unlock()
}

// response records the records of a produce request's partitions that
// its answer acknowledges.
func (c *ackConn) response(b []byte) {
	if len(b) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(b))
	c.pmu.Lock()
	req := c.pending[corr]
	delete(c.pending, corr)
	c.pmu.Unlock()
	if req == nil {
		return
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = req.Version
	body := b[4:]
	if resp.IsFlexible() {
		if body = skipTags(body); body == nil {
			return
		}
	}
	if resp.ReadFrom(body) != nil {
		return
	}
	ok := map[string]map[int32]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				if ok[t.Topic] == nil {
					ok[t.Topic] = map[int32]bool{}
				}
				ok[t.Topic][p.Partition] = true
			}
		}
	}
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if ok[t.Topic][p.Partition] {
				for _, v := range recordValues(p.Records) {
					c.acks.acked[string(v)]++
					for _, fn := range c.acks.subs {
						fn(v)
					}
				}
			}
		}
	}
}
