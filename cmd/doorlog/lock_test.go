package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
)

// TestOneServerPerStore runs real servers on one data directory: a second
// serve must exit non-zero saying which process serves it, while the first
// goes on serving and token create still works beside it; once the first
// is killed with SIGKILL, a new serve starts (the kernel dropped the lock).
func TestOneServerPerStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs servers; not in -short mode")
	}
	bin := durBuild(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first := durStart(t, bin, dir)
	firstPID := first.cmd.Process.Pid

	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"same --data":                    {"--data", dir},
		"--db naming the same file":      {"--db", "sqlite:" + filepath.Join(dir, app.DBFileName)},
		"--data through a symbolic link": {"--data", link},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := refusedServe(t, bin, args...)
			want := fmt.Sprintf("is already served by process %d, started ", firstPID)
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("second serve %v: got exit %v and output:\n%s\nwant a non-zero exit saying %q", args, err, out, want)
			}
			if !strings.Contains(out, filepath.Join(dir, app.DBFileName+app.LockSuffix)) {
				t.Errorf("got output %q, want it to name the lock file", out)
			}
		})
	}

	// The first server goes on, and token create works beside it.
	token := durToken(t, bin, dir)
	checkServing(t, first.base, token, "first server beside a refused second")

	// After a SIGKILL nothing is left to refuse a new server.
	first.kill(t)
	next := durStart(t, bin, dir)
	checkServing(t, next.base, token, "server after SIGKILL")
	out, err := refusedServe(t, bin, "--data", dir)
	if want := fmt.Sprintf("is already served by process %d, started ", next.cmd.Process.Pid); err == nil || !strings.Contains(out, want) {
		t.Fatalf("serve beside the restarted server: got exit %v and output:\n%s\nwant a non-zero exit saying %q", err, out, want)
	}
	next.term(t)
}

// refusedServe runs a serve that should be refused and returns its output
// and exit error. Should it start serving instead, the test fails at once.
func refusedServe(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := &durOutput{}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-done:
			out.mu.Lock()
			defer out.mu.Unlock()
			return out.buf.String(), err
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := c.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("serve %v started serving a data directory another server serves", args)
		}
	}
}

// checkServing creates a site and reads it back through the server.
func checkServing(t *testing.T, base, token, what string) {
	t.Helper()
	id := fmt.Sprintf("s%d", time.Now().UnixNano())
	for _, step := range []struct{ method, path, body string }{
		{"POST", "/v1/sites", `{"id":"` + id + `","name":"Site"}`},
		{"GET", "/v1/sites", ""},
	} {
		req, _ := http.NewRequest(step.method, base+step.path, strings.NewReader(step.body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %s %s: %v", what, step.method, step.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %s %s: got status %d, want success", what, step.method, step.path, resp.StatusCode)
		}
	}
}
