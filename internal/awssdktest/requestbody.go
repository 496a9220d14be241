// Package awssdktest holds what tests that drive the AWS SDK for Go as a
// client need to read its streams reliably.
package awssdktest

import (
	"bytes"
	"io"
	"net/http"
)

// RequestBodyBuffer hands the transport under it a copy of each request
// body. The AWS SDK (smithy-go) closes a request's body as soon as the
// response headers arrive; over HTTP/1.1 that can race with the
// transport's last read of the body, which then fails and closes the
// connection under the event stream still being read ("decode event: use
// of closed network connection"). It happens against any http://
// endpoint, whoever serves it, whenever the SDK's client is the one that
// sends.
type RequestBodyBuffer struct{ Base http.RoundTripper }

func (b RequestBodyBuffer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return b.Base.RoundTrip(r)
}
