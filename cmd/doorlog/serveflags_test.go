package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeLimitFlagsRefused refuses limits that do not parse or that no
// server could run within, from flags and from the environment alike,
// before anything is opened.
func TestServeLimitFlagsRefused(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"memory not a size", nil, []string{"--memory", "lots"}, `"lots" is not a size`},
		{"memory too small", nil, []string{"--memory", "64MiB"}, "--memory 64MiB: want at least 96MiB"},
		{"memory from the environment", map[string]string{"DOORLOG_MEMORY": "12 parsecs"}, nil, `"12 parsecs" is not a size`},
		{"read timeout too short", nil, []string{"--read-timeout", "10ms"}, "--read-timeout 10ms: want at least 1s"},
		{"write timeout from the environment", map[string]string{"DOORLOG_WRITE_TIMEOUT": "soon"}, nil, `DOORLOG_WRITE_TIMEOUT="soon": want a duration`},
		{"idle timeout too short", nil, []string{"--idle-timeout", "0s"}, "--idle-timeout 0s: want at least 1s"},
		{"demo rate too high", nil, []string{"--demo", "--demo-rate", "50"}, "--demo-rate 50: want more than 0 and at most 5"},
		{"demo rate zero", map[string]string{"DOORLOG_DEMO_RATE": "0"}, []string{"--demo"}, "--demo-rate 0: want more than 0"},
		{"too few connections", nil, []string{"--max-connections", "3"}, "--max-connections 3: want at least 16"},
		{"connections from the environment", map[string]string{"DOORLOG_MAX_CONNECTIONS": "many"}, nil, `DOORLOG_MAX_CONNECTIONS="many": want an integer`},
		{"max body from the environment", map[string]string{"DOORLOG_MAX_BODY": "16M"}, nil, `DOORLOG_MAX_BODY="16M": want an integer`},
		{"max body negative", nil, []string{"--max-body", "-5"}, "--max-body -5: want 1024 to 16777216 bytes"},
		{"max body past the ingest share", nil, []string{"--max-body", "1073741824"}, "--max-body 1073741824: want 1024 to 16777216 bytes"},
		{"max body past a smaller budget's share", nil, []string{"--memory", "96MiB", "--max-body", "16777216"}, "--max-body 16777216: want 1024 to 8388608 bytes"},
		{"max body from the environment past the share", map[string]string{"DOORLOG_MAX_BODY": "33554432"}, nil, "--max-body 33554432: want 1024 to 16777216 bytes"},
		{"connections per address negative", nil, []string{"--max-connections-per-address", "-1"}, "--max-connections-per-address -1: want 0 (no limit) or more"},
		{"more streams than connections allow", nil, []string{"--max-connections", "100", "--max-streams", "90"}, "--max-streams 90: want 1 to 75"},
		{"no stream per token", nil, []string{"--max-streams-per-token", "0"}, "--max-streams-per-token 0: want at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tt.args...)
			err := runServe(context.Background(), args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		str  string
	}{
		{"192MiB", 192 << 20, "192MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"200MB", 200e6, "200000000B"},
		{"1.5GiB", 3 << 29, "1536MiB"},
		{"104857600", 100 << 20, "100MiB"},
		{" 64 KiB ", 64 << 10, "65536B"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b byteSize
			if err := b.Set(tt.in); err != nil || int64(b) != tt.want || b.String() != tt.str {
				t.Fatalf("got %d (%s), %v; want %d (%s)", int64(b), b.String(), err, tt.want, tt.str)
			}
		})
	}
	for _, bad := range []string{"", "MiB", "-1MiB", "12 TB", "1e99"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q): got %d, want an error", bad, int64(b))
		}
	}
}

// TestMaxBodyFollowsMemory starts a server with a smaller memory budget
// and no --max-body: its largest body is what the budget's ingest share
// holds (8 MiB of 96 MiB), and a larger one is a 413.
func TestMaxBodyFollowsMemory(t *testing.T) {
	dir := t.TempDir()
	base := startServe(t, dir, "--memory", "96MiB")
	var out strings.Builder
	if err := run(context.Background(), []string{"token", "create", "--role", "admin", "--data", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat(" ", 9<<20)
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+lastLine(out.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(answer), "8 MiB") {
		t.Fatalf("a 9 MiB body with --memory 96MiB: got %d %s, want 413 naming the 8 MiB limit", resp.StatusCode, answer)
	}
}
