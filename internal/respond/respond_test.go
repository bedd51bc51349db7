package respond_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{doorlog.EINVALID, 400}, {doorlog.EUNAUTHORIZED, 401}, {doorlog.EFORBIDDEN, 403}, {doorlog.ENOTFOUND, 404},
		{doorlog.ECONFLICT, 409}, {doorlog.ETOOLARGE, 413}, {doorlog.ETOOMANY, 429}, {doorlog.EUNAVAILABLE, 503},
		{doorlog.EINTERNAL, 500}, {"", 500}, {"something new", 500},
	}
	for _, tt := range tests {
		if got := respond.Status(tt.code); got != tt.want {
			t.Errorf("Status(%q): got %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{doorlog.Errorf(doorlog.ETOOMANY, "wait").Retry(time.Second), "1"},
		{doorlog.Errorf(doorlog.ETOOMANY, "wait").Retry(1500 * time.Millisecond), "2"},
		{doorlog.Errorf(doorlog.EUNAVAILABLE, "busy"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		respond.RetryAfter(w, tt.err)
		if got := w.Header().Get("Retry-After"); got != tt.want {
			t.Errorf("%v: got Retry-After %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestJSON(t *testing.T) {
	w := httptest.NewRecorder()
	if err := respond.JSON(w, http.StatusCreated, map[string]string{"a": "<b>&"}); err != nil {
		t.Fatal(err)
	}
	if w.Code != 201 || w.Body.String() != "{\"a\":\"<b>&\"}\n" || w.Header().Get("Content-Length") != "13" || w.Header().Get("Content-Type") != respond.ContentTypeJSON {
		t.Errorf("got %d %q %v, want 201, the value unescaped with its length", w.Code, w.Body.String(), w.Header())
	}
	w = httptest.NewRecorder()
	if err := respond.JSON(w, 200, math.Inf(1)); err == nil || w.Body.Len() != 0 || w.Code != 200 && w.Code != 0 {
		t.Errorf("a value that does not encode: got %v, %q written; want an error and nothing written", err, w.Body.String())
	}
}
