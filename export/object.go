package export

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Batch is one export: the rows numbered First through Last, cut at Cut.
// Numbers whose rows retention deleted before the export are missing, so
// len(Records) can be less than Last-First+1.
type Batch struct {
	First, Last int64
	Cut         time.Time
	Records     []Record
}

// Manifest describes one archive object, so an auditor can tell that
// nothing is missing: the number ranges of consecutive objects follow each
// other with no gap, and each object's bytes hash to SHA256.
type Manifest struct {
	Schema   int    `json:"schema"`
	Object   string `json:"object"`
	FirstSeq int64  `json:"first_seq"`
	LastSeq  int64  `json:"last_seq"`
	Records  int    `json:"records"`
	Bytes    int    `json:"bytes"`
	SHA256   string `json:"sha256"`
	// FirstTimeUS and LastTimeUS are the earliest and latest request time
	// in the object (0 when it holds no record).
	FirstTimeUS int64 `json:"first_time_us"`
	LastTimeUS  int64 `json:"last_time_us"`
	// CutAt is when the batch was cut; the key's hour is CutAt's.
	CutAt string `json:"cut_at"`
}

// Suffixes of the two objects of a batch.
const (
	objectSuffix   = ".cbor.zst"
	manifestSuffix = ".manifest.json"
)

// seqDigits pads numbers in keys so that keys sort like their numbers.
const seqDigits = 20

// ObjectKey is the key of a batch's records:
// PREFIX/v1/YYYY/MM/DD/HH/FIRST-LAST.cbor.zst, the hour (UTC) being when
// the batch was cut and FIRST, LAST its number range, zero-padded. The key
// depends only on what BeginExport recorded, so storing a batch again
// overwrites the same object.
func ObjectKey(prefix string, first, last int64, cut time.Time) string {
	return keyBase(prefix, first, last, cut) + objectSuffix
}

// ManifestKey is the key of a batch's manifest, beside its object.
func ManifestKey(prefix string, first, last int64, cut time.Time) string {
	return keyBase(prefix, first, last, cut) + manifestSuffix
}

func keyBase(prefix string, first, last int64, cut time.Time) string {
	cut = cut.UTC()
	return path.Join(versionPrefix(prefix), cut.Format("2006/01/02/15"), fmt.Sprintf("%0*d-%0*d", seqDigits, first, seqDigits, last))
}

// versionPrefix is PREFIX/v1 (v1 alone without a prefix).
func versionPrefix(prefix string) string {
	return path.Join(strings.Trim(prefix, "/"), "v"+strconv.Itoa(SchemaVersion))
}

// hourPrefix is the key prefix of one hour's objects.
func hourPrefix(prefix string, t time.Time) string {
	return versionPrefix(prefix) + "/" + t.UTC().Format("2006/01/02/15") + "/"
}

// parsedKey is what a manifest key says.
type parsedKey struct {
	hour        time.Time
	first, last int64
}

// parseManifestKey reads a key ManifestKey made; ok is false for any
// other key.
func parseManifestKey(prefix, key string) (parsedKey, bool) {
	rest, ok := strings.CutPrefix(key, versionPrefix(prefix)+"/")
	if !ok {
		return parsedKey{}, false
	}
	rest, ok = strings.CutSuffix(rest, manifestSuffix)
	if !ok || len(rest) < len("2006/01/02/15/") {
		return parsedKey{}, false
	}
	hour, err := time.Parse("2006/01/02/15", rest[:13])
	if err != nil || rest[13] != '/' {
		return parsedKey{}, false
	}
	a, b, ok := strings.Cut(rest[14:], "-")
	if !ok {
		return parsedKey{}, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return parsedKey{}, false
	}
	return parsedKey{hour: hour, first: first, last: last}, true
}
