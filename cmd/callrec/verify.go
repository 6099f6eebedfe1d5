package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/web"
)

// verifyCommand is `callrec verify (--key BASE64 | --key-url URL) ARCHIVE.zip`: it checks an
// archive callrec made — the manifest's Ed25519 signature, and every file's size and SHA-256
// against it — and prints one line per file. Exit 0 when everything holds, 1 when anything does
// not (each problem printed), 2 on a usage error. It reads nothing of callrec's configuration.
func verifyCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	keyB64 := fs.String("key", "", "the public key: public_key of GET /api/v1/signing-key (base64 of the 32 raw bytes)")
	keyURL := fs.String("key-url", "", "fetch the public key from this callrec (its base URL, or the /api/v1/signing-key URL)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 1 || (*keyB64 == "") == (*keyURL == "") {
		return &exitError{code: 2, err: errors.New("usage: callrec verify (--key BASE64 | --key-url URL) ARCHIVE.zip")}
	}
	pub, err := verifyKey(ctx, *keyB64, *keyURL)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify: %w", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify: %w", err)}
	}
	m, err := web.VerifyArchive(f, fi.Size(), pub)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %s:\n", fs.Arg(0))
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stdout, "  %s\n", line)
		}
		return &exitError{code: 1, err: fmt.Errorf("verify %s: the archive is not as callrec signed it", fs.Arg(0))}
	}
	for _, mf := range m.Files {
		fmt.Fprintf(stdout, "OK   %s  %s  recording %s\n", mf.SHA256, mf.Name, mf.RecordingID)
	}
	fmt.Fprintf(stdout, "OK %s: %d files, manifest signed by key %s on %s\n", fs.Arg(0), len(m.Files), m.KeyID, m.CreatedAt.Format(time.RFC3339))
	return nil
}

// verifyKey decodes the public key given, or fetches it from a callrec.
func verifyKey(ctx context.Context, b64, url string) (ed25519.PublicKey, error) {
	if url != "" {
		var err error
		if b64, err = fetchSigningKey(ctx, url); err != nil {
			return nil, err
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verify: the key must be the base64 of a 32-byte Ed25519 public key (public_key of GET /api/v1/signing-key)")
	}
	return ed25519.PublicKey(raw), nil
}

// fetchSigningKey reads public_key from a callrec's /api/v1/signing-key.
func fetchSigningKey(ctx context.Context, url string) (string, error) {
	url = strings.TrimSuffix(url, "/")
	if !strings.HasSuffix(url, "/signing-key") {
		url += "/api/v1/signing-key"
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("verify: fetch the signing key: %w", err)
	}
	defer resp.Body.Close()
	var k struct {
		PublicKey string `json:"public_key"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("verify: %s answered %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&k); err != nil {
		return "", fmt.Errorf("verify: %s: %w", url, err)
	}
	return k.PublicKey, nil
}
