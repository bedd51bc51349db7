package cursor_test

import (
	"errors"
	"testing"

	"github.com/doorlog/doorlog/internal/cursor"
)

type pos struct {
	T  int64  `json:"t"`
	ID string `json:"i"`
}

func TestRoundTripAndTamper(t *testing.T) {
	c := cursor.New([]byte("0123456789abcdef0123456789abcdef"))
	c0 := c
	tok, err := c.Encode(pos{T: 1714557600000, ID: "000000000002A"})
	if err != nil {
		t.Fatal(err)
	}
	var got pos
	if err := c.Decode(tok, &got); err != nil || got != (pos{1714557600000, "000000000002A"}) {
		t.Fatalf("got %+v, %v, want the encoded position", got, err)
	}
	flipped := []byte(tok)
	flipped[3] ^= 1
	other := cursor.New([]byte("another key, another key, 32 by"))
	bad := map[string]string{
		"altered":    string(flipped),
		"truncated":  tok[:len(tok)-2],
		"empty":      "",
		"not base64": "!!!",
		"huge":       string(make([]byte, 5000)),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if err := c.Decode(b, &got); !errors.Is(err, cursor.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	// Every single-character change is caught, the last one included:
	// strict decoding refuses a final character whose unused bits are set.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range tok {
		for _, c := range alphabet {
			if byte(c) == tok[i] {
				continue
			}
			altered := tok[:i] + string(c) + tok[i+1:]
			if err := c0.Decode(altered, &got); err == nil {
				t.Fatalf("got no error for %q (position %d changed), want ErrInvalid", altered, i)
			}
		}
	}
	t.Run("other key", func(t *testing.T) {
		if err := other.Decode(tok, &got); !errors.Is(err, cursor.ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
}
