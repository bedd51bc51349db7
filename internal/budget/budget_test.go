package budget_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/doorlog"
)

const wait = 50 * time.Millisecond

func TestReserveAndRelease(t *testing.T) {
	p := budget.New("test", 1000, wait)
	ctx := context.Background()
	r, err := p.Reserve(ctx, 600)
	if err != nil {
		t.Fatalf("Reserve(600): %v", err)
	}
	if got := p.Used(); got != 600 {
		t.Errorf("Used after Reserve(600): got %d, want 600", got)
	}
	if _, err := p.Reserve(ctx, 500); !errors.Is(err, budget.ErrFull) {
		t.Errorf("Reserve(500) with 400 free: got %v, want ErrFull", err)
	}
	if got := p.Refused(); got != 1 {
		t.Errorf("Refused: got %d, want 1", got)
	}
	r.Shrink(100)
	if got := p.Used(); got != 100 {
		t.Errorf("Used after Shrink(100): got %d, want 100", got)
	}
	r2, err := p.Reserve(ctx, 50)
	if err != nil {
		t.Fatalf("Reserve(50) after Shrink: %v", err)
	}
	if err := r2.Grow(ctx, 900); !errors.Is(err, budget.ErrFull) {
		t.Errorf("Grow to 950 while another holds 100: got %v, want ErrFull", err)
	}
	r.Release()
	r.Release()
	if err := r2.Grow(ctx, 5000); err != nil || r2.Bytes() != 750 {
		t.Errorf("Grow past the pool, alone: got %d bytes, %v; want the large share (750), never more", r2.Bytes(), err)
	}
	r2.Release()
	if got := p.Used(); got != 0 {
		t.Errorf("Used after every Release: got %d, want 0", got)
	}
	big, err := p.Reserve(ctx, 1<<40)
	if err != nil || big.Bytes() != 750 {
		t.Fatalf("Reserve of more than the pool: got %v bytes, %v; want the large share (750)", big.Bytes(), err)
	}
	// Beside the largest reservation, small ones still fit.
	small, err := p.Reserve(ctx, 60)
	if err != nil {
		t.Fatalf("a small reservation beside the largest one: %v", err)
	}
	small.Release()
	big.Release()
}

// TestWaitsForRoom has a reservation wait for another to end rather than
// fail at once.
func TestWaitsForRoom(t *testing.T) {
	p := budget.New("test", 1000, 5*time.Second)
	r, _ := p.Reserve(context.Background(), 1000)
	go func() {
		time.Sleep(20 * time.Millisecond)
		r.Release()
	}()
	r2, err := p.Reserve(context.Background(), 800)
	if err != nil {
		t.Fatalf("got %v, want the reservation once the other was released", err)
	}
	r2.Release()
}

// TestLargeLeaveRoomForSmall fills a pool with large reservations: they
// get at most three quarters of it, and small ones still find room.
func TestLargeLeaveRoomForSmall(t *testing.T) {
	const size = 1600 // large is over 100
	p := budget.New("test", size, wait)
	ctx := context.Background()
	var large []*budget.Reservation
	for {
		r, err := p.Reserve(ctx, 300)
		if err != nil {
			break
		}
		large = append(large, r)
	}
	if held := int64(len(large)) * 300; held > size*3/4 {
		t.Errorf("large reservations hold %d bytes, want at most %d", held, size*3/4)
	}
	if len(large) != 4 {
		t.Errorf("got %d large reservations of 300, want 4 (1200 of 1600)", len(large))
	}
	// A small one grown into a large one counts as large from then on.
	small, err := p.Reserve(ctx, 100)
	if err != nil {
		t.Fatalf("a small reservation beside the large ones: %v", err)
	}
	if err := small.Grow(ctx, 100); !errors.Is(err, budget.ErrFull) {
		t.Errorf("growing a small reservation into a large one while the large ones are full: got %v, want ErrFull", err)
	}
	small2, err := p.Reserve(ctx, 100)
	if err != nil {
		t.Fatalf("a second small reservation: %v", err)
	}
	for _, r := range large {
		r.Release()
	}
	small.Release()
	small2.Release()
	if p.Used() != 0 {
		t.Errorf("Used: got %d, want 0", p.Used())
	}
	// Every large byte came back: four large ones fit again.
	for range 4 {
		r, err := p.Reserve(ctx, 300)
		if err != nil {
			t.Fatalf("large reservation after every release: %v", err)
		}
		defer r.Release()
	}
}

func TestNilPoolIsUnlimited(t *testing.T) {
	var p *budget.Pool
	r, err := p.Reserve(context.Background(), 1<<50)
	if err != nil {
		t.Fatalf("Reserve on a nil pool: %v", err)
	}
	r.Shrink(5)
	r.Release()
	if p.Used() != 0 || p.Size() != 0 {
		t.Errorf("a nil pool reports used %d, size %d; want 0, 0", p.Used(), p.Size())
	}
}

// TestPageReservation reserves a page's worst case, but no more than a
// small reservation, and fits it to the events read, growing when they
// hold more.
func TestPageReservation(t *testing.T) {
	const size = 64 << 20 // large is over 4 MiB
	p := budget.New("test", size, wait)
	ctx := context.Background()
	r, err := p.ReservePage(ctx, 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Bytes(), budget.PageCost(1000, 1<<20+doorlog.MaxModelBytes); got != want {
		t.Errorf("worst case of a page bounded by bytes: got %d, want %d", got, want)
	}
	events := []doorlog.Event{{Model: make([]byte, 300)}, {Model: make([]byte, 700)}}
	if err := r.Fit(ctx, events); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Bytes(), budget.PageCost(2, 1000); got != want {
		t.Errorf("after Fit: got %d, want %d", got, want)
	}
	r.Release()

	// A page of 1,000 rows without a byte bound: its worst case (32 MiB)
	// is not reserved up front, only a small share; the rows it really
	// holds are reserved once read.
	r, err = p.ReservePage(ctx, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Bytes(); got != size/16 {
		t.Errorf("a page's worst case beyond a small reservation: got %d reserved, want %d", got, size/16)
	}
	big := make([]doorlog.Event, 400)
	for i := range big {
		big[i].Model = make([]byte, doorlog.MaxModelBytes)
	}
	if err := r.Fit(ctx, big); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Bytes(), budget.PageCost(400, 400*doorlog.MaxModelBytes); got != want {
		t.Errorf("after Fit to a page of 400 large models: got %d, want %d", got, want)
	}
	// With the large share taken, such a page cannot be held: Fit fails
	// and the caller refuses the request.
	r.Release()
	hog, err := p.Reserve(ctx, size)
	if err != nil {
		t.Fatal(err)
	}
	r, err = p.ReservePage(ctx, 1000, 0)
	if err != nil {
		t.Fatalf("a small reservation beside the large share: %v", err)
	}
	if err := r.Fit(ctx, big); !errors.Is(err, budget.ErrFull) {
		t.Errorf("Fit to a large page while the large share is taken: got %v, want ErrFull", err)
	}
	r.Release()
	hog.Release()
	if p.Used() != 0 {
		t.Errorf("Used: got %d, want 0", p.Used())
	}
}

// TestConcurrent reserves, grows, shrinks and releases from many
// goroutines: the pool never hands out more than it has, and gets every
// byte back. Run with -race.
func TestConcurrent(t *testing.T) {
	const size = 10000
	p := budget.New("test", size, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 2000 {
				r, err := p.Reserve(context.Background(), rng.Int64N(size/4))
				if err != nil {
					continue
				}
				_ = r.Grow(context.Background(), rng.Int64N(size/8))
				if u := p.Used(); u > size {
					t.Errorf("Used %d is over the pool's %d", u, size)
				}
				r.Shrink(rng.Int64N(size / 8))
				r.Release()
			}
		})
	}
	wg.Wait()
	if u := p.Used(); u != 0 {
		t.Errorf("Used after everything was released: got %d, want 0", u)
	}
	// Every byte came back to both semaphores: the large share and the
	// rest can be taken again.
	r, err := p.Reserve(context.Background(), size)
	if err != nil || r.Bytes() != size*3/4 {
		t.Fatalf("the large share after the run: got %v, %v", r, err)
	}
	r2, err := p.Reserve(context.Background(), size/16)
	if err != nil {
		t.Fatalf("a small reservation beside it: %v", err)
	}
	r.Release()
	r2.Release()
}
