// Command floor is the least a shipper built on sarama can do per line: it
// reads files whole, cuts lines into batches of 2,048 kept in a pool, puts
// each batch on one partition, hands them to a tuned sarama AsyncProducer
// (acks from all replicas, idempotent) and counts the acknowledgements. No
// offsets, no registry, no events: what is left is sarama's own cost and
// the reading. logship-bench runs it with -agent floor to show how far
// logship's pipeline is from it, measured in the same run.
//
//	go run ./cmd/logship-bench -agent floor
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

const batchLines = 2048

type batch struct {
	msgs []sarama.ProducerMessage
	buf  []byte
	left atomic.Int32
	part int32
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9092", "broker")
	glob := flag.String("glob", "", "files to ship")
	topic := flag.String("topic", "logs", "topic")
	prof := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	c.Producer.Flush.Frequency = 10 * time.Millisecond
	c.Producer.Flush.MaxMessages = batchLines
	c.ChannelBufferSize = 4096
	c.Producer.Partitioner = func(string) sarama.Partitioner { return batchPartitioner{} }
	p, err := sarama.NewAsyncProducer([]string{*addr}, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	pool := sync.Pool{New: func() any { return &batch{msgs: make([]sarama.ProducerMessage, batchLines)} }}
	var acked atomic.Int64
	go func() {
		for m := range p.Successes() {
			b := m.Metadata.(*batch)
			if b.left.Add(-1) == 0 {
				acked.Add(int64(len(b.msgs)))
				pool.Put(b)
			}
		}
	}()
	go func() {
		for e := range p.Errors() {
			fmt.Fprintln(os.Stderr, "floor:", e.Err)
		}
	}()
	files, _ := filepath.Glob(*glob)
	var next int32
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		r := bufio.NewReaderSize(f, 64<<10)
		var b *batch
		send := func() {
			b.left.Store(int32(len(b.msgs)))
			for i := range b.msgs {
				p.Input() <- &b.msgs[i]
			}
			b = nil
		}
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 {
				if b == nil {
					b = pool.Get().(*batch)
					b.msgs, b.buf = b.msgs[:0], b.buf[:0]
					b.part, next = next%3, next+1
				}
				start := len(b.buf)
				b.buf = append(b.buf, line[:len(line)-1]...)
				b.msgs = append(b.msgs, sarama.ProducerMessage{Topic: *topic, Value: sarama.ByteEncoder(b.buf[start:len(b.buf):len(b.buf)]), Metadata: b, Partition: b.part})
				if len(b.msgs) == batchLines {
					send()
				}
			}
			if err != nil {
				break
			}
		}
		if b != nil {
			send()
		}
		f.Close()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	p.Close()
}

// batchPartitioner keeps the partition each message was given.
type batchPartitioner struct{}

func (batchPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	return m.Metadata.(*batch).part % n, nil
}

func (batchPartitioner) RequiresConsistency() bool { return true }
