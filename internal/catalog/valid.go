package catalog

// ValidJSON reports whether b is one valid JSON value, exactly as
// json.Valid does (any byte from 0x20 up in a string, nesting at most
// 10,000 deep), in one pass that allocates nothing. The APIs check every
// stored model they write with it, and json.Valid, a state machine called
// per byte, was a tenth of an export's time.
func ValidJSON(b []byte) bool {
	v := jsonValidator{b: b}
	return v.value() && v.space() == len(b)
}

// jsonValidator is the state of ValidJSON.
type jsonValidator struct {
	b     []byte
	i     int
	depth int
}

// space skips white space and returns the position after it.
func (v *jsonValidator) space() int {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return v.i
		}
	}
	return v.i
}

func (v *jsonValidator) value() bool {
	if v.space() >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.container('}')
	case c == '[':
		return v.container(']')
	case c == '"':
		return v.string()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	}
	return false
}

// container checks an object (end '}') or an array (end ']') at v.i.
func (v *jsonValidator) container(end byte) bool {
	v.i++
	v.depth++
	if v.depth > maxDepth {
		return false
	}
	if v.space() < len(v.b) && v.b[v.i] == end {
		v.i++
		v.depth--
		return true
	}
	for {
		if end == '}' {
			if v.space() >= len(v.b) || v.b[v.i] != '"' || !v.string() {
				return false
			}
			if v.space() >= len(v.b) || v.b[v.i] != ':' {
				return false
			}
			v.i++
		}
		if !v.value() || v.space() >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case end:
			v.i++
			v.depth--
			return true
		default:
			return false
		}
	}
}

func (v *jsonValidator) literal(word string) bool {
	if len(v.b)-v.i < len(word) || string(v.b[v.i:v.i+len(word)]) != word {
		return false
	}
	v.i += len(word)
	return true
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at v.i.
func (v *jsonValidator) number() bool {
	b, i := v.b, v.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	v.i = i
	return true
}

// string checks a string token at v.i, its opening quote included.
func (v *jsonValidator) string() bool {
	b, i := v.b, v.i+1
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			v.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		default:
			i++
		}
	}
	return false
}
