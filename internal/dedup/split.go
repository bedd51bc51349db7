package dedup

// maxDigits is the longest counter Split accepts. Eighteen decimal digits
// always fit in an int64, so no counter needs an overflow check; longer
// suffixes are rare enough to leave to the caller's ordinary unique table.
const maxDigits = 18

// Split returns the prefix and counter of a source id in counter form, so
// that the id can be kept as a point in a per-(device, prefix) interval
// instead of as a row of its own.
//
// The counter is the maximal run of trailing ASCII digits: "a1b2" splits into
// "a1b" and 2, never "a1" and "b2", so the prefix never ends in a digit. The
// run must be 1 to 18 digits long and either be "0" or not start with '0',
// because "007" and "7" are different ids and must not share a counter. The
// prefix may be empty ("1234") and may hold any bytes, including non-ASCII
// text; only ASCII '0'..'9' count as digits. These rules make Split one to
// one: when ok, prefix + strconv.FormatInt(n, 10) == sourceID, so two
// different ids never map to the same (prefix, n).
func Split(sourceID string) (prefix string, n int64, ok bool) {
	i := len(sourceID)
	for i > 0 && isDigit(sourceID[i-1]) {
		i--
	}
	digits := sourceID[i:]
	if len(digits) == 0 || len(digits) > maxDigits || (len(digits) > 1 && digits[0] == '0') {
		return "", 0, false
	}
	for j := 0; j < len(digits); j++ {
		n = n*10 + int64(digits[j]-'0')
	}
	return sourceID[:i], n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
