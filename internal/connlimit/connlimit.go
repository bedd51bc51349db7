// Package connlimit bounds the connections a server holds: in all, and per
// client address. Every open connection costs memory and a goroutine
// whether or not it sends anything, and the server's read timeouts only cut
// a silent one after seconds; one client opening connections faster than
// they are cut could otherwise take every slot.
//
// Past the total, Accept waits until a connection closes (the kernel queues
// new ones meanwhile), as golang.org/x/net/netutil.LimitListener does. Past
// the limit of one address, the new connection is closed at once and Accept
// goes on with the next, so the other clients are not kept waiting behind
// it. Addresses for which Config.Exempt says so (loopback, a reverse proxy
// whose connections carry every client's requests) are counted in the
// total only.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Config is what a Listener bounds. Zero values mean no limit.
type Config struct {
	// Max is the most connections open at once.
	Max int
	// PerAddress is the most connections one client address (an IPv6
	// /64) has open at once.
	PerAddress int
	// Exempt, when set, names the addresses PerAddress does not apply to.
	Exempt func(netip.Addr) bool
}

// Listener is a net.Listener that keeps to a Config.
type Listener struct {
	net.Listener
	cfg   Config
	slots chan struct{} // one per open connection, when Max is set

	mu      sync.Mutex
	byAddr  map[netip.Addr]int
	refused atomic.Uint64
}

// New returns ln bounded by cfg.
func New(ln net.Listener, cfg Config) *Listener {
	l := &Listener{Listener: ln, cfg: cfg, byAddr: map[netip.Addr]int{}}
	if cfg.Max > 0 {
		l.slots = make(chan struct{}, cfg.Max)
	}
	return l
}

// Refused returns how many connections were closed at once for being past
// their address's limit.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Accept waits for and returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			l.slots <- struct{}{}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		key, counted := l.key(c)
		if counted && !l.take(key) {
			l.refused.Add(1)
			c.Close()
			l.freeSlot()
			continue
		}
		return &conn{Conn: c, l: l, key: key, counted: counted}, nil
	}
}

func (l *Listener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// key is the address c is counted under, and whether it is counted at all.
func (l *Listener) key(c net.Conn) (netip.Addr, bool) {
	if l.cfg.PerAddress <= 0 {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	a := ap.Addr().Unmap()
	if l.cfg.Exempt != nil && l.cfg.Exempt(a) {
		return netip.Addr{}, false
	}
	if a.Is6() {
		// One subscriber gets a whole /64 and picks addresses in it.
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a, true
}

func (l *Listener) take(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[a] >= l.cfg.PerAddress {
		return false
	}
	l.byAddr[a]++
	return true
}

func (l *Listener) give(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[a]--; l.byAddr[a] <= 0 {
		delete(l.byAddr, a)
	}
}

// conn gives its slots back when closed, once.
type conn struct {
	net.Conn
	l       *Listener
	key     netip.Addr
	counted bool
	once    sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.counted {
			c.l.give(c.key)
		}
		c.l.freeSlot()
	})
	return err
}
