package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/auth/bearer"

	"github.com/sluice-gateway/sluice/internal/awssdktest"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// Bedrock model IDs of the tests, and their escaped form in the paths the
// SDK writes and the provider receives.
const (
	claudeBedrock       = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	claudeBedrockID     = "anthropic.claude-sonnet-4-5-20250929-v1%3A0"
	novaBedrock         = "us.amazon.nova-lite-v1:0"
	novaBedrockID       = "us.amazon.nova-lite-v1%3A0"
	clientBedrockAPIKey = "ABSK-client-bedrock-c8"
	// An inference profile ARN: the SDK escapes its ':' and '/'.
	profileARN   = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	profileARNID = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
)

// newBedrock builds a Bedrock Runtime client for endpoint. It signs with
// static fake AWS credentials of its own, or, when apiKey is set, sends
// that Bedrock API key as a bearer token; AWS_BEARER_TOKEN_BEDROCK in the
// environment changes neither. base carries the requests (a new
// transport when nil), behind awssdktest.RequestBodyBuffer.
func newBedrock(t *testing.T, endpoint string, base http.RoundTripper, apiKey string) *bedrockruntime.Client {
	t.Helper()
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		base = tr
	}
	opts := bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(clientAWSAccessKeyID, clientAWSSecret, clientAWSSession),
		HTTPClient:   &http.Client{Transport: awssdktest.RequestBodyBuffer{Base: base}},
	}
	return bedrockruntime.New(opts, func(o *bedrockruntime.Options) {
		o.BearerAuthTokenProvider, o.AuthSchemePreference = nil, nil
		if apiKey != "" {
			o.BearerAuthTokenProvider = bearer.TokenProviderFunc(func(context.Context) (bearer.Token, error) {
				return bearer.Token{Value: apiKey}, nil
			})
			o.AuthSchemePreference = []string{"httpBearerAuth"}
		}
	})
}

// bedrockClient is the Bedrock SDK pointed at sluice at base: "/bedrock",
// or "" for the endpoint without that prefix.
func bedrockClient(t *testing.T, gw *gateway, base string) *bedrockruntime.Client {
	t.Helper()
	return newBedrock(t, gw.URL+base, nil, "")
}

// bedrockAPIKeyClient authenticates with a Bedrock API key of its own (a
// bearer token) instead of signing. The SDK sends bearer tokens over HTTPS
// only, so it reaches the same gateway through a TLS listener, as clients
// do behind an HTTPS front such as tailscale serve.
func bedrockAPIKeyClient(t *testing.T, gw *gateway) *bedrockruntime.Client {
	t.Helper()
	front := httptest.NewTLSServer(gw.srv)
	t.Cleanup(front.Close)
	return newBedrock(t, front.URL+"/bedrock", front.Client().Transport, clientBedrockAPIKey)
}

// bedrockH2CClient speaks cleartext HTTP/2 only, as the AWS JavaScript
// SDK does towards http:// endpoints; the Go SDK uses HTTP/1.1 there.
func bedrockH2CClient(t *testing.T, gw *gateway) *bedrockruntime.Client {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return newBedrock(t, gw.URL+"/bedrock", tr, "")
}

var bedrockAuth = sdkAuth{header: "Authorization", value: "Bearer " + providerKeyBedrock,
	secrets: []string{clientAWSAccessKeyID, clientAWSSecret, clientAWSSession, clientBedrockAPIKey}}

// signedHeadersStripped asserts that none of the SigV4 headers the SDK
// signed with reached the provider.
func signedHeadersStripped(t *testing.T, got proxytest.Received) {
	t.Helper()
	for _, name := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if v := got.Header.Get(name); v != "" {
			t.Errorf("upstream got the client's %s: %q", name, v)
		}
	}
}
