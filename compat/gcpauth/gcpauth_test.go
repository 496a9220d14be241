package gcpauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer is an offline OAuth token endpoint that checks the JWT
// assertion's signature and claims like Google's does.
type tokenServer struct {
	*httptest.Server
	pub      *rsa.PublicKey
	email    string
	mints    atomic.Int32
	fail     atomic.Bool
	lifetime int
	lastKid  atomic.Value
}

func newTokenServer(t *testing.T, pub *rsa.PublicKey, email string) *tokenServer {
	ts := &tokenServer{pub: pub, email: email, lifetime: 3600}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if ts.fail.Load() {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, "bad grant", http.StatusBadRequest)
		return
	}
	parts := strings.Split(r.Form.Get("assertion"), ".")
	if len(parts) != 3 {
		http.Error(w, "bad assertion", http.StatusBadRequest)
		return
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(ts.pub, crypto.SHA256, sum[:], sig) != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var head struct {
		Kid string `json:"kid"`
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &head)
	ts.lastKid.Store(head.Kid)
	var claims struct {
		Iss, Aud, Scope string
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(cb, &claims)
	if claims.Iss != ts.email || claims.Aud != ts.URL || claims.Scope != DefaultScope {
		http.Error(w, "bad claims "+string(cb), http.StatusUnauthorized)
		return
	}
	n := ts.mints.Add(1)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"ya29.token-%d","expires_in":%d,"token_type":"Bearer"}`, n, ts.lifetime)
}

// testKey returns a service-account JSON key whose token_uri is a local
// token server.
func testKey(t *testing.T) (keyJSON []byte, ts *tokenServer) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	email := "sluice@example-project.iam.gserviceaccount.com"
	ts = newTokenServer(t, &priv.PublicKey, email)
	keyJSON, _ = json.Marshal(map[string]string{
		"type": "service_account", "project_id": "example-project", "private_key_id": "kid-1",
		"private_key": string(pemKey), "client_email": email, "token_uri": ts.URL,
	})
	return keyJSON, ts
}

func TestParseKeyfile(t *testing.T) {
	keyJSON, ts := testKey(t)
	tests := []struct {
		name    string
		apikey  string
		wantErr bool
	}{
		{name: "raw JSON with prefix", apikey: KeyfilePrefix + string(keyJSON)},
		{name: "base64 with prefix", apikey: KeyfilePrefix + base64.StdEncoding.EncodeToString(keyJSON)},
		{name: "unpadded URL base64", apikey: KeyfilePrefix + base64.RawURLEncoding.EncodeToString(keyJSON)},
		{name: "base64 wrapped over lines", apikey: KeyfilePrefix + wrap(base64.StdEncoding.EncodeToString(keyJSON), 76)},
		{name: "without prefix", apikey: string(keyJSON)},
		{name: "empty", apikey: KeyfilePrefix, wantErr: true},
		{name: "not base64", apikey: KeyfilePrefix + "%%%", wantErr: true},
		{name: "not a service account", apikey: KeyfilePrefix + `{"type":"authorized_user","client_email":"a","private_key":"b"}`, wantErr: true},
		{name: "no private key", apikey: KeyfilePrefix + `{"type":"service_account","client_email":"a"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeyfile(tt.apikey)
			if tt.wantErr {
				if !errors.Is(err, ErrKeyfile) {
					t.Fatalf("error %v, want ErrKeyfile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ProjectID != "example-project" || k.TokenURI != ts.URL || k.PrivateKeyID != "kid-1" {
				t.Errorf("parsed %+v", k)
			}
		})
	}
	k, err := ParseKeyfile(`{"type":"service_account","client_email":"a","private_key":"b"}`)
	if err != nil || k.TokenURI != DefaultTokenURI {
		t.Errorf("default token URI: %v %v", k, err)
	}
	if !IsKeyfile(KeyfilePrefix+"x") || IsKeyfile("sk-123") {
		t.Error("IsKeyfile")
	}
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTokenCachedAndShared(t *testing.T) {
	keyJSON, ts := testKey(t)
	k, err := ParseKeyfile(KeyfilePrefix + base64.StdEncoding.EncodeToString(keyJSON))
	if err != nil {
		t.Fatal(err)
	}
	src := k.TokenSource(Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	errs := make([]error, 8)
	for i := range tokens {
		wg.Go(func() { tokens[i], errs[i] = src.Token(ctx) })
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] != "ya29.token-1" {
			t.Fatalf("caller %d: %q %v", i, tokens[i], errs[i])
		}
	}
	if again, _ := src.Token(ctx); again != "ya29.token-1" || ts.mints.Load() != 1 {
		t.Fatalf("cached token %q after %d mints", again, ts.mints.Load())
	}
	if kid, _ := ts.lastKid.Load().(string); kid != "kid-1" {
		t.Errorf("assertion key id %q", kid)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	keyJSON, ts := testKey(t)
	k, _ := ParseKeyfile(string(keyJSON))
	clk := &clock{t: time.Now()}
	src := k.TokenSource(Options{Now: clk.now, RefreshBefore: 5 * time.Minute})
	ctx := context.Background()

	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.add(50 * time.Minute) // 10 minutes left: still fresh
	if tok, _ := src.Token(ctx); tok != first {
		t.Fatalf("token replaced too early: %q", tok)
	}
	clk.add(6 * time.Minute) // 4 minutes left: due
	second, err := src.Token(ctx)
	if err != nil || second == first {
		t.Fatalf("token not refreshed: %q %v", second, err)
	}

	// A failing refresh keeps serving the still-valid token...
	ts.fail.Store(true)
	clk.add(56 * time.Minute)
	if tok, err := src.Token(ctx); err != nil || tok != second {
		t.Fatalf("during failed refresh: %q %v", tok, err)
	}
	// ...but not an expired one.
	clk.add(5 * time.Minute)
	if _, err := src.Token(ctx); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("expired token with failing endpoint: %v", err)
	}
}

func TestShortLivedTokenRefreshMargin(t *testing.T) {
	keyJSON, ts := testKey(t)
	ts.lifetime = 120 // shorter than twice the 5-minute margin
	k, _ := ParseKeyfile(string(keyJSON))
	clk := &clock{t: time.Now()}
	src := k.TokenSource(Options{Now: clk.now})
	ctx := context.Background()
	first, _ := src.Token(ctx)
	clk.add(30 * time.Second)
	if tok, _ := src.Token(ctx); tok != first {
		t.Fatal("a 2-minute token was refreshed after 30s")
	}
	clk.add(40 * time.Second)
	if tok, _ := src.Token(ctx); tok == first {
		t.Fatal("a 2-minute token was not refreshed after 70s")
	}
}

func TestTokenEndpointRejects(t *testing.T) {
	keyJSON, ts := testKey(t)
	ts.fail.Store(true)
	k, _ := ParseKeyfile(string(keyJSON))
	_, err := k.TokenSource(Options{}).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), ts.URL) {
		t.Fatalf("error %v should name the token endpoint", err)
	}
}

func TestTokenHonoursCallerContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	keyJSON, _ := testKey(t)
	var v map[string]string
	_ = json.Unmarshal(keyJSON, &v)
	v["token_uri"] = srv.URL
	keyJSON, _ = json.Marshal(v)
	k, _ := ParseKeyfile(string(keyJSON))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := k.TokenSource(Options{}).Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the caller's deadline", err)
	}
}
