package main

// TLS and SASL for every franz-compat command, for the security tests
// (compat/test_security_*.py). COMPAT_SECURITY holds a JSON object:
//
//	{"protocol": "SSL"|"SASL_PLAINTEXT"|"SASL_SSL", "ca": PEM file, "cert": PEM file,
//	 "key": PEM file, "mechanism": "PLAIN"|"SCRAM-SHA-256"|"SCRAM-SHA-512",
//	 "username": ..., "password": ...}
//
// Unset means PLAINTEXT. The server's hostname is verified against its certificate
// (Go's default), as a Kafka user's client would.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type securityConfig struct {
	Protocol  string `json:"protocol"`
	CA        string `json:"ca"`
	Cert      string `json:"cert"`
	Key       string `json:"key"`
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

func securityOpts() []kgo.Opt {
	raw := os.Getenv("COMPAT_SECURITY")
	if raw == "" {
		return nil
	}
	var sc securityConfig
	if err := json.Unmarshal([]byte(raw), &sc); err != nil {
		die("bad COMPAT_SECURITY: %v", err)
	}
	var opts []kgo.Opt
	if sc.Protocol == "SSL" || sc.Protocol == "SASL_SSL" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if sc.CA != "" {
			pem, err := os.ReadFile(sc.CA)
			if err != nil {
				die("ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				die("ca: no certificate in %s", sc.CA)
			}
			cfg.RootCAs = pool
		}
		if sc.Cert != "" {
			pair, err := tls.LoadX509KeyPair(sc.Cert, sc.Key)
			if err != nil {
				die("client certificate: %v", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		// kgo sets ServerName from the seed address's host when it is empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if sc.Protocol == "SASL_PLAINTEXT" || sc.Protocol == "SASL_SSL" {
		switch sc.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: sc.Username, Pass: sc.Password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Sha256(func(context.Context) (scram.Auth, error) {
				return scram.Auth{User: sc.Username, Pass: sc.Password}, nil
			})))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Sha512(func(context.Context) (scram.Auth, error) {
				return scram.Auth{User: sc.Username, Pass: sc.Password}, nil
			})))
		default:
			die("unknown SASL mechanism %q", sc.Mechanism)
		}
	}
	return opts
}

// produceTimeout bounds a produce: 60s, or COMPAT_PRODUCE_TIMEOUT_MS (the security tests
// expect refusals, which franz-go retries until the deadline).
func produceTimeout() time.Duration {
	if ms, err := strconv.Atoi(os.Getenv("COMPAT_PRODUCE_TIMEOUT_MS")); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 60 * time.Second
}

func probe(bootstrap string) {
	cl := newClient([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.RequestRetries(0)})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	_, err := req.RequestWith(ctx, cl)
	enc := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = enc.Encode(map[string]any{"error": err.Error()})
		return
	}
	_ = enc.Encode(map[string]any{"ok": true})
}
