package kafkatest

import (
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Gate sits in front of the broker's produce handling. It records the value
// of every record the broker acknowledged (from the broker's answers on the
// wire: see Acks), and can reject produce requests with a retriable error
// for as long as asked. Tests use it to check that an offset was only
// committed for lines Kafka had acknowledged at the time.
type Gate struct {
	// Line maps a record value to the line it carries (for JSON values,
	// their "message"); nil means the value is the line.
	Line func([]byte) string
	// Arrival records records as their produce requests arrive instead:
	// for a TLS cluster, whose answers cannot be read off the wire. Set
	// it before Install.
	Arrival bool

	mu      sync.Mutex
	fail    *kerr.Error
	written map[string]int
	failed  int
}

// Gate installs a new produce gate on the cluster. Records must be
// uncompressed. line may be nil (see Gate.Line).
func (c *Cluster) Gate(line func([]byte) string) *Gate {
	g := NewGate(line)
	g.Install(c)
	return g
}

// NewGate returns a gate to Install on one cluster after another (a broker
// restarted on the same data keeps what was written).
func NewGate(line func([]byte) string) *Gate {
	return &Gate{Line: line, written: make(map[string]int)}
}

// Install puts the gate in front of c's produce handling and has it told
// what c acknowledges.
func (g *Gate) Install(c *Cluster) {
	c.Acks.Subscribe(g.acked)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return g.handle(req.(*kmsg.ProduceRequest))
	})
}

// Fail makes the gate reject every produce request with err until Fail(nil).
func (g *Gate) Fail(err *kerr.Error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

// Written reports whether a record carrying this line has been
// acknowledged.
func (g *Gate) Written(value string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.written[value] > 0
}

// Rejected is how many produce requests the gate has failed.
func (g *Gate) Rejected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

func (g *Gate) handle(req *kmsg.ProduceRequest) (kmsg.Response, error, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		g.failed++
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.SetVersion(req.GetVersion())
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = g.fail.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	}
	if g.Arrival {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				for _, v := range recordValues(p.Records) {
					g.record(v)
				}
			}
		}
	}
	return nil, nil, false // the broker handles it as usual
}

// acked records an acknowledged record's value.
func (g *Gate) acked(v []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.Arrival {
		g.record(v)
	}
}

// record counts a record's value as written; g.mu is held.
func (g *Gate) record(v []byte) {
	if g.Line != nil {
		g.written[g.Line(v)]++
	} else {
		g.written[string(v)]++
	}
}

// recordValues walks uncompressed record batches and returns the values;
// compressed batches and anything malformed yield nothing (never a panic).
func recordValues(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) >= 12 {
		batchLen := int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if batchLen <= 0 || 12+batchLen > len(raw) {
			return out
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw[:12+batchLen]); err != nil {
			return out
		}
		if b.Attributes&0x07 != 0 { // compressed: not read here
			raw = raw[12+batchLen:]
			continue
		}
		recs := b.Records
		for range b.NumRecords {
			l, n := binary.Varint(recs)
			if n <= 0 || l < 0 || int(l) > len(recs)-n {
				break
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:n+int(l)]); err == nil {
				out = append(out, r.Value)
			}
			recs = recs[n+int(l):]
		}
		raw = raw[12+batchLen:]
	}
	return out
}

// JSONMessage returns the "message" of a JSON event value.
func JSONMessage(v []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(v, &e)
	return e.Message
}
