package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"

	"github.com/sluice-gateway/sluice/compat"
)

// headerLoop marks the requests a gateway forwards with the gateway's own
// random ID. A provider whose base URL leads back to the same gateway (a
// misconfiguration, or a tailnet name that resolves to itself) would
// otherwise forward each request to itself without end, until it runs out
// of connections and memory; with the mark, the second pass is refused.
const headerLoop = "Sluice-Loop"

// newLoopID returns a random ID for one gateway process.
func newLoopID() []string {
	var b [8]byte
	rand.Read(b[:])
	return []string{hex.EncodeToString(b[:])}
}

// looped reports whether r is a request this gateway forwarded itself.
func (s *Server) looped(r *http.Request) bool {
	return slices.Contains(r.Header.Values(headerLoop), s.loopID[0])
}

// refuseLoop answers a request that came back to the gateway that
// forwarded it: 508, in the caller's format, naming the likely cause.
func (ex *exchange) refuseLoop() {
	ex.fail(http.StatusLoopDetected, compat.KindUpstreamError,
		"this request came back to the gateway that forwarded it: a provider's base URL points at the gateway itself", "forwarding loop")
}
