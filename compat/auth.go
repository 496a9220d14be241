package compat

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice-gateway/sluice/apiformat"
)

// Authorization types of a provider credential, from the registry in
// package apiformat.
const (
	AuthBearer      = apiformat.AuthBearer
	AuthXAPIKey     = apiformat.AuthXAPIKey
	AuthXGoogAPIKey = apiformat.AuthXGoogAPIKey
)

// ErrAuthType reports an authorization type compat does not know.
var ErrAuthType = errors.New("unknown authorization type")

// credentialParams are query parameters that carry client credentials
// (Gemini's key=, OAuth's access_token=, API keys by other names).
var credentialParams = []string{"key", "api_key", "api-key", "apikey", "access_token", "token"}

// IsCredentialParam reports whether a query parameter of that name carries
// a client credential: one of credentialParams in any letter case, or a
// presigned AWS request's X-Amz-* (X-Amz-Credential, X-Amz-Signature...).
// Such parameters never reach an upstream nor a hook.
func IsCredentialParam(name string) bool {
	for _, p := range credentialParams {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return len(name) > 6 && strings.EqualFold(name[:6], "x-amz-")
}

// SetAuth sets the provider credential on an upstream request's headers:
// "Authorization: Bearer key", "x-api-key: key" or "x-goog-api-key: key".
// An empty key sets nothing (a provider without apikey). An empty
// authType means bearer, the documented default.
func SetAuth(h http.Header, authType, key string) error {
	name, value, err := AuthHeader(authType, key)
	if err != nil {
		return err
	}
	if key != "" {
		h.Set(name, value)
	}
	return nil
}

// AuthHeader is the header SetAuth sets for a credential: its canonical
// name and its value. A caller that sends the same credential many times
// builds the value once (a request then costs no concatenation).
func AuthHeader(authType, key string) (name, value string, err error) {
	if authType == "" {
		authType = AuthBearer
	}
	switch authType {
	case AuthBearer:
		return "Authorization", "Bearer " + key, nil
	case AuthXAPIKey:
		return "X-Api-Key", key, nil
	case AuthXGoogAPIKey:
		return "X-Goog-Api-Key", key, nil
	}
	return "", "", fmt.Errorf("%w %q", ErrAuthType, authType)
}
