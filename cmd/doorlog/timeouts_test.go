package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// TestSlowBodyIsAnswered sends an ingest body more slowly than the write
// timeout but within the read timeout: the events are stored, and the
// sender must be told so, or it sends them again. The write timeout bounds
// writing the answer, not reading the request.
func TestSlowBodyIsAnswered(t *testing.T) {
	dir := t.TempDir()
	base := startServe(t, dir, "--read-timeout", "10s", "--write-timeout", "1s")
	ctx := context.Background()
	// A token and a device, made beside the running server as the CLI does.
	store, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	const device = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	if err := store.CreateSite(ctx, &doorlog.Site{ID: "north", Name: "North"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDevice(ctx, &doorlog.Device{ID: device, SiteID: "north", Name: "Gate"}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	var out strings.Builder
	if err := run(ctx, []string{"token", "create", "--role", "admin", "--data", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	token := lastLine(out.String())

	body := fmt.Sprintf(`{"device_id":%q,"time":1714557600000,"key":"door_was_opened","source_id":"slow-1"}`, device)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, len(body))
	// Half the body now, the rest after twice the write timeout.
	half := len(body) / 2
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer to a body sent in 2.5 s with a 1 s write timeout: %v (the event was stored, and the sender was not told)", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(answer), `"accepted":1`) {
		t.Fatalf("got %d %s, want 200 with the event accepted", resp.StatusCode, answer)
	}
}
