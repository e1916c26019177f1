// Command certs makes what a secured ring needs: a CA and a certificate per
// member (mutual TLS), an admin client's certificate, and a ring keyring.
// For a three-member ring on one machine:
//
//	go run ./examples/certs -dir secrets -nodes 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//
// writes secrets/ca.pem and ca-key.pem, secrets/127.0.0.1_7001.pem and
// -key.pem for each member, secrets/admin.pem and admin-key.pem, and
// secrets/ring.key. Then start each member with its files:
//
//	go run ./examples/cluster -listen 127.0.0.1:7001 -key-file secrets/ring.key \
//	    -tls-ca secrets/ca.pem -tls-cert secrets/127.0.0.1_7001.pem -tls-key secrets/127.0.0.1_7001-key.pem
//
// Either way alone also secures the ring (see the README, "Security"). Keep
// ca-key.pem off the members: it signs new members.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/genserverring/genserverring-go/ringactor"
)

func main() {
	dir := flag.String("dir", "secrets", "directory to write into (made if missing)")
	nodes := flag.String("nodes", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", "comma-separated host:port of the members")
	validFor := flag.Duration("valid", 365*24*time.Hour, "validity of the CA and the certificates")
	key := flag.Bool("key", true, "also write a new ring keyring, ring.key")
	flag.Parse()
	if err := run(*dir, strings.Split(*nodes, ","), *validFor, *key); err != nil {
		fmt.Fprintf(os.Stderr, "certs: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string, nodes []string, validFor time.Duration, withKey bool) error {
	for i := range nodes {
		nodes[i] = strings.TrimSpace(nodes[i])
	}
	configs, err := ringactor.MakeCertificates(dir, nodes, validFor)
	if err != nil {
		return err
	}
	for i, cfg := range configs {
		fmt.Printf("%s: -tls-ca %s -tls-cert %s -tls-key %s\n", nodes[i], cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	}
	if !withKey {
		return nil
	}
	keyFile := filepath.Join(dir, "ring.key")
	if _, err := os.Stat(keyFile); err == nil {
		return fmt.Errorf("%s exists: not overwritten (rotate keys by adding a line, see the README)", keyFile)
	}
	ringKey, err := ringactor.GenerateKey()
	if err != nil {
		return err
	}
	text := "# GenServerring ring keyring: base64 keys, one a line, the primary first.\n" + ringactor.EncodeKey(ringKey) + "\n"
	if err := os.WriteFile(keyFile, []byte(text), 0o600); err != nil {
		return err
	}
	fmt.Printf("ring key: -key-file %s\n", keyFile)
	return nil
}
