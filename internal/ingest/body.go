package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// A request body is read as a stream, one item at a time, so that a
// request holds its decoded items and not also the whole body beside them:
// the decoder copies what it keeps out of the reader's buffer.

// readBufferSize is the size of the buffer NDJSON lines are read through.
// Most items are a few hundred bytes; a longer line is gathered in a
// separate buffer.
const readBufferSize = 64 << 10

// ReadError is a failure to read the request body (a client that went
// away, a read deadline, a body over the HTTP layer's limit), as opposed to
// a body that was read and found wrong. Err is the reader's error, so the
// HTTP layer can tell its own limit from the rest.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "read request body: " + e.Err.Error() }

// Unwrap gives errors.As the reader's error.
func (e *ReadError) Unwrap() error { return e.Err }

// maxItemBytes is the largest item, in bytes as sent, that a request may
// hold: a model of the largest compact size may be sent with whitespace
// (the model check allows four times its size before compacting), plus the
// other fields.
func (l Limits) maxItemBytes() int { return 4*l.MaxModel + 4<<10 }

// itemFunc receives each item of a body in order. raw is only valid during
// the call. tooLarge is set, with raw nil, for an item longer than the
// limit, which is rejected without being kept.
type itemFunc func(raw []byte, tooLarge bool) error

// errTooManyItems stops reading a body with more items than a request may
// carry.
var errTooManyItems = errors.New("too many items")

// readItems reads r as NDJSON (ndjson true), a JSON array, or one or more
// concatenated JSON objects, and calls fn with each item in order.
func readItems(r io.Reader, ndjson bool, maxItem int, fn itemFunc) error {
	br := bufio.NewReaderSize(r, readBufferSize)
	if ndjson {
		return readLines(br, maxItem, fn)
	}
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return &ReadError{err}
	}
	switch first {
	case '[':
		return readArray(br, maxItem, fn)
	case '{':
		return readObjects(br, maxItem, fn)
	default:
		return doorlog.Errorf(doorlog.EINVALID, "request body must be a JSON object, a JSON array or NDJSON")
	}
}

// peekNonSpace skips JSON whitespace and returns the next byte without
// consuming it.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, br.UnreadByte()
		}
	}
}

// readLines calls fn with each non-blank line of br.
func readLines(br *bufio.Reader, maxItem int, fn itemFunc) error {
	var long []byte // a line longer than the reader's buffer
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !tooLong {
				if len(long)+len(chunk) > maxItem {
					tooLong, long = true, nil
				} else {
					long = append(long, chunk...)
				}
			}
			continue
		}
		if err != nil && err != io.EOF {
			return &ReadError{err}
		}
		line := chunk
		if long != nil || tooLong {
			if !tooLong && len(long)+len(chunk) > maxItem {
				tooLong = true
			}
			if !tooLong {
				line = append(long, chunk...)
			}
		}
		if tooLong {
			if ferr := fn(nil, true); ferr != nil {
				return ferr
			}
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			if len(line) > maxItem {
				if ferr := fn(nil, true); ferr != nil {
					return ferr
				}
			} else if ferr := fn(line, false); ferr != nil {
				return ferr
			}
		}
		long, tooLong = long[:0], false
		if long != nil && cap(long) > readBufferSize {
			long = nil // an exceptional line is not worth keeping
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readArray calls fn with each element of the JSON array br holds; nothing
// but whitespace may follow it.
func readArray(br *bufio.Reader, maxItem int, fn itemFunc) error {
	dec := json.NewDecoder(br)
	bad := func(err error) error {
		if isReadError(err) {
			return &ReadError{err}
		}
		return doorlog.Errorf(doorlog.EINVALID, "request body is not a valid JSON array: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); err != nil { // the '[' peeked
		return bad(err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad(err)
		}
		var err error
		if len(raw) > maxItem {
			err = fn(nil, true)
		} else {
			err = fn(raw, false)
		}
		if err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return bad(err)
	}
	return expectEnd(io.MultiReader(dec.Buffered(), br), bad)
}

// readObjects calls fn with each of the concatenated JSON objects br holds.
func readObjects(br *bufio.Reader, maxItem int, fn itemFunc) error {
	dec := json.NewDecoder(br)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if isReadError(err) {
				return &ReadError{err}
			}
			return doorlog.Errorf(doorlog.EINVALID, "request body is not valid JSON: %s", jsonErrorText(err))
		}
		if len(raw) > maxItem {
			err = fn(nil, true)
		} else {
			err = fn(raw, false)
		}
		if err != nil {
			return err
		}
	}
}

// expectEnd checks that only whitespace is left in rest, what follows the
// array.
func expectEnd(rest io.Reader, bad func(error) error) error {
	var b [512]byte
	for {
		n, err := rest.Read(b[:])
		for _, c := range b[:n] {
			if !isSpace(c) {
				return doorlog.Errorf(doorlog.EINVALID, "request body is not a valid JSON array: invalid character %q after top-level value", c)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(err)
		}
	}
}

// isReadError tells a failure of the body's reader from a JSON syntax
// error: encoding/json returns the reader's errors as they are, and the end
// of the body inside a value as io.EOF or io.ErrUnexpectedEOF.
func isReadError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return !errors.As(err, &syn) && !errors.As(err, &typ) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
}
