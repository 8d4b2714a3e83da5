package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
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
	pki := newPKI(t)
	for _, mutual := range []bool{false, true} {
		name := map[bool]string{false: "tls", true: "mutual tls"}[mutual]
		t.Run(name, func(t *testing.T) {
			srv := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
			if mutual {
				srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
			}
			kc := kafkatest.Start(t, kfake.TLS(srv))
			k := kafkaCfg(config.CodecRaw)
			k.TLS = config.TLS{Enabled: true, CertificateAuthorities: []string{pki.caFile}, VerificationMode: "full"}
			if mutual {
				k.TLS.Certificate, k.TLS.Key = pki.clientCert, pki.clientKey
			}
			gate := kafkatest.NewGate(nil)
			gate.Arrival = true // the wire is encrypted: its answers cannot be read
			gate.Install(kc)
			p := startPipeline(t, kc, gate, 1, k)
			p.feed(t, 0, 100)
			p.stop(t)
			cli := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}
			consumeExactlyOnce(t, kc.Addr, "logs", 100, rawValue, kgo.DialTLSConfig(cli))
		})
	}
	t.Run("untrusted ca", func(t *testing.T) {
		other := newPKI(t)
		kc := kafkatest.Start(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}))
		k := kafkaCfg(config.CodecRaw)
		k.Hosts = []string{kc.Addr}
		k.TLS = config.TLS{Enabled: true, CertificateAuthorities: []string{other.caFile}, VerificationMode: "full"}
		if logs := connectErr(t, k, "level=ERROR"); !strings.Contains(logs, "kafka's TLS certificate was not accepted") {
			t.Fatalf("no clear error:\n%s", logs)
		}
	})
}

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type pki struct {
	pool                          *x509.CertPool
	server, client                tls.Certificate
	caFile, clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logship test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, usage x509.ExtKeyUsage, serial int64) (tls.Certificate, string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		certFile := writePEM(t, dir, name+".pem", "CERTIFICATE", der)
		keyFile := writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return cert, certFile, keyFile
	}
	p.server, _, _ = leaf("server", x509.ExtKeyUsageServerAuth, 2)
	p.client, p.clientCert, p.clientKey = leaf("client", x509.ExtKeyUsageClientAuth, 3)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
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
