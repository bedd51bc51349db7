// Package cursor makes opaque, tamper-evident paging tokens: a payload
// (JSON) followed by an HMAC-SHA256 of it under a server key, in unpadded
// base64url. A client can pass a token back but cannot make or alter one,
// so a cursor never needs validating beyond its signature.
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/doorlog/doorlog/internal/doorlog"
)

const macLen = 16 // a truncated HMAC-SHA256: 128 bits resist forgery amply

// Codec signs and opens cursors with one key.
type Codec struct {
	key []byte
}

// New returns a Codec using key (see doorlog.Store.ServerKey).
func New(key []byte) *Codec { return &Codec{key: key} }

// Encode returns the token for v, which must marshal to JSON.
func (c *Codec) Encode(v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(payload, c.mac(payload)...)), nil
}

// ErrInvalid is returned for a token that is malformed, altered or signed
// with another key.
var ErrInvalid = doorlog.Errorf(doorlog.EINVALID, "invalid cursor")

// Decode checks token's signature and unmarshals its payload into v.
func (c *Codec) Decode(token string, v any) error {
	if len(token) > 4096 {
		return ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) <= macLen {
		return ErrInvalid
	}
	payload, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, c.mac(payload)) {
		return ErrInvalid
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return ErrInvalid
	}
	return nil
}

func (c *Codec) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write(payload)
	return h.Sum(nil)[:macLen]
}
