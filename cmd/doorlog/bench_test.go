package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestBenchRefusesBadFlags checks that the bench refuses flags it cannot
// run with before it starts a server (a --victorialogs the run could not
// use included, rather than after the doorlog run).
func TestBenchRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"negative dense", []string{"--dense", "-1"}, "--dense must not be negative"},
		{"unknown arrival", []string{"--arrival", "sideways"}, `--arrival "sideways"`},
		{"no events", []string{"--events", "0"}, "must be positive"},
		{"no such victorialogs", []string{"--victorialogs", "/nonexistent/victoria-logs"}, "--victorialogs: exec: \"/nonexistent/victoria-logs\""},
		{"victorialogs with --abuse", []string{"--abuse", "--victorialogs", "/bin/true"}, "--abuse does not take --victorialogs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runBench(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
