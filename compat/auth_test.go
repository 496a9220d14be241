package compat

import (
	"errors"
	"net/http"
	"testing"
)

func TestIsCredentialParam(t *testing.T) {
	for name, want := range map[string]bool{
		"key": true, "KEY": true, "access_token": true, "api_key": true, "api-key": true, "apikey": true, "token": true,
		"X-Amz-Signature": true, "x-amz-credential": true,
		"alt": false, "beta": false, "keys": false, "x-amz": false, "model": false,
	} {
		if got := IsCredentialParam(name); got != want {
			t.Errorf("IsCredentialParam(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSetAuth(t *testing.T) {
	tests := []struct {
		authType, key string
		header, value string
		wantErr       error
	}{
		{authType: AuthBearer, key: "sk-proj-1", header: "Authorization", value: "Bearer sk-proj-1"},
		{authType: "", key: "bedrock-api-key-2", header: "Authorization", value: "Bearer bedrock-api-key-2"},
		{authType: AuthXAPIKey, key: "sk-ant-3", header: "X-Api-Key", value: "sk-ant-3"},
		{authType: AuthXGoogAPIKey, key: "AIza4", header: "X-Goog-Api-Key", value: "AIza4"},
		{authType: AuthBearer, key: "", header: "Authorization", value: ""},
		{authType: "basic", key: "k", wantErr: ErrAuthType},
	}
	for _, tt := range tests {
		t.Run(tt.authType+"/"+tt.key, func(t *testing.T) {
			h := http.Header{}
			err := SetAuth(h, tt.authType, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if got := h.Get(tt.header); got != tt.value {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.value)
			}
			if want := 0; tt.value == "" && len(h) != want {
				t.Errorf("an empty key set headers: %v", h)
			}
			// AuthHeader's name is canonical: a value set under it by
			// hand is the one SetAuth sets.
			if name, value, err := AuthHeader(tt.authType, tt.key); err != nil || name != tt.header || (tt.key != "" && h[name][0] != value) {
				t.Errorf("AuthHeader = %q, %q, %v; SetAuth set %v", name, value, err, h)
			}
		})
	}
}
