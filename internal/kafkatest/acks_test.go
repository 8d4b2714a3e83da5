package kafkatest

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The gate counts a record as written only once the broker acknowledged
// it: a produce request it answered with an error does not count.
func TestGateRecordsAcknowledgedOnly(t *testing.T) {
	kc := Start(t)
	g := kc.Gate(nil)
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.Producer.Return.Successes = true
	c.Producer.Retry.Max = 0
	c.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{kc.Addr}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g.Fail(kerr.NotEnoughReplicas)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder("refused")}); err == nil {
		t.Fatal("the refused record was acknowledged")
	}
	g.Fail(nil)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder("taken")}); err != nil {
		t.Fatal(err)
	}
	// Recorded as the broker wrote its answer: before the client read it.
	if !g.Written("taken") || g.Written("refused") || g.Rejected() == 0 {
		t.Fatalf("written: taken %v, refused %v; rejected %d", g.Written("taken"), g.Written("refused"), g.Rejected())
	}
}

// Whatever a produce request holds, reading its records never panics.
func FuzzRecordValues(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 61})
	f.Fuzz(func(t *testing.T, raw []byte) { _ = recordValues(raw) })
}
