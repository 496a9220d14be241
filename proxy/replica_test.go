package proxy

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/cluster"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// memConfigDB is a ConfigDB in memory, with cluster.DB's semantics.
type memConfigDB struct {
	mu    sync.Mutex
	revs  []cluster.Revision
	beats []cluster.Heartbeat
}

func (m *memConfigDB) Current(context.Context) (cluster.Revision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.revs) == 0 {
		return cluster.Revision{}, cluster.ErrNoConfig
	}
	return m.revs[len(m.revs)-1], nil
}

func (m *memConfigDB) Save(_ context.Context, text []byte, base, by string) (cluster.Revision, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.revs[len(m.revs)-1]
	if base != "" && base != cur.Hash {
		return cluster.Revision{}, false, &cluster.StaleError{Current: cur.Hash, Revision: cur.Number}
	}
	if cluster.Hash(text) == cur.Hash {
		return cur, true, nil
	}
	rev := cluster.Revision{Number: cur.Number + 1, Hash: cluster.Hash(text), Text: text, SavedBy: by}
	m.revs = append(m.revs, rev)
	return rev, false, nil
}

func (m *memConfigDB) Replicas(context.Context, time.Duration) ([]cluster.Heartbeat, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]cluster.Heartbeat{}, m.beats...), nil
}

// newDBGateway serves configAPIText as revision 1 of a configuration
// database.
func newDBGateway(t *testing.T) (*gateway, *memConfigDB) {
	t.Helper()
	db := &memConfigDB{}
	g := newGateway(t, configAPIText, "", func(o *Options) {
		o.Identity = identity.TrustedHeaders(identity.HeaderTrust{})
		o.ConfigDB = db
		o.ConfigRevision = 1
		o.Instance = "r1"
	})
	raw := g.srv.Config().Raw
	db.revs = []cluster.Revision{{Number: 1, Hash: cluster.Hash(raw), Text: raw}}
	g.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	return g, db
}

// revisionOf is the revision header of an answer to login's chat request
// for model, with its status.
func revisionOf(t *testing.T, g *gateway, login, model string) (int, string) {
	t.Helper()
	resp, _ := post(t, g.URL+"/v1/chat/completions", map[string]string{identity.HeaderUserLogin: login},
		`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
	return resp.StatusCode, resp.Header.Get(HeaderConfigRevision)
}

// TestConfigFromDatabase: with --config-source db, PUT /api/config stores
// the next revision when its hash is current and serves it at once; the
// answers carry the revision; a stale hash or an invalid text stores
// nothing.
func TestConfigFromDatabase(t *testing.T) {
	g, db := newDBGateway(t)
	if code, rev := revisionOf(t, g, "bob@example.com", "gpt-5"); code != http.StatusForbidden || rev != "1" {
		t.Fatalf("bob asking for gpt-5 under revision 1: %d, revision %q; want 403, 1", code, rev)
	}
	code, body := call(t, g.srv, "boss@example.com", "GET", "/api/config", nil)
	got := decode[configJSON](t, body)
	if code != 200 || got.Hash != db.revs[0].Hash || !got.Editable {
		t.Fatalf("GET /api/config: %d %+v", code, got)
	}
	next := strings.Replace(got.Config, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	tests := []struct {
		name     string
		text     string
		hash     string
		want     int
		wantRevs int
	}{
		{"stale hash", next, sha("something else"), http.StatusConflict, 1},
		{"invalid", next + "}", got.Hash, http.StatusUnprocessableEntity, 1},
		{"current hash", next, got.Hash, http.StatusOK, 2},
		{"same text again", next, cluster.Hash([]byte(next)), http.StatusOK, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, g.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": tt.text, "hash": tt.hash})
			if code != tt.want || len(db.revs) != tt.wantRevs {
				t.Fatalf("PUT: %d %s with %d revisions stored; want %d and %d", code, body, len(db.revs), tt.want, tt.wantRevs)
			}
		})
	}
	if code, rev := revisionOf(t, g, "bob@example.com", "gpt-5"); code != http.StatusOK || rev != "2" {
		t.Fatalf("bob asking for gpt-5 after the save: %d, revision %q; want 200, 2", code, rev)
	}
}

// TestRevisionRefusedKeepsTheLastGood: a stored revision this replica
// cannot apply leaves it serving the last good one, reported in its status
// and heartbeat until a newer revision applies; older revisions are
// ignored.
func TestRevisionRefusedKeepsTheLastGood(t *testing.T) {
	g, _ := newDBGateway(t)
	good := string(g.srv.Config().Raw)
	ctx := context.Background()
	bad := []struct {
		name string
		text string
	}{
		{"syntax error", good + "}"},
		{"restart-only setting", strings.Replace(good, `"providers": {`, `"database": {"keep_encrypted_blobs": true}, "providers": {`, 1)},
		{"macro this replica lacks", strings.Replace(good, `"sk-secret-openai-key"`, `"${SLUICE_TEST_UNSET_MACRO}"`, 1)},
	}
	for i, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			n := int64(2 + i)
			if err := g.srv.ApplyRevision(ctx, cluster.Revision{Number: n, Hash: cluster.Hash([]byte(tt.text)), Text: []byte(tt.text)}); err == nil {
				t.Fatal("applied")
			}
			if num, _ := g.srv.ConfigRevision(); num != 1 || string(g.srv.Config().Raw) != good {
				t.Fatalf("serving revision %d after a refused one", num)
			}
			if _, rev := revisionOf(t, g, "alice@example.com", "gpt-5"); rev != "1" {
				t.Errorf("answers carry revision %q, want 1", rev)
			}
			code, body := call(t, g.srv, "boss@example.com", "GET", "/api/status", nil)
			st := decode[statusJSON](t, body)
			if code != 200 || st.ConfigFailed == nil || st.ConfigFailed.Revision != n || st.ConfigRevision != 1 || st.Replica != "r1" {
				t.Fatalf("status: %d %s", code, body)
			}
			if h := g.srv.Heartbeat(); h.FailedRevision != n || h.ConfigRevision != 1 || h.FailedError == "" {
				t.Errorf("heartbeat %+v", h)
			}
		})
	}
	next := strings.Replace(good, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	if err := g.srv.ApplyRevision(ctx, cluster.Revision{Number: 9, Hash: cluster.Hash([]byte(next)), Text: []byte(next)}); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.ApplyRevision(ctx, cluster.Revision{Number: 8, Text: []byte(good)}); err != nil {
		t.Fatal(err)
	}
	if num, _ := g.srv.ConfigRevision(); num != 9 {
		t.Fatalf("serving revision %d, want 9 (8 is older)", num)
	}
	if n, _ := g.srv.FailedRevision(); n != 0 {
		t.Errorf("refused revision %d still reported after revision 9 applied", n)
	}
	if code, rev := revisionOf(t, g, "bob@example.com", "gpt-5"); code != http.StatusOK || rev != "9" {
		t.Errorf("bob asking for gpt-5 under revision 9: %d, %q", code, rev)
	}
}

// TestStatusShowsDrift: the status lists the replicas' heartbeats and
// flags replicas that serve different configurations; non-admins are
// refused.
func TestStatusShowsDrift(t *testing.T) {
	g, db := newDBGateway(t)
	tests := []struct {
		name  string
		beats []cluster.Heartbeat
		drift bool
	}{
		{"alone", nil, false},
		{"in step", []cluster.Heartbeat{{Replica: "r1", ConfigHash: "a", PolicyRevision: "p"}, {Replica: "r2", ConfigHash: "a", PolicyRevision: "p"}}, false},
		{"different configurations", []cluster.Heartbeat{{Replica: "r1", ConfigHash: "a", PolicyRevision: "p"}, {Replica: "r2", ConfigHash: "b", PolicyRevision: "p"}}, true},
		{"a refused revision", []cluster.Heartbeat{{Replica: "r1", ConfigHash: "a", PolicyRevision: "p"}, {Replica: "r2", ConfigHash: "a", PolicyRevision: "p", FailedRevision: 3}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db.mu.Lock()
			db.beats = tt.beats
			db.mu.Unlock()
			code, body := call(t, g.srv, "boss@example.com", "GET", "/api/status", nil)
			st := decode[statusJSON](t, body)
			if code != 200 || st.Drift != tt.drift || len(st.Replicas) != len(tt.beats) || st.ConfigSource != "db" ||
				st.Store.State != "ok" || st.PolicyRevision == "" {
				t.Fatalf("status: %d %s", code, body)
			}
		})
	}
	if code, _ := call(t, g.srv, "dev@example.com", "GET", "/api/status", nil); code != http.StatusForbidden {
		t.Errorf("a non-admin got %d from /api/status", code)
	}
}
