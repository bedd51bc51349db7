// Package seal encrypts the secrets doorlog must keep and use again, the
// pull collector's panel passwords, so that the store never holds them in
// clear: a copy of the store (a backup, a stolen disk image without the
// key) does not give away the panels' admin passwords.
//
// The key is 32 bytes: from the environment (DOORLOG_SECRET_KEY, base64)
// when set, else from a file beside the store, made on first use with
// mode 0600. Sealing is AES-256-GCM from the standard library, with a
// random nonce per secret.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the key's length in bytes.
const KeySize = 32

// EnvKey is the environment variable that holds the key, in base64.
const EnvKey = "DOORLOG_SECRET_KEY"

// version is the first byte of every sealed secret, so that a later key
// or cipher can be told apart.
const version = 1

// ErrOpen is returned when a sealed secret cannot be opened: another key,
// or damaged.
var ErrOpen = errors.New("seal: the secret cannot be opened with this key (was the key changed?)")

// Sealer seals and opens secrets with one key.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer with key (KeySize bytes).
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: a key is %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Load returns the Sealer of the key in the environment (value, when not
// "") or in the file at path, which is made with a new random key when it
// does not exist.
func Load(value, path string) (*Sealer, error) {
	if value != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("%s: want %d bytes in base64 (e.g. the output of: head -c %d /dev/urandom | base64)", EnvKey, KeySize, KeySize)
		}
		return New(key)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) != KeySize {
			return nil, fmt.Errorf("key file %s does not hold %d bytes in base64", path, KeySize)
		}
		return New(key)
	case errors.Is(err, os.ErrNotExist):
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		// O_EXCL: two processes starting at once agree on one key (the
		// loser reads the winner's).
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return Load("", path)
		}
		if err != nil {
			return nil, fmt.Errorf("make key file: %w", err)
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write key file: %w", err)
		}
		return New(key)
	default:
		return nil, fmt.Errorf("read key file: %w", err)
	}
}

// Seal encrypts a secret.
func (s *Sealer) Seal(plain string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := append([]byte{version}, nonce...)
	return s.aead.Seal(out, nonce, []byte(plain), []byte{version})
}

// Open decrypts a sealed secret.
func (s *Sealer) Open(sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != version {
		return "", ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte{version})
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
