// Package openapitest checks HTTP exchanges made by tests against doorlog's
// OpenAPI document (package openapi), so the document cannot drift from
// what the server really does.
//
// Wrap a client's transport with Transport: every request and response that
// goes through it is validated and a mismatch fails the test, with the
// method, path, status and each schema violation in the message.
//
//	v := openapitest.New(t)
//	client := &http.Client{Transport: v.Transport(t, nil)}
//
// The rules:
//
//   - Every response must match the document: its status must be declared
//     for the operation, its Content-Type must be one the document lists for
//     that status, and its body must validate against that media type's
//     schema. Streaming bodies (text/event-stream) are checked for status and
//     media type only, so a test can read a live stream; NDJSON bodies are
//     checked line by line against the media type's schema, which describes
//     one line.
//   - A request the document calls invalid (a missing token, a parameter out
//     of its enum, a body that breaks the schema) must not succeed: tests
//     send such requests on purpose, so a 4xx answer is fine, but a 2xx or
//     3xx means the document is stricter than the server.
//   - A path or method the document does not describe fails the test.
//
// A test that sends a request the document calls invalid and expects it to
// succeed all the same (an ingest batch with a bad item, answered 200 with
// the item rejected) marks it with InvalidOnPurpose; its response is still
// checked.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/doorlog/doorlog/internal/openapi"
)

// Validator validates HTTP exchanges against the embedded document. It is
// safe for concurrent use.
type Validator struct {
	model *v3.Document
	// full validates requests and responses; noBody checks responses'
	// status and headers only, for bodies that are checked another way.
	full, noBody validator.Validator
	schemas      schema_validation.SchemaValidator
	version      float32
}

var (
	shared     *Validator
	sharedErr  error
	sharedOnce sync.Once
)

// New returns the Validator of the embedded document. Building it takes a
// moment, so it is built once per test binary and shared.
func New(tb testing.TB) *Validator {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = build(openapi.Document()) })
	if sharedErr != nil {
		tb.Fatalf("openapi: %v", sharedErr)
	}
	return shared
}

// build parses the document and makes its validators.
func build(doc []byte) (*Validator, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("parse the document: %w", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build the document's model: %w", err)
	}
	opts := []config.Option{config.WithFormatAssertions()}
	return &Validator{
		model:   &m.Model,
		full:    validator.NewValidatorFromV3Model(&m.Model, opts...),
		noBody:  validator.NewValidatorFromV3Model(&m.Model, append(opts, config.WithoutResponseBodyValidation())...),
		schemas: schema_validation.NewSchemaValidator(opts...),
		version: 3.1,
	}, nil
}

// Client returns an HTTP client whose every exchange is validated (see
// Transport). It does not follow redirects, so each one is checked.
func (v *Validator) Client(tb testing.TB) *http.Client {
	return &http.Client{
		Transport: v.Transport(tb, nil),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Transport returns a RoundTripper that sends through next
// (http.DefaultTransport when nil) and validates every exchange, failing tb
// with Errorf when one does not match the document.
func (v *Validator) Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{v: v, tb: tb, next: next}
}

type transport struct {
	v    *Validator
	tb   testing.TB
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The body is read once, for the validator, and sent from memory on a
	// copy of the request: a RoundTripper must not change the caller's.
	var body []byte
	send := req
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		send = req.Clone(req.Context())
		send.Body = io.NopCloser(bytes.NewReader(body))
		send.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	// A path or method the document lacks is reported once, with the
	// response.
	reqErrs := describe(t.v.requestErrors(req, body, false))

	resp, err := t.next.RoundTrip(send)
	if err != nil {
		return nil, err
	}
	// The validators only read the request's method, URL and headers from
	// here on.
	probe := req.Clone(req.Context())
	probe.Body = http.NoBody

	var respErrs []string
	if mediaType(resp.Header) == "text/event-stream" {
		// A live stream does not end: check the status and the media type,
		// and leave the body to the test.
		respErrs = t.v.checkResponse(probe, resp, nil, false)
	} else {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return resp, nil // the test sees the same error reading the body
		}
		respErrs = t.v.checkResponse(probe, resp, b, true)
	}

	where := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	if len(respErrs) > 0 {
		t.tb.Errorf("openapi: %s: the response does not match openapi.json:\n  - %s", where, strings.Join(respErrs, "\n  - "))
	}
	if len(reqErrs) > 0 && resp.StatusCode < 400 && req.Context().Value(onPurpose{}) == nil {
		t.tb.Errorf("openapi: %s: openapi.json says the request is invalid, but the server accepted it:\n  - %s", where, strings.Join(reqErrs, "\n  - "))
	}
	return resp, nil
}

type onPurpose struct{}

// InvalidOnPurpose returns r marked as a request the test knows the document
// calls invalid, so that the server accepting it is not reported. The
// response is still validated.
func InvalidOnPurpose(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), onPurpose{}, true))
}

// CheckRequest validates a request whose body is body (the request's own
// Body is not read) and returns each violation as a sentence; none means
// the document accepts it. An NDJSON body is checked line by line.
func (v *Validator) CheckRequest(req *http.Request, body []byte) []string {
	return describe(v.requestErrors(req, body, true))
}

// requestErrors validates a request; withPath false leaves out a path or
// method missing from the document.
func (v *Validator) requestErrors(req *http.Request, body []byte, withPath bool) []*liberrors.ValidationError {
	mk := func(b []byte) *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		return r
	}
	var out []*liberrors.ValidationError
	keep := func(prefix string, errs []*liberrors.ValidationError) {
		for _, e := range errs {
			if !withPath && (e.IsPathMissingError() || e.IsOperationMissingError()) {
				continue
			}
			if prefix != "" {
				c := *e
				c.Message = prefix + c.Message
				e = &c
			}
			out = append(out, e)
		}
	}
	if isNDJSON(mediaType(req.Header)) {
		lines := ndjsonLines(body)
		if len(lines) == 0 {
			lines = [][]byte{nil}
		}
		for i, line := range lines {
			_, errs := v.full.ValidateHttpRequestSync(mk(line))
			keep(fmt.Sprintf("NDJSON line %d: ", i+1), errs)
		}
		return out
	}
	_, errs := v.full.ValidateHttpRequestSync(mk(body))
	keep("", errs)
	return out
}

// checkResponse validates a response to req. With withBody false the body
// is not looked at; otherwise body is the whole body.
func (v *Validator) checkResponse(req *http.Request, resp *http.Response, body []byte, withBody bool) []string {
	mk := func(b []byte) *http.Response {
		r := *resp
		r.Header = resp.Header.Clone()
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		return &r
	}
	mt := mediaType(resp.Header)
	if !withBody || isNDJSON(mt) {
		// Status and headers by the library; the media type by hand, as
		// the library only checks it along with the body.
		_, errs := v.noBody.ValidateHttpResponse(req, mk(nil))
		out := describe(errs)
		if len(out) == 0 {
			if s := v.checkMediaType(req, resp); s != "" {
				out = append(out, s)
			}
		}
		if withBody && len(out) == 0 {
			for i, line := range ndjsonLines(body) {
				if _, errs := v.full.ValidateHttpResponse(req, mk(line)); len(errs) > 0 {
					for _, s := range describe(errs) {
						out = append(out, fmt.Sprintf("NDJSON line %d: %s", i+1, s))
					}
				}
			}
		}
		return out
	}
	_, errs := v.full.ValidateHttpResponse(req, mk(body))
	return describe(errs)
}

// checkMediaType reports a response media type the document does not list
// for the operation and status, or "".
func (v *Validator) checkMediaType(req *http.Request, resp *http.Response) string {
	op := v.operation(req)
	if op == nil || op.Responses == nil {
		return ""
	}
	r := op.Responses.FindResponseByCode(resp.StatusCode)
	if r == nil {
		r = op.Responses.Default
	}
	if r == nil || r.Content == nil || r.Content.Len() == 0 {
		return ""
	}
	mt := mediaType(resp.Header)
	var declared []string
	for name := range r.Content.KeysFromOldest() {
		if name == mt {
			return ""
		}
		declared = append(declared, name)
	}
	return fmt.Sprintf("Content-Type %q is not one the document lists for %d (%s)", resp.Header.Get("Content-Type"), resp.StatusCode, strings.Join(declared, ", "))
}

// operation finds the document's operation for a request, or nil.
func (v *Validator) operation(req *http.Request) *v3.Operation {
	if v.model.Paths == nil {
		return nil
	}
	for tmpl, item := range v.model.Paths.PathItems.FromOldest() {
		if !MatchPath(tmpl, req.URL.Path) {
			continue
		}
		if op := item.GetOperations().GetOrZero(strings.ToLower(req.Method)); op != nil {
			return op
		}
		if req.Method == http.MethodHead {
			return item.Get
		}
	}
	return nil
}

// MatchPath reports whether a concrete path matches a document path
// template such as /devices/{device_id}/api/info.
func MatchPath(tmpl, path string) bool {
	ts := strings.Split(tmpl, "/")
	ps := strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// CheckSchema validates a JSON value against a schema of the document's
// components (e.g. "Event") and fails tb when it does not match. Tests use
// it for payloads the transport cannot see whole, such as the events of a
// live stream.
func (v *Validator) CheckSchema(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if errs := v.SchemaErrors(name, data); len(errs) > 0 {
		tb.Errorf("openapi: %s does not match #/components/schemas/%s:\n  - %s", data, name, strings.Join(errs, "\n  - "))
	}
}

// SchemaErrors validates a JSON value against a schema of the document's
// components and returns each violation.
func (v *Validator) SchemaErrors(name string, data []byte) []string {
	proxy := v.schema(name)
	if proxy == nil {
		return []string{fmt.Sprintf("the document has no schema %q", name)}
	}
	_, errs := v.schemas.ValidateSchemaBytesWithVersion(proxy, data, v.version)
	return describe(errs)
}

func (v *Validator) schema(name string) *base.Schema {
	if v.model.Components == nil || v.model.Components.Schemas == nil {
		return nil
	}
	p := v.model.Components.Schemas.GetOrZero(name)
	if p == nil {
		return nil
	}
	return p.Schema()
}

// describe turns the library's errors into one readable line each.
func describe(errs []*liberrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		s := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			s += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			loc := f.FieldPath
			if loc == "" {
				loc = "/" + strings.Join(f.InstancePath, "/")
			}
			s += fmt.Sprintf("\n      %s: %s", loc, f.Reason)
			if f.KeywordLocation != "" {
				s += " (schema " + f.KeywordLocation + ")"
			}
		}
		out = append(out, s)
	}
	return out
}

func mediaType(h http.Header) string {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

func isNDJSON(mt string) bool {
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return true
	}
	return false
}

func ndjsonLines(b []byte) [][]byte {
	var out [][]byte
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}
