package kafka

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logship/logship/config"
	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/testlog"
)

func TestSASL(t *testing.T) {
	for _, tc := range []struct {
		mech string
		kgo  kgo.Opt
	}{
		{config.SASLPlain, kgo.SASL(plain.Auth{User: "logship", Pass: "s3cret"}.AsMechanism())},
		{config.SASLSCRAMSHA256, kgo.SASL(scram.Auth{User: "logship", Pass: "s3cret"}.AsSha256Mechanism())},
		{config.SASLSCRAMSHA512, kgo.SASL(scram.Auth{User: "logship", Pass: "s3cret"}.AsSha512Mechanism())},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser(tc.mech, "logship", "s3cret"))
			k := kafkaCfg(config.CodecRaw)
			k.SASL = config.SASL{Mechanism: tc.mech, Username: "logship", Password: "s3cret"}
			gate := kafkatest.NewGate(nil)
			gate.Arrival = true // the wire is encrypted: its answers cannot be read
			gate.Install(kc)
			p := startPipeline(t, kc, gate, 1, k)
			p.feed(t, 0, 100)
			p.stop(t)
			consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue, tc.kgo)
		})
	}
}

// connectErr runs an output that cannot connect until its log holds until,
// and returns what it logged.
func connectErr(t *testing.T, k config.Kafka, until string) string {
	t.Helper()
	var logs testlog.Buffer
	out, err := New(k, "h", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- out.Run(t.Context()) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), until) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out.Close()
	<-done
	return logs.String()
}

func TestSASLWrongPassword(t *testing.T) {
	kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser(config.SASLSCRAMSHA512, "logship", "s3cret"))
	k := kafkaCfg(config.CodecRaw)
	k.Hosts = []string{kc.Addr}
	k.SASL = config.SASL{Mechanism: config.SASLSCRAMSHA512, Username: "logship", Password: "wrong-horse-battery"}
	logs := connectErr(t, k, "level=ERROR")
	if !strings.Contains(logs, "SASL login: check output.kafka.sasl (mechanism, username, password)") {
		t.Fatalf("no clear error:\n%s", logs)
	}
	if strings.Contains(logs, "wrong-horse-battery") {
		t.Fatalf("the password was logged:\n%s", logs)
	}
}

func TestTLS(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	for _, mutual := range []bool{false, true} {
		name := map[bool]string{false: "tls", true: "mutual tls"}[mutual]
		t.Run(name, func(t *testing.T) {
			srv := &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}
			if mutual {
				srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, pki.Pool
			}
			kc := kafkatest.Start(t, kfake.TLS(srv))
			k := kafkaCfg(config.CodecRaw)
			k.TLS = config.TLS{Enabled: true, CertificateAuthorities: []string{pki.CAFile}, VerificationMode: "full"}
			if mutual {
				k.TLS.Certificate, k.TLS.Key = pki.ClientCert, pki.ClientKey
			}
			gate := kafkatest.NewGate(nil)
			gate.Arrival = true // the wire is encrypted: its answers cannot be read
			gate.Install(kc)
			p := startPipeline(t, kc, gate, 1, k)
			p.feed(t, 0, 100)
			p.stop(t)
			cli := &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}, MinVersion: tls.VersionTLS12}
			consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue, kgo.DialTLSConfig(cli))
		})
	}
	t.Run("untrusted ca", func(t *testing.T) {
		other := kafkatest.NewPKI(t)
		kc := kafkatest.Start(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}))
		k := kafkaCfg(config.CodecRaw)
		k.Hosts = []string{kc.Addr}
		k.TLS = config.TLS{Enabled: true, CertificateAuthorities: []string{other.CAFile}, VerificationMode: "full"}
		if logs := connectErr(t, k, "level=ERROR"); !strings.Contains(logs, "kafka's TLS certificate was not accepted") {
			t.Fatalf("no clear error:\n%s", logs)
		}
	})
}

func TestVersionAuto(t *testing.T) {
	kc := kafkatest.Start(t)
	k := kafkaCfg(config.CodecRaw)
	k.Version = config.VersionAuto
	p := startPipeline(t, kc, kc.Gate(nil), 1, k)
	p.feed(t, 0, 100)
	p.stop(t)
	consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue)
}

// A broker older than 0.11 is refused with a clear error whatever version
// says: told to speak 2.1.0 (the default) to it, sarama encodes record
// batches for Produce v2 and panics.
func TestBrokerTooOld(t *testing.T) {
	for _, v := range []string{config.VersionAuto, "2.1.0", "0.11.0"} {
		kc := kafkatest.Start(t, kfake.MaxVersions(kversion.V0_10_2()))
		k := kafkaCfg(config.CodecRaw)
		k.Hosts = []string{kc.Addr}
		k.Version = v
		logs := connectErr(t, k, "level=ERROR")
		if !strings.Contains(logs, "kafka broker too old") || !strings.Contains(logs, "needs Kafka 0.11.0.0 or newer") {
			t.Fatalf("version %s: no clear error:\n%s", v, logs)
		}
	}
}
