package policy

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tailscale/hujson"
)

// Connector protocols.
const (
	// ConnectorMCP is a remote MCP server whose tools, resources and
	// prompts sluice re-exposes at /v1/mcp.
	ConnectorMCP = "mcp"
	// ConnectorHTTP is an HTTP API sluice proxies at
	// /v1/connectors/<id>/<path>, injecting the connector's credential.
	ConnectorHTTP = "http"
)

// Connector authentication types. The shared ones are the same for every
// permitted caller; the per-user OAuth flows are documented by Aperture but
// not served by sluice, and refused at load.
const (
	ConnectorAuthBearer            = "bearer_token"
	ConnectorAuthAPIKey            = "api_key"
	ConnectorAuthBasic             = "basic"
	ConnectorAuthClientCredentials = "oauth2_client_credentials"
	ConnectorAuthCode              = "oauth2_authorization_code"
	ConnectorAuthDCR               = "oauth2_dcr"
)

// ConnectorAuthTypes lists the auth types sluice serves.
var ConnectorAuthTypes = []string{ConnectorAuthBearer, ConnectorAuthAPIKey, ConnectorAuthBasic, ConnectorAuthClientCredentials}

// ReservedConnectorIDs are connector IDs a configuration may not use: they
// name built-in connectors.
var ReservedConnectorIDs = []string{"aperture", "tailscale", "internal"}

// DefaultAPIKeyHeader carries an api_key credential that names no header.
const DefaultAPIKeyHeader = "X-API-Key"

// connectorIDRE is the documented connector ID: "_" and "-" separate the
// ID from tool names and resource URIs on the wire, so they are not allowed.
var connectorIDRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

// Connector is one entry of connectors.servers.
type Connector struct {
	ID       string
	Protocol string
	URL      string
	// Provider names the registry entry of a verified connector; "Custom"
	// by default. Kept for display.
	Provider string
	// Tailnet dials the connector through the gateway's tailnet node.
	Tailnet bool
	// Labels are what "label:<name>" grants select.
	Labels []string
	Auth   ConnectorAuth
	Pos    Pos
}

// ConnectorAuth is a connector's shared credential. Its secrets come from
// the file (usually as ${VAR} macros) and are never logged or shown.
type ConnectorAuth struct {
	// Type is "" (no credential) or one of ConnectorAuthTypes.
	Type string
	// Token is the bearer_token credential.
	Token string
	// Key and Header are the api_key credential and the header that
	// carries it (DefaultAPIKeyHeader when unset).
	Key    string
	Header string
	// Username and Password are the basic credential.
	Username string
	Password string
	// ClientID, ClientSecret, TokenURL and Scopes are the
	// oauth2_client_credentials grant: sluice fetches a token from
	// TokenURL and reuses it until it expires.
	ClientID     string
	ClientSecret string
	TokenURL     string
	Scopes       []string
}

// Connector returns the connector with the given ID, or nil.
func (c *Config) Connector(id string) *Connector {
	for _, k := range c.Connectors {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// connectors reads the connectors section: {"servers": {id: {...}}}.
func (d *decoder) connectors(c *Config, v *hujson.Value, path string) {
	d.object(v, path, func(key string, sv *hujson.Value, sp string) bool {
		if key != "servers" {
			return false
		}
		d.members(sv, sp, func(m *hujson.ObjectMember, id, p string) {
			d.connector(c, &m.Name, &m.Value, id, p)
		})
		return true
	})
}

func (d *decoder) connector(c *Config, name, v *hujson.Value, id, p string) {
	k := &Connector{ID: id, Provider: "Custom", Pos: d.pos(v)}
	switch {
	case !connectorIDRE.MatchString(id):
		d.errorAt(name, p, CodeBadConnector, errorf("connector ID %q is invalid: want a letter followed by letters and digits (no \"_\" or \"-\", which separate the ID from tool names)", id))
	case slices.Contains(ReservedConnectorIDs, strings.ToLower(id)):
		d.errorAt(name, p, CodeBadConnector, errorf("connector ID %q is reserved (reserved: %s)", id, strings.Join(ReservedConnectorIDs, ", ")))
	}
	protoSet := false
	d.object(v, p, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "protocol":
			k.Protocol, protoSet = d.str(fv, fp), true
		case "url":
			k.URL = d.str(fv, fp)
		case "provider":
			k.Provider = d.str(fv, fp)
		case "tailnet":
			k.Tailnet = d.boolean(fv, fp)
		case "labels":
			k.Labels = d.strs(fv, fp)
			if slices.Contains(k.Labels, "system") {
				d.errorAt(fv, fp, CodeBadConnector, errorf("connector %s: label \"system\" is reserved for built-in connectors", id))
			}
		case "auth":
			d.connectorAuth(k, fv, fp)
		default:
			return false
		}
		return true
	})
	switch {
	case !protoSet:
		d.errorAt(v, p, CodeBadConnector, errorf("connector %s has no protocol (want %q or %q)", id, ConnectorMCP, ConnectorHTTP))
	case k.Protocol != ConnectorMCP && k.Protocol != ConnectorHTTP:
		d.errorAt(v, child(p, "protocol"), CodeBadConnector, errorf("connector %s has unknown protocol %q (want %q or %q)", id, k.Protocol, ConnectorMCP, ConnectorHTTP))
	}
	if k.URL == "" {
		d.warnAt(v, p, CodeBadConnector, errorf("connector %s has no url; its requests will fail", id))
	} else if u, err := url.Parse(k.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorAt(v, child(p, "url"), CodeBadConnector, errorf("connector %s has invalid url (want an http:// or https:// URL)", id))
	}
	c.Connectors = append(c.Connectors, k)
}

func (d *decoder) connectorAuth(k *Connector, v *hujson.Value, p string) {
	a := &k.Auth
	typeSet := false
	d.object(v, p, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "type":
			a.Type, typeSet = d.str(fv, fp), true
		case "token":
			a.Token = d.str(fv, fp)
		case "key":
			a.Key = d.str(fv, fp)
		case "header":
			a.Header = d.str(fv, fp)
		case "username":
			a.Username = d.str(fv, fp)
		case "password":
			a.Password = d.str(fv, fp)
		case "client_id":
			a.ClientID = d.str(fv, fp)
		case "client_secret":
			a.ClientSecret = d.str(fv, fp)
		case "token_url":
			a.TokenURL = d.str(fv, fp)
		case "scopes":
			a.Scopes = d.strs(fv, fp)
		default:
			return false
		}
		return true
	})
	id := k.ID
	need := func(field, value string) {
		if value == "" {
			d.errorAt(v, p, CodeBadConnector, errorf("connector %s: auth type %s needs %q", id, a.Type, field))
		}
	}
	switch a.Type {
	case ConnectorAuthBearer:
		need("token", a.Token)
	case ConnectorAuthAPIKey:
		need("key", a.Key)
		if a.Header == "" {
			a.Header = DefaultAPIKeyHeader
		}
	case ConnectorAuthBasic:
		need("username", a.Username)
	case ConnectorAuthClientCredentials:
		need("client_id", a.ClientID)
		need("client_secret", a.ClientSecret)
		need("token_url", a.TokenURL)
		if u, err := url.Parse(a.TokenURL); a.TokenURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			d.errorAt(v, child(p, "token_url"), CodeBadConnector, errorf("connector %s has invalid auth.token_url (want an http:// or https:// URL)", id))
		}
	case ConnectorAuthCode, ConnectorAuthDCR:
		d.errorAt(v, child(p, "type"), CodeBadConnector, errorf("connector %s: auth type %s (per-user OAuth) is not supported by this version of sluice (supported: %s)", id, a.Type, strings.Join(ConnectorAuthTypes, ", ")))
	default:
		if !typeSet {
			d.errorAt(v, p, CodeBadConnector, errorf("connector %s: auth has no type (want one of %s)", id, strings.Join(ConnectorAuthTypes, ", ")))
		} else {
			d.errorAt(v, child(p, "type"), CodeBadConnector, errorf("connector %s has unknown auth type %q (want one of %s)", id, a.Type, strings.Join(ConnectorAuthTypes, ", ")))
		}
	}
}
