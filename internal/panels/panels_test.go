package panels_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/panels"
)

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPendingStartClose: an address set before Start is pending and
// served from Start on; Close stops every address and later Sets do
// nothing.
func TestPendingStartClose(t *testing.T) {
	m := panels.New(panels.Config{
		Handler: func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, id) })
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	a, b := freeAddr(t), freeAddr(t)
	m.Set("dev-a", a)
	if st, ok := m.Status("dev-a"); !ok || st.State != panels.StatePending || st.Address != a {
		t.Errorf("before Start: got %+v %v, want pending on %s", st, ok, a)
	}
	m.Start([]*doorlog.Device{{ID: "dev-b", Listen: b}, {ID: "dev-c"}})
	for id, addr := range map[string]string{"dev-a": a, "dev-b": b} {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != id {
			t.Errorf("%s's address answers %q, want %q", id, got, id)
		}
		if st, _ := m.Status(id); st.State != panels.StateListening {
			t.Errorf("%s: got state %q, want listening", id, st.State)
		}
	}
	if _, ok := m.Status("dev-c"); ok {
		t.Error("a device without an address has a status")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{a, b} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepts connections after Close", addr)
		}
	}
	m.Set("dev-d", freeAddr(t))
	if _, ok := m.Status("dev-d"); ok {
		t.Error("Set after Close recorded an address")
	}
}
