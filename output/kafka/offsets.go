package kafka

import (
	"encoding/json"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/logship/logship/event"
	"github.com/logship/logship/fileid"
	"github.com/logship/logship/registry"
)

// exactly_once's records on offsets_topic: what a transaction writes
// there, and how they are keyed and numbered (see txn.go, restore.go).

// Forget deletes file id's record from offsets_topic in the next
// transaction (a tombstone): the registry forgot the file (it is gone, or
// clean_inactive). Without it every file an agent ever shipped would keep
// a record, every start would read them all, and Adopt would put the
// forgotten entries back. Safe for concurrent use.
func (o *Output) Forget(id string) {
	o.tombMu.Lock()
	o.tombs = append(o.tombs, id)
	o.tombMu.Unlock()
}

// offsetRecords are the records of the positions group advances: for each
// file, the last position the group reaches, with the transaction's
// sequence number seq; then a tombstone for each file forgotten (see
// Forget), of which it returns how many it wrote. A group that advances no
// file (none does today) still writes seq, in a record of its own.
func (o *Output) offsetRecords(group []*batchState, seq uint64) ([]*sarama.ProducerMessage, int) {
	last := map[*event.Source]fileid.Position{}
	var order []*event.Source
	for _, st := range group {
		for _, a := range st.batch.Advances {
			if _, seen := last[a.Source]; !seen {
				order = append(order, a.Source)
			}
			last[a.Source] = a.Position
		}
	}
	out := make([]*sarama.ProducerMessage, 0, max(1, len(order)))
	record := func(key string, value []byte) { out = append(out, o.offsetsMessage(o.offsetsPart, key, value)) }
	for _, src := range order {
		if src.Forgotten.Load() {
			continue // the registry forgot it, and commits nothing of it either
		}
		r := offsetsRecord{Entry: registry.EntryFor(src, last[src]), TxnSeq: seq}
		value, err := json.Marshal(r)
		if err != nil {
			continue // an Entry always encodes
		}
		record(r.ID, value)
	}
	if len(out) == 0 {
		record(seqKey, fmt.Appendf(nil, `{"txn_seq":%d}`, seq))
	}
	o.tombMu.Lock()
	tombs := o.tombs[:len(o.tombs):len(o.tombs)]
	o.tombMu.Unlock()
	for _, id := range tombs {
		live := false // a new file with the forgotten one's identity (a reused inode) keeps its record
		for _, src := range order {
			live = live || src.ID == id && !src.Forgotten.Load()
		}
		if !live {
			record(id, nil)
		}
	}
	return out, len(tombs)
}

// dropTombs forgets the first n tombstones, committed.
func (o *Output) dropTombs(n int) {
	o.tombMu.Lock()
	o.tombs = append(o.tombs[:0], o.tombs[n:]...)
	o.tombMu.Unlock()
}

// offsetsRecord is the value of a file's record in offsets_topic: the
// registry entry the file reaches, and the sequence number of the
// transaction that wrote it. Sequence numbers grow by one for each
// transaction begun, across producers and restarts (a start continues from
// the highest it reads back), so "the highest sequence read back is at
// least the group's" is the unambiguous answer to whether a transaction
// whose commit had no known outcome was committed. Records written before
// sequence numbers read as 0.
type offsetsRecord struct {
	registry.Entry
	TxnSeq uint64 `json:"txn_seq,omitempty"`
}

// seqKey, after the key prefix, is the key of a transaction's sequence
// number when it wrote no file's record.
const seqKey = "txn"

// committed reports whether the transaction numbered seq was committed,
// given the highest sequence number read back from offsets_topic since.
// Only the last transaction's outcome can be unknown, and no later one was
// begun: a higher number cannot be another transaction's.
func committed(seq, restored uint64) bool {
	return seq > 0 && restored >= seq
}

// offsetsMessage is this agent's record key (after its prefix) in
// partition part of offsets_topic, pinned there (read back from there
// only); a nil value is a tombstone.
func (o *Output) offsetsMessage(part int32, key string, value []byte) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: o.cfg.OffsetsTopic, Key: sarama.StringEncoder(o.keyPrefix() + key),
		Partition: part, Metadata: &msgMeta{partition: part, pin: true}}
	if value != nil { // else a tombstone: no value at all
		m.Value = sarama.ByteEncoder(value)
	}
	return m
}
