package connlimit_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/connlimit"
)

// serve accepts on l and holds each connection until the client closes
// it, reading nothing.
func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

// open dials addr and reports whether the server kept the connection
// (a closed one reads EOF at once).
func open(t *testing.T, addr string) (net.Conn, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	_, err = c.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		_ = c.SetReadDeadline(time.Time{})
		return c, true
	}
	c.Close()
	return nil, false
}

// TestPerAddress keeps at most PerAddress connections of one address and
// closes the next at once; a closed one makes room. Real sockets on
// loopback, which the test does not exempt.
func TestPerAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Config{Max: 100, PerAddress: 3})
	defer l.Close()
	go serve(l)
	var kept []net.Conn
	for i := range 3 {
		c, ok := open(t, ln.Addr().String())
		if !ok {
			t.Fatalf("connection %d of 3 was closed, want it kept", i+1)
		}
		kept = append(kept, c)
	}
	if _, ok := open(t, ln.Addr().String()); ok {
		t.Fatal("a 4th connection of one address was kept, want it closed")
	}
	if l.Refused() != 1 {
		t.Errorf("Refused: got %d, want 1", l.Refused())
	}
	kept[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, ok := open(t, ln.Addr().String())
		if ok {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's slot never came back")
		}
	}
	for _, c := range kept[1:] {
		c.Close()
	}
}

// TestExempt counts exempt addresses in the total only.
func TestExempt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Config{Max: 100, PerAddress: 1, Exempt: netip.Addr.IsLoopback})
	defer l.Close()
	go serve(l)
	for i := range 5 {
		c, ok := open(t, ln.Addr().String())
		if !ok {
			t.Fatalf("exempt connection %d was closed, want it kept", i+1)
		}
		defer c.Close()
	}
}

// TestMax makes the connection past the total wait until one closes.
func TestMax(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Config{Max: 2})
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a 3rd connection was accepted past Max 2")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the 3rd connection was not accepted after one closed")
	}
}
