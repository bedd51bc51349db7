package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is a doorlog server the bench started as a child process, with
// its data in a directory of its own.
type Server struct {
	// URL is the server's root; Token an admin token of every site.
	URL, Token string
	// Dir holds the data directory (Dir/data) and the server's log
	// (Dir/server.log).
	Dir string

	proc *child
}

// StartServer creates an admin token with "exe token create" in a new
// directory under parent (the system's temporary directory when empty),
// then starts "exe serve" on a free loopback port with its data there and
// waits until /readyz answers 200. exe is the doorlog binary, normally
// os.Executable(); args are added to serve's. Stop the server with Stop,
// and remove Dir when done.
func StartServer(ctx context.Context, exe, parent string, args ...string) (*Server, error) {
	dir, err := os.MkdirTemp(parent, "doorlog-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	data := filepath.Join(dir, "data")
	var out, errOut bytes.Buffer
	tok := exec.CommandContext(ctx, exe, "token", "create", "--role", "admin", "--data", data)
	tok.Stdout, tok.Stderr = &out, &errOut
	if err := tok.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s token create: %w: %s", exe, err, bytes.TrimSpace(errOut.Bytes()))
	}
	lines := strings.Fields(strings.TrimSpace(out.String()))
	if len(lines) == 0 {
		return nil, fmt.Errorf("bench: %s token create printed no token", exe)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + addr, Token: lines[len(lines)-1], Dir: dir}
	s.proc, err = startChild(ctx, exe, append([]string{"serve", "--addr", addr, "--data", data, "--log-level", "warn"}, args...),
		filepath.Join(dir, "server.log"), s.URL+"/readyz")
	if err != nil {
		return nil, fmt.Errorf("bench: %s serve: %w", exe, err)
	}
	return s, nil
}

// Target returns the server as a bench target: its RSS is sampled, and its
// data directory measured after Stop.
func (s *Server) Target() Target {
	return Target{
		BaseURL: s.URL, Token: s.Token, Backend: "sqlite",
		PID: s.proc.pid(), DataDir: filepath.Join(s.Dir, "data"),
		Stop: func(context.Context) error { return s.Stop() },
	}
}

// Stop sends the server SIGTERM and waits for it to finish (it finishes
// in-flight requests and closes its store, which checkpoints the WAL into
// the database file); after a minute it is killed. Stop may be called more
// than once.
func (s *Server) Stop() error { return s.proc.stop() }

// child is a server the bench started as a child process, with its output
// in a log file.
type child struct {
	cmd      *exec.Cmd
	log      *os.File
	waitCh   <-chan error
	stopOnce sync.Once
	stopErr  error
}

// startChild starts exe with args, its output going to the file logPath,
// and waits until ready answers 200.
func startChild(ctx context.Context, exe string, args []string, logPath, ready string) (*child, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	// Not CommandContext: the server is stopped with SIGTERM by stop, so
	// that it closes its store, not killed when ctx ends.
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := waitReady(ctx, ready, exited); err != nil {
		_ = cmd.Process.Kill()
		log.Close()
		return nil, fmt.Errorf("not ready: %w; its log: %s", err, tail(logPath))
	}
	// Wait is running in the goroutine above; stop reads its answer.
	return &child{cmd: cmd, log: log, waitCh: exited}, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits for the process to end; after a minute it
// is killed. It may be called more than once.
func (c *child) stop() error {
	c.stopOnce.Do(func() {
		defer c.log.Close()
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			c.stopErr = fmt.Errorf("bench: signal the server: %w", err)
		}
		select {
		case err := <-c.waitCh:
			if err != nil {
				c.stopErr = errors.Join(c.stopErr, fmt.Errorf("bench: the server exited: %w", err))
			}
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-c.waitCh
			c.stopErr = errors.Join(c.stopErr, errors.New("bench: the server did not stop within a minute of SIGTERM and was killed"))
		}
	})
	return c.stopErr
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls the URL ready until it answers 200, the process exits,
// or 30 seconds pass.
func waitReady(ctx context.Context, ready string, exited <-chan error) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("it exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s within 30s", ready)
		}
	}
}

// tail returns the end of a file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// rssSampler reads a process's resident memory at an interval and keeps
// the largest value.
type rssSampler struct {
	pid  int
	quit chan struct{}
	done chan struct{}
	max  atomic.Int64
}

func startRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.read()
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// resetPeak makes the kernel start the process's peak RSS (VmHWM) afresh,
// so that the next samples give the peak of what follows. It fails
// quietly where /proc does not allow it; the samples of VmRSS still count.
func resetPeak(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

func (s *rssSampler) read() {
	path := "/proc/" + strconv.Itoa(s.pid) + "/status"
	// VmHWM is the peak the kernel saw, which catches a spike between
	// two samples; VmRSS is the current value.
	for _, f := range []string{"VmRSS", "VmHWM"} {
		v := parseKB(procField(path, f))
		for {
			old := s.max.Load()
			if v <= old || s.max.CompareAndSwap(old, v) {
				break
			}
		}
	}
}

// peak returns the largest RSS seen so far, reading it once more; 0 when
// none could be read. It may be called while the sampling runs.
func (s *rssSampler) peak() int64 {
	s.read()
	return s.max.Load()
}

// stop ends the sampling and returns the largest RSS seen, 0 when none
// could be read.
func (s *rssSampler) stop() int64 {
	close(s.quit)
	<-s.done
	s.read()
	return s.max.Load()
}
