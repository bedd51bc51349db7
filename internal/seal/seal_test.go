package seal_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/doorlog/doorlog/internal/seal"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	s, err := seal.Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: got %v %v, want mode 0600", fi, err)
	}
	a, b := s.Seal("123456"), s.Seal("123456")
	if bytes.Equal(a, b) || bytes.Contains(a, []byte("123456")) {
		t.Errorf("sealed twice: got %x and %x, want different bytes without the secret", a, b)
	}
	// The same key file again opens what was sealed.
	again, err := seal.Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(a); err != nil || got != "123456" {
		t.Errorf("Open: got %q, %v, want the secret", got, err)
	}
	// Another key, or damage, cannot.
	other, err := seal.Load(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, seal.KeySize)), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(a); err != seal.ErrOpen {
		t.Errorf("Open with another key: got %v, want ErrOpen", err)
	}
	damaged := bytes.Clone(a)
	damaged[len(damaged)-1] ^= 1
	for _, bad := range [][]byte{damaged, nil, a[:5]} {
		if _, err := s.Open(bad); err != seal.ErrOpen {
			t.Errorf("Open(%x): got %v, want ErrOpen", bad, err)
		}
	}
	if _, err := seal.Load("not base64!", path); err == nil {
		t.Error("a bad key in the environment: got no error")
	}
}
