package aipix

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The page size and page number a client gets when it sends none, 0, null
// or an empty value, and the largest page size.
const (
	DefaultPerPage = 25
	MaxPerPage     = 100
	DefaultPage    = 1
)

// MaxBody is the largest request body read; a larger one answers 413.
const MaxBody = 64 << 10

// The 422 messages, as Laravel's English validation messages word them.
const (
	msgPerPageInteger = "The per page field must be an integer."
	msgPerPageBetween = "The per page field must be between 1 and 100."
	msgPageInteger    = "The page field must be an integer."
	msgPageMin        = "The page field must be at least 1."
)

// pageParams is a validated request: the page size and number used, and
// whether the page size goes into the links (the client chose one that is
// not the default).
type pageParams struct {
	perPage       int
	page          int64
	appendPerPage bool
}

// input is one parameter as the client sent it. A JSON value from the body
// keeps its raw text; a query or form value is a string.
type input struct {
	raw    json.RawMessage // from a JSON body
	text   string          // from the query or a form
	isJSON bool
}

// readParams reads per_page and page from the query and the body and
// validates them. The body wins over the query for a parameter both give,
// as Laravel's $request->input() does. A body is read as JSON when its
// Content-Type says JSON, or when it starts with '{' (curl -d sends JSON as
// a form by default); a POST form body is read as a form. Errors are
// EINVALID (a malformed JSON body), ETOOLARGE, or a *validationError.
func readParams(w http.ResponseWriter, r *http.Request) (pageParams, error) {
	params := map[string]input{}
	for _, name := range []string{"per_page", "page"} {
		// PHP keeps the last of repeated query parameters.
		if vs := r.URL.Query()[name]; len(vs) > 0 {
			params[name] = input{text: vs[len(vs)-1]}
		}
	}
	if err := readBody(w, r, params); err != nil {
		return pageParams{}, err
	}
	return validate(params)
}

// readBody adds the parameters of the request body, if any, to params.
func readBody(w http.ResponseWriter, r *http.Request, params map[string]input) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return doorlog.Errorf(doorlog.ETOOLARGE, "the body is over %d bytes", MaxBody)
		}
		return doorlog.Errorf(doorlog.EINVALID, "The request body could not be read.")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case isJSONType(mediaType) || trimmed[0] == '{':
		return readJSONBody(trimmed, params)
	case r.Method == http.MethodPost && mediaType == "application/x-www-form-urlencoded":
		// PHP parses a form leniently: a bad escape loses that pair only.
		form, _ := url.ParseQuery(string(trimmed))
		for _, name := range []string{"per_page", "page"} {
			if vs := form[name]; len(vs) > 0 {
				params[name] = input{text: vs[len(vs)-1]}
			}
		}
	}
	return nil
}

// isJSONType reports whether a media type is JSON, as Laravel's isJson
// does: application/json and any */*+json.
func isJSONType(mediaType string) bool {
	return strings.HasSuffix(mediaType, "/json") || strings.HasSuffix(mediaType, "+json")
}

// readJSONBody reads the parameters of a JSON body. Valid JSON that is not
// an object (PHP's json_encode(array()) sends []) gives no parameters, as in
// Laravel; a repeated member counts by its last value.
func readJSONBody(body []byte, params map[string]input) error {
	if !json.Valid(body) {
		return doorlog.Errorf(doorlog.EINVALID, "The request body is not valid JSON.")
	}
	if body[0] != '{' {
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return doorlog.Errorf(doorlog.EINVALID, "The request body is not valid JSON.")
	}
	for _, name := range []string{"per_page", "page"} {
		if raw, ok := members[name]; ok {
			params[name] = input{raw: raw, isJSON: true}
		}
	}
	return nil
}

// validate checks per_page and then page, collecting every failure as
// Laravel does, so a 422 lists both fields when both are wrong.
func validate(params map[string]input) (pageParams, error) {
	p := pageParams{perPage: DefaultPerPage, page: DefaultPage}
	ve := &validationError{}
	if in, ok := params["per_page"]; ok {
		n, present, isInt := in.integer()
		switch {
		case !present || (isInt && n == 0):
		case !isInt:
			ve.perPage = append(ve.perPage, msgPerPageInteger)
		case n < 1 || n > MaxPerPage:
			ve.perPage = append(ve.perPage, msgPerPageBetween)
		default:
			p.perPage = int(n)
			p.appendPerPage = p.perPage != DefaultPerPage
		}
	}
	if in, ok := params["page"]; ok {
		n, present, isInt := in.integer()
		switch {
		case !present || (isInt && n == 0):
		case !isInt:
			ve.page = append(ve.page, msgPageInteger)
		case n < 1:
			ve.page = append(ve.page, msgPageMin)
		default:
			p.page = n
		}
	}
	if len(ve.perPage)+len(ve.page) > 0 {
		return pageParams{}, ve
	}
	return p, nil
}

// integer reads a parameter as an integer. present is false for null and
// the empty string, which mean "not given". A JSON number must be integral
// (10, 10.0 and 1e1 are ten, as PHP reads them); a string must be decimal
// digits with an optional sign, surrounding blanks allowed. Anything else,
// and a number outside int64, is not an integer.
func (in input) integer() (n int64, present, isInt bool) {
	text := in.text
	if in.isJSON {
		raw := bytes.TrimSpace(in.raw)
		switch {
		case bytes.Equal(raw, []byte("null")):
			return 0, false, false
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &text); err != nil {
				return 0, true, false
			}
		case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			return jsonNumber(string(raw))
		default: // true, false, an array or an object
			return 0, true, false
		}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, false, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, true, false
	}
	return n, true, true
}

// jsonNumber reads a JSON number literal as an integer: exactly when it has
// no fraction or exponent, by value when it has (then it must be integral
// and within ±2^53, where a float64 is exact).
func jsonNumber(lit string) (n int64, present, isInt bool) {
	if !strings.ContainsAny(lit, ".eE") {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return 0, true, false
		}
		return n, true, true
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, true, false
	}
	return int64(f), true, true
}
