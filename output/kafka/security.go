package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/logship/logship/config"
)

// configureSecurity sets sarama's SASL and TLS from the configuration.
func configureSecurity(c *sarama.Config, k config.Kafka) error {
	if m := k.SASL.Mechanism; m != "" {
		c.Net.SASL.Enable = true
		c.Net.SASL.Handshake = true
		c.Net.SASL.User = k.SASL.Username
		c.Net.SASL.Password = k.SASL.Password.Value()
		switch m {
		case config.SASLPlain:
			c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case config.SASLSCRAMSHA256:
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case config.SASLSCRAMSHA512:
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		default:
			return fmt.Errorf("output.kafka.sasl.mechanism: unknown mechanism %q", m)
		}
	}
	if !k.TLS.Enabled {
		return nil
	}
	tc, err := tlsConfig(k.TLS)
	if err != nil {
		return err
	}
	c.Net.TLS.Enable = true
	c.Net.TLS.Config = tc
	return nil
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if len(t.CertificateAuthorities) > 0 {
		pool := x509.NewCertPool()
		for _, f := range t.CertificateAuthorities {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("output.kafka.tls.certificate_authorities: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("output.kafka.tls.certificate_authorities: %s holds no PEM certificate", f)
			}
		}
		tc.RootCAs = pool
	}
	if t.Certificate != "" {
		cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
		if err != nil {
			return nil, fmt.Errorf("output.kafka.tls.certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.VerificationMode == "none" {
		tc.InsecureSkipVerify = true // the agent warns at start
	}
	return tc, nil
}

// scramClient adapts xdg-go/scram to sarama's SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }

// authError tells a rejected login or certificate from an unreachable broker.
func authError(err error, sasl bool) string {
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed), errors.Is(err, sarama.ErrIllegalSASLState),
		errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return "kafka rejected the SASL login: check output.kafka.sasl (mechanism, username, password)"
	case errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return "kafka's TLS certificate was not accepted: check output.kafka.tls (certificate_authorities, server_name)"
	case sasl && errors.Is(err, io.EOF):
		// Some brokers hang up on a failed login rather than answer it.
		return "kafka closed the connection during the SASL login: check output.kafka.sasl (mechanism, username, password)"
	}
	return ""
}
