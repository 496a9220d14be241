package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"

	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// serviceAccountKey returns a keyfile:: API key for email whose token_uri
// is tokenURI, with a freshly generated private key.
func serviceAccountKey(t *testing.T, email, tokenURI string) string {
	t.Helper()
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": email, "token_uri": tokenURI})
	return "keyfile::" + string(key)
}

// TestDoctorCloudProviders: doctor checks Bedrock with its bearer key on
// ListFoundationModels, and Vertex by minting a token from the
// service-account key at its token_uri and listing with it; a key the
// provider (or the token endpoint) refuses fails, and no key or token
// appears in the output.
func TestDoctorCloudProviders(t *testing.T) {
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/token":
			r.ParseForm()
			if strings.Count(r.PostForm.Get("assertion"), ".") != 2 {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			// Which key signed is in the assertion's claims.
			claims := strings.Split(r.PostForm.Get("assertion"), ".")[1]
			if strings.Contains(decodeSegment(t, claims), "revoked@") {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
				return
			}
			w.Write([]byte(`{"access_token":"ya29.minted","expires_in":3600,"token_type":"Bearer"}`))
		case r.URL.Path == "/v1/projects/proj-1/locations/us-east5/endpoints" && r.URL.Query().Get("pageSize") == "1":
			if r.Header.Get("Authorization") != "Bearer ya29.minted" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"endpoints":[]}`))
		case r.URL.Path == "/foundation-models":
			if r.Header.Get("Authorization") != "Bearer br-good-key" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			w.Write([]byte(`{"modelSummaries":[]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer cloud.Close()
	goodKey := serviceAccountKey(t, "gateway@proj-1.iam.gserviceaccount.com", cloud.URL+"/token")
	revokedKey := serviceAccountKey(t, "revoked@proj-1.iam.gserviceaccount.com", cloud.URL+"/token")
	t.Setenv("SLUICE_TEST_VERTEX_KEY", goodKey)
	t.Setenv("SLUICE_TEST_VERTEX_REVOKED", revokedKey)
	bedrock := `"compatibility": {"openai_chat": false, "bedrock_model_invoke": true, "bedrock_converse": true}`
	vertex := `"compatibility": {"openai_chat": false, "google_generate_content": true}, "region": "us-east5"`
	config := writeFile(t, `{"providers": {
		"bedrock": {"baseurl": "`+cloud.URL+`", "apikey": "br-good-key", "models": ["a"], `+bedrock+`},
		"bedrock-bad": {"baseurl": "`+cloud.URL+`", "apikey": "br-bad-key", "models": ["b"], `+bedrock+`},
		"vertex": {"baseurl": "`+cloud.URL+`", "apikey": "${SLUICE_TEST_VERTEX_KEY}", "models": ["c"], `+vertex+`},
		"vertex-revoked": {"baseurl": "`+cloud.URL+`", "apikey": "${SLUICE_TEST_VERTEX_REVOKED}", "models": ["d"], `+vertex+`},
		"vertex-garbled": {"baseurl": "`+cloud.URL+`", "apikey": "keyfile::not-a-key", "models": ["e"], `+vertex+`},
	}}`)
	state := t.TempDir()
	code, stdout, stderr := runCLI(t, "doctor", "--config", config, "--state-dir", state)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %s", code, stderr)
	}
	want := map[string]string{
		"provider bedrock":        `ok\s+key accepted, models listed \(ListFoundationModels\)`,
		"provider bedrock-bad":    `FAIL\s+API key rejected \(403\)`,
		"provider vertex":         `ok\s+token minted for gateway@proj-1\.iam\.gserviceaccount\.com; endpoints of proj-1 in us-east5 listed`,
		"provider vertex-revoked": `FAIL\s+service-account key refused at http://\S+/token: invalid_grant \(400\)`,
		"provider vertex-garbled": `FAIL\s+service-account key is not readable`,
	}
	for what, re := range want {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(what) + `\s+` + re).MatchString(stdout) {
			t.Errorf("no row %q matching %q:\n%s", what, re, stdout)
		}
	}
	for _, secret := range []string{"br-good-key", "br-bad-key", "ya29", "PRIVATE KEY", "not-a-key"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("output shows %q:\n%s%s", secret, stdout, stderr)
		}
	}
}

func decodeSegment(t *testing.T, s string) string {
	t.Helper()
	for len(s)%4 != 0 {
		s += "="
	}
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBedrockModelsURL: the runtime host's control plane, or the base URL's own path.
func TestBedrockModelsURL(t *testing.T) {
	for base, want := range map[string]string{
		"https://bedrock-runtime.us-east-1.amazonaws.com":  "https://bedrock.us-east-1.amazonaws.com/foundation-models",
		"https://bedrock-runtime.eu-west-3.amazonaws.com/": "https://bedrock.eu-west-3.amazonaws.com/foundation-models",
		"http://127.0.0.1:9000/bedrock":                    "http://127.0.0.1:9000/bedrock/foundation-models",
	} {
		if got, err := bedrockModelsURL(base); err != nil || got != want {
			t.Errorf("bedrockModelsURL(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
}

// TestDoctorTailnetState: the tailnet row says whether --tailnet starts
// as a known node, with an auth key, or would need a login.
func TestDoctorTailnetState(t *testing.T) {
	known := t.TempDir()
	os.MkdirAll(filepath.Join(known, "tailnet"), 0o700)
	os.WriteFile(filepath.Join(known, "tailnet", "tailscaled.state"), []byte("{}"), 0o600)
	tests := []struct {
		name, state, authKey, want string
	}{
		{"known node", known, "", `ok\s+node state in`},
		{"auth key", t.TempDir(), "tskey-auth-test", `ok\s+no node state yet; TS_AUTHKEY is set`},
		{"neither", t.TempDir(), "", `skipped\s+no node state and no TS_AUTHKEY`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TS_AUTHKEY", tc.authKey)
			_, stdout, _ := runCLI(t, "doctor", "--config", writeFile(t, `{"providers": {"p": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["m"], "disabled": true}}}`), "--state-dir", tc.state)
			if !regexp.MustCompile(`(?m)^tailnet\s+` + tc.want).MatchString(stdout) {
				t.Errorf("tailnet row, want %q:\n%s", tc.want, stdout)
			}
			if strings.Contains(stdout, "tskey-auth-test") {
				t.Error("doctor printed the auth key")
			}
		})
	}
}
