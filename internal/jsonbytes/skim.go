package jsonbytes

import "bytes"

// The functions below are for readers of many small documents (a
// stream's events) that check the values they read and only need to pass
// over the rest: they check an object's structure as ValidMembers does,
// but find where a key or a skipped value ends without checking what it
// holds, strings with bytes.IndexByte rather than byte by byte. On valid
// JSON they find what ValidMembers and ValidValue find (FuzzSkim).

// SkimMembers walks the members of the object at i as ValidMembers does,
// except that a key is not checked, only read to its closing quote; plain
// reports a key without escapes or non-ASCII bytes, whose raw bytes are
// its value. value reads or skips the member's value and returns the
// offset past it.
func SkimMembers(data []byte, i int, value func(key Key, plain bool, vs int) (int, error)) (int, error) {
	if i >= len(data) || data[i] != '{' {
		return 0, ErrSyntax
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, ErrSyntax
		}
		ke, plain := -1, true
		for j := i + 1; j < len(data); j++ {
			c := data[j]
			if c == '"' {
				ke = j + 1
				break
			}
			if c == '\\' {
				j++
				plain = false
			} else if c >= 0x80 {
				plain = false
			}
		}
		if ke < 0 {
			return 0, ErrSyntax
		}
		colon, err := colonAfter(data, ke)
		if err != nil {
			return 0, err
		}
		ve, err := value(Key(data[i+1:ke-1]), plain, SkipSpace(data, colon+1))
		if err != nil {
			return 0, err
		}
		var end bool
		if i, end, err = next(data, ve, '}'); err != nil || end {
			return i, err
		}
	}
}

// SkimString returns the offset just past the string whose opening quote
// is at i, as SkipString does, without checking its contents.
func SkimString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); {
		q := bytes.IndexByte(data[j:], '"')
		if q < 0 {
			break
		}
		q += j
		// The quote is escaped when an odd number of backslashes come
		// just before it.
		n := 0
		for b := q - 1; b > i && data[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
	return 0, ErrSyntax
}

// SkimValue returns the offset just past the value starting at i, as
// SkipValue does, finding the strings' ends with SkimString.
func SkimValue(data []byte, i int) (int, error) {
	return skipValue(data, i, false)
}
