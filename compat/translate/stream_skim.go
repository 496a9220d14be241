package translate

import "github.com/sluice-gateway/sluice/internal/jsonbytes"

// A stream's events are read by the thousand, and checking every byte of
// every event was most of what reading one cost: a chat chunk carries a
// dozen members the translation never looks at (object, created,
// system_fingerprint, logprobs, obfuscation…). The skim readers below
// check the structure of an event and every value they read, as the fast
// readers do, but pass over the members they do not read as the usage
// filter does, finding only where each ends. What the translation writes
// comes only from values that were checked (strings are re-encoded from
// checked JSON strings), so its output is valid whatever the skipped
// members hold; an event that is valid JSON is read exactly as
// encoding/json reads it (FuzzFastDecoders), and one that is not may be
// translated where encoding/json would have refused it, when the damage
// is in a member no one reads.

// skimObject is fastObject for stream events: members not in names are
// skipped without being checked.
func skimObject(data []byte, i int, names []string, member func(field, vs int) (int, error)) (int, error) {
	var seen uint64
	return jsonbytes.SkimMembers(data, i, func(k jsonbytes.Key, plain bool, vs int) (int, error) {
		if !plain {
			return 0, errSlow
		}
		f := plainNameIndex(k, names)
		if f < 0 {
			return jsonbytes.SkimValue(data, vs)
		}
		if seen&(1<<f) != 0 {
			return 0, errSlow
		}
		seen |= 1 << f
		return member(f, vs)
	})
}

// skimNullableObject is fastNullableObject for stream events.
func skimNullableObject(data []byte, i int, names []string, member func(field, vs int) (int, error)) (int, error) {
	if null, end := fastNull(data, i); null {
		return end, nil
	}
	if i >= len(data) || data[i] != '{' {
		return 0, errSlow
	}
	return skimObject(data, i, names, member)
}

// skimTop is fastTop for stream events.
func skimTop(data []byte, names []string, member func(field, vs int) (int, error)) error {
	return readTop(data, names, member, true)
}
