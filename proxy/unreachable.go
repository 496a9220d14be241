package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"syscall"
)

// UnreachableReason says in a few words why a provider could not be
// reached, for the caller and the operator: the DNS lookup failed, the
// connection was refused or reset, the TLS handshake failed, the network
// has no route. It names no host, URL or key: the caller sees it. Empty
// when the error is none of these.
func UnreachableReason(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS failure: its host name does not resolve"
		}
		return "DNS failure: its host name could not be looked up"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to its host"
	case errors.As(err, &unknownCA):
		return "TLS error: its certificate is signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "TLS error: its certificate is not valid for its host name"
	case errors.As(err, &invalidCert):
		return "TLS error: its certificate is invalid (expired or not yet valid)"
	case errors.As(err, &verifyErr):
		return "TLS error: its certificate could not be verified"
	case errors.As(err, &recordErr):
		return "TLS error: it does not speak TLS on that port"
	case errors.As(err, &alert):
		return "TLS error: the handshake was refused"
	}
	return ""
}

// upstreamDetail is err for the server log and the request record: the
// transport's own words without the request URL, whose query may carry a
// credential.
func upstreamDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
