// Package openapi serves the OpenAPI 3.1 document that describes every
// endpoint of doorlog's four APIs (native, BAS-IP, AIPIX, OLOID) and its
// operational endpoints, at GET /openapi.json.
//
// The document is hand-written JSON (openapi.json, embedded). It cannot
// drift from the code unnoticed: the tests of this package check that it is
// a valid OpenAPI 3.1 document and that the real server's routes and the
// document's paths are the same set, and every end-to-end request the tests
// make goes through openapitest, which validates the request and the
// response against it. See docs/openapi.md.
package openapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document. The slice is shared: do not modify
// it.
func Document() []byte { return document }

// Handler serves the document.
type Handler struct{}

// New returns a Handler.
func New() *Handler { return &Handler{} }

// Register adds GET /openapi.json to mux, and a JSON 405 for any other
// method on that path.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /openapi.json", h.serve)
	mux.HandleFunc("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":"Method not allowed"}` + "\n"))
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(document)))
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(document)
}
