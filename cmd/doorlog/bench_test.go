package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestBenchVictoriaLogsFlag checks that a --victorialogs the run could not
// use is refused before any server starts, not after the doorlog run.
func TestBenchVictoriaLogsFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no such binary", []string{"bench", "--victorialogs", "/nonexistent/victoria-logs"}, "--victorialogs: exec: \"/nonexistent/victoria-logs\""},
		{"not with --abuse", []string{"bench", "--abuse", "--victorialogs", "/bin/true"}, "--abuse does not take --victorialogs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
