package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/doorlog/doorlog/internal/aipix"
	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/oloid"
	"github.com/doorlog/doorlog/internal/openapi"
	"github.com/doorlog/doorlog/internal/openapi/openapitest"
	"github.com/doorlog/doorlog/internal/server"
)

// TestDocumentIsValid checks the document against the OpenAPI 3.1 schema
// and that every reference in it resolves.
func TestDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(openapi.Document())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got := doc.GetVersion(); !strings.HasPrefix(got, "3.1.") {
		t.Errorf("got openapi version %q, want 3.1.x", got)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("build model (unresolved $ref?): %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("not a valid OpenAPI 3.1 document: %s: %s", e.Message, e.Reason)
			for _, f := range e.SchemaValidationErrors {
				t.Errorf("  %s: %s", f.FieldPath, f.Reason)
			}
		}
	}
}

// TestDocumentConventions checks what the OpenAPI schema cannot: every
// operation has a unique operationId and a tag, and every operation that
// takes a token says what a missing one answers.
func TestDocumentConventions(t *testing.T) {
	var d struct {
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Security) > 0 {
		t.Errorf("got a global security requirement, want each operation to say its own")
	}
	ids := map[string]string{}
	for path, item := range d.Paths {
		for method, raw := range item {
			if !isMethod(method) {
				continue
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Tags        []string                   `json:"tags"`
				Security    *[]map[string]any          `json:"security"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q is also %s's", where, op.OperationID, other)
			}
			ids[op.OperationID] = where
			if len(op.Tags) != 1 {
				t.Errorf("%s: got tags %v, want exactly one", where, op.Tags)
			}
			if op.Security == nil {
				t.Errorf("%s: no security (write [] for none)", where)
				continue
			}
			if len(*op.Security) > 0 {
				if _, ok := op.Responses["401"]; !ok {
					t.Errorf("%s: takes a token but declares no 401", where)
				}
			}
		}
	}
}

// TestRoutesAndPathsAgree builds the real server and checks that every
// route registered on its mux is described, and every described operation
// is routed to a handler of its own (not to the JSON 404 of unknown paths
// or a 405 guard).
func TestRoutesAndPathsAgree(t *testing.T) {
	a, err := app.Open(context.Background(), app.Config{Data: t.TempDir(), Name: "test", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ops := describedOperations(t)

	// matched serves r through the real handler and returns the mux
	// pattern that took it and the status it answered.
	matched := func(method, path string) (pattern string, status int) {
		r := httptest.NewRequest(method, path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, r)
		io.Copy(io.Discard, w.Result().Body)
		return r.Pattern, w.Code
	}

	t.Run("every route is described", func(t *testing.T) {
		for _, pattern := range registeredPatterns(t, a.Server) {
			if pattern == "/" {
				continue // the JSON 404 of unknown paths
			}
			method, path, hasMethod := strings.Cut(pattern, " ")
			if !hasMethod {
				method, path = "", pattern
			}
			if _, ok := ops[path]; !ok {
				t.Errorf("route %q: path %s is not in openapi.json", pattern, path)
				continue
			}
			probe := method
			if probe == "" {
				probe = http.MethodPatch // no doorlog endpoint takes PATCH
			}
			if got, status := matched(probe, concrete(path)); got == pattern && status == http.StatusMethodNotAllowed {
				continue // a guard answering 405 for the other methods
			}
			if method == "" {
				t.Errorf("route %q takes every method, but does not answer 405 to %s; describe each method it serves", pattern, probe)
				continue
			}
			if !ops[path][method] {
				t.Errorf("route %q: openapi.json describes %s without %s", pattern, path, method)
			}
		}
	})

	t.Run("every operation is routed", func(t *testing.T) {
		for path, methods := range ops {
			for method := range methods {
				got, status := matched(method, concrete(path))
				gotMethod, gotPath, ok := strings.Cut(got, " ")
				if !ok {
					gotMethod, gotPath = "", got
				}
				switch {
				case gotPath != path:
					t.Errorf("%s %s is routed to %q, want a route for %s", method, path, got, path)
				case gotMethod != method && gotMethod != "":
					t.Errorf("%s %s is routed to %q", method, path, got)
				case status == http.StatusMethodNotAllowed:
					t.Errorf("%s %s answers 405 (route %q)", method, path, got)
				}
			}
		}
	})
}

// describedOperations returns the document's paths and, for each, its
// methods in upper case.
func describedOperations(t testing.TB) map[string]map[string]bool {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &d); err != nil {
		t.Fatal(err)
	}
	ops := map[string]map[string]bool{}
	for path, item := range d.Paths {
		ops[path] = map[string]bool{}
		for method := range item {
			if isMethod(method) {
				ops[path][strings.ToUpper(method)] = true
			}
		}
	}
	return ops
}

// isMethod reports whether a key of a path item is an operation.
func isMethod(key string) bool {
	switch key {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// concrete fills a path template's parameters with a UUID, which every
// doorlog path parameter takes.
func concrete(tmpl string) string {
	parts := strings.Split(tmpl, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") {
			parts[i] = "00000000-0000-4000-8000-000000000000"
		}
	}
	return strings.Join(parts, "/")
}

// registeredPatterns returns every pattern registered on the server's
// ServeMux. Neither server.Server nor http.ServeMux lists its routes, so
// this reads them by reflection (read-only): the Server's mux field and the
// ServeMux's routing index, which holds every registered pattern. When a Go
// release changes those internals this fails loudly, and this function is
// what to update.
func registeredPatterns(t testing.TB, srv *server.Server) []string {
	t.Helper()
	fail := func(what string) {
		t.Fatalf("cannot read the routes of the real mux (%s); net/http or internal/server changed: update registeredPatterns", what)
	}
	sv := reflect.ValueOf(srv).Elem().FieldByName("mux")
	if !sv.IsValid() || sv.Kind() != reflect.Pointer || sv.Type().Elem() != reflect.TypeFor[http.ServeMux]() {
		fail("server.Server has no *http.ServeMux field mux")
	}
	index := sv.Elem().FieldByName("index")
	if !index.IsValid() {
		fail("http.ServeMux has no field index")
	}
	seen := map[string]bool{}
	add := func(pats reflect.Value) {
		for i := range pats.Len() {
			str := pats.Index(i).Elem().FieldByName("str")
			if !str.IsValid() || str.Kind() != reflect.String {
				fail("http.pattern has no string field str")
			}
			seen[str.String()] = true
		}
	}
	segments, multis := index.FieldByName("segments"), index.FieldByName("multis")
	if !segments.IsValid() || segments.Kind() != reflect.Map || !multis.IsValid() || multis.Kind() != reflect.Slice {
		fail("http.routingIndex has no segments map and multis slice")
	}
	for it := segments.MapRange(); it.Next(); {
		add(it.Value())
	}
	add(multis)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	if !slices.Contains(out, "GET /openapi.json") || !slices.Contains(out, "GET /healthz") {
		fail("GET /openapi.json or GET /healthz missing from what was read")
	}
	return out
}

// TestServedDocument fetches /openapi.json from the real server through
// the validating client: the answer is the embedded document and matches
// its own description.
func TestServedDocument(t *testing.T) {
	a, err := app.Open(context.Background(), app.Config{Data: t.TempDir(), Name: "test", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	client := openapitest.New(t).Client(t)
	resp, err := client.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("got Content-Type %q, want application/json; charset=utf-8", got)
	}
	if string(body) != string(openapi.Document()) {
		t.Errorf("got a body of %d bytes, want the embedded document (%d bytes)", len(body), len(openapi.Document()))
	}
}

// TestDocumentMatchesCode checks the document's enums, limits and fixed
// messages against the constants of the code that answers them, so a new
// catalog entry or a reworded error shows up here.
func TestDocumentMatchesCode(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	activityTypes := []string{catalog.UnknownActivityType}
	for _, k := range cat.Keys() {
		if at := cat.Entry(k).ActivityType; !slices.Contains(activityTypes, at) {
			activityTypes = append(activityTypes, at)
		}
	}
	strs := func(vs ...any) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = fmt.Sprint(v)
		}
		return out
	}
	tests := []struct {
		pointer string
		want    []string
		sorted  bool // compare as sets
	}{
		{"/components/schemas/Category/enum", strs(toAny(doorlog.Categories)...), false},
		{"/components/schemas/Priority/enum", strs(toAny(doorlog.Priorities)...), false},
		{"/components/schemas/Locale/enum", catalog.Locales(), false},
		{"/components/schemas/OloidActivity/properties/activityType/enum", activityTypes, true},
		{"/components/parameters/BasipLimit/schema/default", strs(basip.DefaultLimit), false},
		{"/components/responses/BasipBadRequest/content/application~1json/schema/allOf/1/properties/error/enum", []string{
			basip.ErrWrongTimeFormat, basip.ErrWrongTimeRange, basip.ErrWrongLimit, basip.ErrWrongPage, basip.ErrWrongSortType,
			basip.ErrWrongField, basip.ErrWrongType, basip.ErrWrongFormat, basip.ErrWrongValue,
		}, false},
		{"/components/responses/BasipLogIn/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrLogIn}, false},
		{"/components/responses/BasipAdminRequired/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrAdminRequired}, false},
		{"/components/responses/BasipDeviceNotFound/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrDeviceNotFound}, false},
		{"/components/responses/BasipInternal/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrInternal}, false},
		{"/components/responses/BasipBusy/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrBusy}, false},
		{"/components/responses/NativeTooMany/content/application~1json/schema/allOf/1/properties/code/const", []string{doorlog.ETOOMANY}, false},
		{"/components/responses/BasipTooManyLogins/content/application~1json/schema/allOf/1/properties/error/const", []string{basip.ErrTooManyLogins}, false},
		{"/components/parameters/AipixPerPage/schema/maximum", strs(aipix.MaxPerPage), false},
		{"/components/parameters/AipixPerPage/schema/default", strs(aipix.DefaultPerPage), false},
		{"/components/parameters/AipixPage/schema/default", strs(aipix.DefaultPage), false},
		{"/components/responses/AipixUnauthenticated/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgUnauthenticated}, false},
		{"/components/responses/AipixForbidden/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgUnauthorized}, false},
		{"/components/responses/AipixNotFound/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgNotFound}, false},
		{"/components/responses/AipixTooLarge/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgTooLarge}, false},
		{"/components/responses/AipixServerError/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgServerError}, false},
		{"/components/responses/AipixUnavailable/content/application~1json/schema/allOf/1/properties/message/const", []string{aipix.MsgUnavailable}, false},
		{"/components/schemas/OloidFilterRequest/properties/limit/maximum", strs(oloid.MaxLimit), false},
		{"/components/schemas/OloidActivities/properties/message/const", []string{oloid.MessageActivities}, false},
		{"/components/schemas/OloidLogin/properties/message/const", []string{oloid.MessageLogin}, false},
		{"/components/schemas/OloidLogin/properties/data/properties/expiresIn/const", strs(int64(auth.LoginTTL.Seconds())), false},
		{"/paths/~1filterActivity/post/responses/401/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageUnauthorized}, false},
		{"/paths/~1filterActivity/post/responses/403/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageForbidden}, false},
		{"/paths/~1login/post/responses/401/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageInvalidCredentials}, false},
		{"/paths/~1login/post/responses/429/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageTooManyLogins}, false},
		{"/components/responses/OloidInternal/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageInternal}, false},
		{"/components/responses/OloidUnavailable/content/application~1json/schema/allOf/1/properties/message/const", []string{oloid.MessageUnavailable}, false},
	}
	for _, tt := range tests {
		t.Run(tt.pointer, func(t *testing.T) {
			v, ok := lookup(doc, tt.pointer)
			if !ok {
				t.Fatalf("openapi.json has nothing at %s", tt.pointer)
			}
			var got []string
			if list, isList := v.([]any); isList {
				got = strs(list...)
			} else {
				got = strs(v)
			}
			want := slices.Clone(tt.want)
			if tt.sorted {
				slices.Sort(got)
				slices.Sort(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q (from the code)", got, want)
			}
		})
	}
}

func toAny[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// lookup follows a JSON pointer (RFC 6901) into a decoded document.
func lookup(doc any, pointer string) (any, bool) {
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
