package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// Archive is what Verify reads: the manifests of a time range and any
// object by key. *S3 is one.
type Archive interface {
	ManifestKeys(ctx context.Context, from, to time.Time) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
	Prefix() string
}

// maxKeyTime is past every hour a key can name.
var maxKeyTime = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC)

// Report is what Verify found. OK is true when Problems is empty.
type Report struct {
	Objects  int
	Records  int
	Problems []string
}

// OK reports whether the archive matched the store.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks the archive's objects cut from `from` to `to` against the
// store: each manifest's object exists, hashes to its SHA-256 and holds
// its record count, each record's number is in its range, and every record
// the store still has in that range is in it; consecutive ranges follow
// each other with no gap; and every record the store numbered and
// recorded in [from, to) up to the S3 cursor is in some object.
func Verify(ctx context.Context, a Archive, st store.ExportLog, from, to time.Time) (Report, error) {
	var rep Report
	// Records of [from, to) may sit in batches cut later (a backlog, a
	// late row): list to the end, check the objects cut up to to's hour,
	// and count the later ones' ranges as covering what they say.
	keys, err := a.ManifestKeys(ctx, from, maxKeyTime)
	if err != nil {
		return rep, err
	}
	lastHour := to.UTC().Truncate(time.Hour)
	type span struct {
		key         string
		first, last int64
	}
	var spans []span
	inArchive := map[int64]bool{}
	for _, k := range keys {
		pk, ok := parseManifestKey(a.Prefix(), k)
		if !ok {
			rep.problem("%s: not a manifest key this version writes", k)
			continue
		}
		spans = append(spans, span{k, pk.first, pk.last})
		if pk.hour.After(lastHour) {
			for n := pk.first; n <= pk.last; n++ {
				inArchive[n] = true
			}
			continue
		}
		rep.Objects++
		raw, err := a.Get(ctx, k)
		if err != nil {
			rep.problem("%s: %v", k, err)
			continue
		}
		var m Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			rep.problem("%s: unreadable manifest: %v", k, err)
			continue
		}
		if m.FirstSeq != pk.first || m.LastSeq != pk.last {
			rep.problem("%s: manifest says records %d-%d, its key %d-%d", k, m.FirstSeq, m.LastSeq, pk.first, pk.last)
		}
		data, err := a.Get(ctx, m.Object)
		if errors.Is(err, ErrNoObject) {
			rep.problem("%s: object %s is missing (records %d-%d)", k, m.Object, m.FirstSeq, m.LastSeq)
			continue
		}
		if err != nil {
			rep.problem("%s: %v", m.Object, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
			rep.problem("%s: SHA-256 %s, manifest says %s", m.Object, got, m.SHA256)
			continue
		}
		recs, err := Decode(data)
		if err != nil {
			rep.problem("%s: %v", m.Object, err)
			continue
		}
		if len(recs) != m.Records {
			rep.problem("%s: %d records, manifest says %d", m.Object, len(recs), m.Records)
		}
		rep.Records += len(recs)
		ids := map[string]bool{}
		for _, r := range recs {
			if r.Seq < m.FirstSeq || r.Seq > m.LastSeq {
				rep.problem("%s: record %s has number %d, outside %d-%d", m.Object, r.ID, r.Seq, m.FirstSeq, m.LastSeq)
			}
			if inArchive[r.Seq] {
				rep.problem("%s: record number %d is in another object too", m.Object, r.Seq)
			}
			inArchive[r.Seq] = true
			ids[r.ID] = true
		}
		stored, err := st.ExportRows(ctx, m.FirstSeq-1, m.LastSeq)
		if err != nil {
			return rep, err
		}
		for _, r := range stored {
			if !ids[r.ID] {
				rep.problem("%s: the store has request %s (number %d) in this range; the object lacks it", m.Object, r.ID, r.Seq)
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
	for i := 1; i < len(spans); i++ {
		prev, cur := spans[i-1], spans[i]
		switch {
		case cur.first > prev.last+1:
			rep.problem("gap: records %d-%d are in no object (between %s and %s)", prev.last+1, cur.first-1, prev.key, cur.key)
		case cur.first <= prev.last:
			rep.problem("overlap: %s and %s both hold records %d-%d", prev.key, cur.key, cur.first, min(prev.last, cur.last))
		}
	}
	cur, err := st.ExportCursor(ctx, "s3")
	if err != nil {
		return rep, err
	}
	rows, err := st.ExportedNumbers(ctx, from, to)
	if err != nil {
		return rep, err
	}
	var missing []store.ExportedRow
	for _, r := range rows {
		if r.Seq <= cur.Done && !inArchive[r.Seq] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		rep.problem("gap: %d exported records of the store are in no listed object (first: request %s, number %d, recorded %s)",
			len(missing), missing[0].ID, missing[0].Seq, missing[0].Time.Format(time.RFC3339))
	}
	return rep, nil
}
