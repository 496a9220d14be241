package proxy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestVertexKeyfile: a provider whose apikey is a service-account key gets
// OAuth access tokens minted from it (offline, through the key's
// token_uri), and the Vertex path placeholders become the key's project.
func TestVertexKeyfile(t *testing.T) {
	var mints atomic.Int32
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, 400)
			return
		}
		mints.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"ya29.minted-token","expires_in":3600,"token_type":"Bearer"}`)
	}))
	defer tokenSrv.Close()

	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(pk)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "proj-from-key", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "sluice@proj-from-key.iam.gserviceaccount.com", "token_uri": tokenSrv.URL,
	})
	config := `{
		"providers": {"vertex": {"baseurl": "UPSTREAM", "apikey": "keyfile::` + base64.StdEncoding.EncodeToString(sa) + `",
			"region": "us-east5", "models": ["gemini-2.5-pro"],
			"compatibility": {"openai_chat": false, "google_generate_content": true}}},
	}`
	gw := newGateway(t, config, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "google_generate_content/tool_call.json")})
	path := "/v1/projects/_aperture_auto_vertex_project_id_/locations/_aperture_auto_vertex_region_/publishers/google/models/gemini-2.5-pro:generateContent"
	for range 2 {
		resp, body := post(t, gw.URL+path, map[string]string{"Authorization": "Bearer client-token"}, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	up := gw.upstream.Last(t)
	if want := "/v1/projects/proj-from-key/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent"; up.Path != want {
		t.Errorf("upstream path %s, want %s", up.Path, want)
	}
	if got := up.Header.Get("Authorization"); got != "Bearer ya29.minted-token" {
		t.Errorf("upstream Authorization %q, want the minted token", got)
	}
	if n := mints.Load(); n != 1 {
		t.Errorf("minted %d tokens for two requests, want 1 (cached)", n)
	}
	if strings.Contains(string(up.Body), "keyfile") {
		t.Error("the key reached the upstream body")
	}
}

// TestUnreadableKeyfile: the reference's placeholder keyfile loads, and its
// requests fail in the caller's format without reaching the upstream.
func TestUnreadableKeyfile(t *testing.T) {
	gw := newGateway(t, `{"providers": {"vertex": {"baseurl": "UPSTREAM", "apikey": "keyfile::ba3..3kb.data...67",
		"project": "p", "models": ["gemini-2.5-pro"], "compatibility": {"openai_chat": false, "google_generate_content": true}}}}`, "alice@example.com")
	resp, body := post(t, gw.URL+"/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:generateContent", nil, `{"contents":[]}`)
	if resp.StatusCode != 502 || !strings.Contains(body, `"status":"INTERNAL"`) || strings.Contains(body, "ba3..3kb") {
		t.Errorf("got %d %s; want 502 in the Google shape without the key", resp.StatusCode, body)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}
