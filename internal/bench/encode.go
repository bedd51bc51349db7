package bench

import (
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// appendNDJSON appends items to buf as NDJSON, byte for byte what
// sim.EncodeNDJSON writes, without its reflection: the load makes and
// encodes its events while it sends them, on the cores the server uses,
// so that every microsecond the bench spends per event is taken from the
// ingest it measures. It is for items made by sim.Generator, whose time and
// model json.Marshal wrote (compact, valid); a string that needs escaping
// sends the item through sim.EncodeNDJSON.
func appendNDJSON(buf []byte, items []ingest.Item) ([]byte, error) {
	for i := range items {
		it := &items[i]
		if !plain(it.DeviceID) || !plain(it.Key) || !plain(it.SourceID) || len(it.Time) == 0 {
			line, err := sim.EncodeNDJSON(items[i : i+1])
			if err != nil {
				return nil, err
			}
			buf = append(buf, line...)
			continue
		}
		buf = append(buf, `{"device_id":"`...)
		buf = append(buf, it.DeviceID...)
		buf = append(buf, `","time":`...)
		buf = append(buf, it.Time...)
		buf = append(buf, `,"key":"`...)
		buf = append(buf, it.Key...)
		buf = append(buf, '"')
		if len(it.Model) > 0 {
			buf = append(buf, `,"model":`...)
			buf = append(buf, it.Model...)
		}
		if it.SourceID != "" {
			buf = append(buf, `,"source_id":"`...)
			buf = append(buf, it.SourceID...)
			buf = append(buf, '"')
		}
		buf = append(buf, "}\n"...)
	}
	return buf, nil
}

// plain reports whether s is written in JSON as it is between quotes:
// printable ASCII without a quote or a backslash.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
