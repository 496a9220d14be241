package compat

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Authorization types of a provider credential, as in the configuration.
const (
	AuthBearer      = "bearer"
	AuthXAPIKey     = "x-api-key"
	AuthXGoogAPIKey = "x-goog-api-key"
)

// ErrAuthType reports an authorization type compat does not know.
var ErrAuthType = errors.New("unknown authorization type")

// clientCredentialHeaders are headers by which a client may present a
// credential of its own (API keys, bearer tokens, AWS SigV4 signatures,
// session cookies). None of them may reach an upstream.
var clientCredentialHeaders = []string{
	"Authorization",
	"Proxy-Authorization",
	"X-Api-Key",
	"X-Goog-Api-Key",
	"Api-Key", // Azure OpenAI
	"X-Amz-Security-Token",
	"X-Amz-Date",
	"X-Amz-Content-Sha256",
	"Cookie",
}

// credentialParams are query parameters that carry client credentials.
var credentialParams = []string{"key", "api_key", "api-key", "access_token"}

func isCredentialParam(name string) bool {
	for _, p := range credentialParams {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	// Presigned AWS requests: X-Amz-Credential, X-Amz-Signature, ...
	return len(name) > 6 && strings.EqualFold(name[:6], "x-amz-")
}

// StripClientCredentials removes every credential a client may have sent,
// from the headers and from the query (either may be nil): Authorization,
// Proxy-Authorization, x-api-key, x-goog-api-key, api-key, AWS SigV4
// headers, cookies, and the key=, api_key=, access_token= and X-Amz-*
// query parameters.
func StripClientCredentials(h http.Header, q url.Values) {
	for _, name := range clientCredentialHeaders {
		h.Del(name)
	}
	for name := range q {
		if isCredentialParam(name) {
			delete(q, name)
		}
	}
}

// SetAuth sets the provider credential on an upstream request's headers:
// "Authorization: Bearer key", "x-api-key: key" or "x-goog-api-key: key".
// An empty key sets nothing (a provider without apikey). An empty
// authType means bearer, the documented default.
func SetAuth(h http.Header, authType, key string) error {
	if authType == "" {
		authType = AuthBearer
	}
	var name, value string
	switch authType {
	case AuthBearer:
		name, value = "Authorization", "Bearer "+key
	case AuthXAPIKey:
		name, value = "X-Api-Key", key
	case AuthXGoogAPIKey:
		name, value = "X-Goog-Api-Key", key
	default:
		return fmt.Errorf("%w %q", ErrAuthType, authType)
	}
	if key != "" {
		h.Set(name, value)
	}
	return nil
}
