// Package policy owns sluice's configuration: the Aperture-compatible HuJSON
// model (providers, temp_grants, hooks, database, exporters), loading with
// ${VAR} macro substitution, defaults, validation with the documented error
// texts, and the index from model name to the providers that serve it.
package policy

import (
	"time"

	"github.com/sluice-gateway/sluice/apiformat"
)

// Config is one loaded, validated configuration. It is immutable once Parse
// returns it: everything derived from it is built per revision by callers.
type Config struct {
	// File names the source ("config.hujson", or "default.hujson" for the
	// embedded default); positions in diagnostics refer to it.
	File string
	// Raw is the file as read, kept for diagnostics and export.
	Raw []byte

	// Providers in declaration order; routing depends on this order.
	Providers []*Provider
	// TempGrants in declaration order. When the file has no access
	// section at all (no temp_grants, and none of the refused grants,
	// quotas, connectors, mcp, sandboxes), these are the default
	// configuration's grants and GrantsDefaulted is true.
	TempGrants      []*GrantSet
	GrantsDefaulted bool
	// Grants are the entries of the grants section, in declaration order;
	// nil when the file has none.
	Grants []*AppGrant
	// Hooks in declaration order.
	Hooks     []*Hook
	Database  Database
	Exporters Exporters
	// Pricing overrides or extends the built-in price table, by model name.
	Pricing map[string]Price
	// Quotas are the buckets of the quotas section, in file order; nil
	// when the file has none.
	Quotas []*Quota
	// Flags are the values of the flags section, by name. sluice has no
	// flag of its own: they are kept for display and change nothing.
	Flags map[string]bool
	// Tracing is the tracing section (sluice's own); its zero value when
	// the file has none.
	Tracing Tracing
	// ModelAliases rewrite the requested model, first match wins;
	// ForceModel, when set, replaces every requested model before them.
	ModelAliases []AliasRule
	ForceModel   string
	// Routing says how requests fail over and spread among providers.
	Routing Routing
	// Tests are the assertions of the tests section, in file order; nil
	// when the file has none. The engine refuses a policy that fails one.
	Tests []*Assertion
	// Connectors are the entries of connectors.servers, in file order;
	// nil when the file has none.
	Connectors []*Connector

	// Warnings found while loading (unknown fields, missing API keys).
	Warnings Errors

	providerByID map[string]*Provider
	hookByName   map[string]*Hook
	index        map[string][]*Provider
	prices       map[priceKey]knownPrice
	grantsForce  bool
}

// Provider is one upstream LLM API.
type Provider struct {
	ID            string
	BaseURL       string
	Models        []string
	APIKey        string
	Authorization string // AuthBearer, AuthXAPIKey or AuthXGoogAPIKey
	Tailnet       bool
	Name          string
	Description   string
	Compatibility Compatibility
	// Project and Region name the Google Cloud project and region of a
	// Vertex provider; when empty they come from the service-account key.
	Project string
	Region  string
	// Disabled keeps the provider in the configuration (for display) but
	// out of routing, the model list and policy: it never gets a request.
	Disabled bool
	// CostBasis names the vendor price list the provider's models are
	// priced by (one of CostBases); empty means the default prices.
	CostBasis string
	// Headers are set on every request to the provider, replacing the
	// client's (a client identity such as User-Agent); never credentials.
	Headers []Header
	// Weight is the provider's share under weighted load balancing;
	// zero counts as 1.
	Weight int
	// Translate lets clients of every API format reach the provider:
	// a request in a format the provider does not speak is translated
	// into one it does (see Compatibility). Without it a provider serves
	// only the formats its compatibility flags turn on.
	Translate bool
	// H2C speaks cleartext HTTP/2 with prior knowledge to an http://
	// base URL (a model server that serves h2c: vLLM behind a proxy
	// that does, a tailnet box), so many streams share few connections.
	// Off, http:// upstreams get HTTP/1.1; https:// ones negotiate
	// HTTP/2 with ALPN either way.
	H2C bool
	Pos Pos
}

// Basis is the cost basis hooks report for the provider: its cost_basis,
// or its ID when none is configured (the default prices apply then).
func (p *Provider) Basis() string {
	if p.CostBasis != "" {
		return p.CostBasis
	}
	return p.ID
}

// Authorization types of a provider (or hook) credential, from the one
// registry in package apiformat.
const (
	AuthBearer      = apiformat.AuthBearer
	AuthXAPIKey     = apiformat.AuthXAPIKey
	AuthXGoogAPIKey = apiformat.AuthXGoogAPIKey
)

// AuthTypes lists the valid authorization types.
var AuthTypes = apiformat.AuthTypes()

// API format names, as used by compatibility flags and the Rego input,
// from the one registry in package apiformat.
const (
	FormatOpenAIChat            = apiformat.OpenAIChat
	FormatOpenAIResponses       = apiformat.OpenAIResponses
	FormatAnthropicMessages     = apiformat.AnthropicMessages
	FormatGeminiGenerateContent = apiformat.GeminiGenerateContent
	FormatBedrockModelInvoke    = apiformat.BedrockModelInvoke
	FormatBedrockConverse       = apiformat.BedrockConverse
	FormatGoogleGenerateContent = apiformat.GoogleGenerateContent
	FormatGoogleRawPredict      = apiformat.GoogleRawPredict
)

// Formats lists every compatibility flag in documentation order.
var Formats = apiformat.Formats()

// FlagGeminiCLIVertexCompat is the compatibility flag Gemini CLI in Vertex
// mode needs. It is not a format of its own: Gemini CLI sends Vertex-style
// generateContent paths, which sluice serves as google_generate_content, so
// the flag turns that format on for the provider.
const FlagGeminiCLIVertexCompat = "experimental_gemini_cli_vertex_compat"

// Compatibility says which API formats a provider supports. Only
// openai_chat defaults to true, as documented.
type Compatibility map[string]bool

// DefaultCompatibility returns the documented defaults.
func DefaultCompatibility() Compatibility {
	c := make(Compatibility, len(Formats))
	for _, f := range Formats {
		c[f] = f == FormatOpenAIChat
	}
	return c
}

// Supports reports whether the provider speaks format.
func (c Compatibility) Supports(format string) bool { return c[format] }

// UpstreamFormat is the API format sluice calls the provider in for a
// model request (not a token count or a compaction) that arrives in
// format: format itself when the provider speaks it; else, when the
// provider translates, the first of its formats, in documentation order,
// that format translates to. ok is false when the provider cannot serve
// such a request. The gateway routes with it, and policy explanations and
// replays decide with it, so all three see the same upstream_format.
func (p *Provider) UpstreamFormat(format string) (upstream string, ok bool) {
	if p.Compatibility.Supports(format) {
		return format, true
	}
	if !p.Translate || !apiformat.Translatable(format) {
		return "", false
	}
	for _, f := range Formats {
		if p.Compatibility[f] && apiformat.Translatable(f) {
			return f, true
		}
	}
	return "", false
}

// Enabled lists the supported formats in documentation order.
func (c Compatibility) Enabled() []string {
	var out []string
	for _, f := range Formats {
		if c[f] {
			out = append(out, f)
		}
	}
	return out
}

// GrantSet is one entry of temp_grants: sources and what they are granted.
type GrantSet struct {
	Index  int // position in temp_grants
	Src    []string
	Grants []*Grant
	Pos    Pos
}

// Roles a role grant may assign.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Grant is one element of a GrantSet's grants. Exactly one of Role,
// Providers, Hook, MCP or Quotas is set.
type Grant struct {
	Set       int // index of the GrantSet in temp_grants
	Index     int // position in the set's grants
	Role      string
	Providers []ProviderGrant
	Hook      *HookGrant
	MCP       []MCPGrant
	// Quotas (`{"quotas": [{"bucket": NAME}, ...]}`, sluice's temp_grants
	// form of the grants capability) are the buckets every request of the
	// set's sources is charged in, whatever its provider and model.
	Quotas []string
	Pos    Pos
}

// Source names the grant the way diagnostics and generated Rego do:
// "temp_grants[i].grants[j]".
func (g *Grant) Source() string {
	return "temp_grants[" + itoa(g.Set) + "].grants[" + itoa(g.Index) + "]"
}

// ProviderGrant allows a provider/model pair; either may be a "*" glob.
type ProviderGrant struct {
	Provider string
	Model    string
	Pos      Pos
}

// MCPGrant allows an MCP server/tool pair; either may be a "*" glob.
type MCPGrant struct {
	Server string
	Tool   string
	Pos    Pos
}

// Hook events.
const (
	EventToolCallEntireRequest = "tool_call_entire_request"
	EventEntireRequest         = "entire_request"
	EventPreRequest            = "pre_request"
	// EventToolCall fires before a tool call through /v1/mcp reaches its
	// connector; like pre_request it may block the call.
	EventToolCall = "tool_call"
)

// Events lists the hook events sluice knows.
var Events = []string{EventToolCallEntireRequest, EventEntireRequest, EventPreRequest, EventToolCall}

// Hook payload fields.
const (
	FieldTools        = "tools"
	FieldRequestBody  = "request_body"
	FieldUserMessage  = "user_message"
	FieldResponseBody = "response_body"
	FieldRawResponses = "raw_responses"
	// FieldEstimatedCost asks for metadata.estimated_cost (after the
	// response only: a pre_request call has no usage to price).
	FieldEstimatedCost = "estimated_cost"
	// FieldGrants asks for metadata.grants, the caller's custom
	// capabilities by name; temp_grants has none, so it is empty.
	FieldGrants = "grants"
	// FieldQuotas asks for metadata.quotas, the caller's quota buckets.
	FieldQuotas = "quotas"
)

// HookFields lists the payload fields a hook grant may ask for.
var HookFields = []string{FieldTools, FieldRequestBody, FieldUserMessage, FieldResponseBody, FieldRawResponses,
	FieldEstimatedCost, FieldGrants, FieldQuotas}

// HookGrant sends matching traffic to a hook.
type HookGrant struct {
	Match  HookMatch
	Hook   string
	Fields []string
	// Condition is an optional CEL expression that must also hold.
	Condition    string
	ConditionPos Pos
}

// HookMatch is AND across non-empty fields, OR within a field.
type HookMatch struct {
	Providers []string
	Models    []string
	Events    []string
}

// Hook fail policies for pre_request hooks.
const (
	FailOpen   = "fail_open"
	FailClosed = "fail_closed"
)

// DefaultHookTimeout applies when a hook sets no timeout.
const DefaultHookTimeout = 5 * time.Second

// Hook is a webhook endpoint that hook grants reference.
type Hook struct {
	Name          string
	URL           string
	APIKey        string
	Authorization string
	// Timeout bounds one call; zero means no timeout.
	Timeout    time.Duration
	FailPolicy string
	Disabled   bool
	// Preference orders pre_request hooks: higher first, ties by name.
	Preference int
	Pos        Pos
}

// Database holds the database section.
type Database struct {
	SaveRaws           bool
	KeepEncryptedBlobs bool
	// Retention is how long request rows and blobs are kept; zero keeps
	// them forever.
	Retention time.Duration
	// ZeroRetention is Aperture's `"retention": {"duration": "0"}`: no
	// request content on disk. sluice writes bodies only with save_raws,
	// so this refuses save_raws and keep_encrypted_blobs; request rows
	// (metadata and usage) are kept, as Aperture keeps them.
	ZeroRetention bool
	// OnLogFailure says what a request does when its log row cannot be
	// written: LogFailureRefuse (the default) or LogFailureServe.
	OnLogFailure string
	// ContentOnly is set by the object form of retention
	// (`{"duration": ...}`): once Retention passes, the janitor purges
	// request content (the Purge categories) and keeps the request rows,
	// whose metadata and usage feed the dashboards and rollups. The older
	// string form (`"retention": "720h"`) deletes whole rows.
	ContentOnly bool
	// Purge lists the content categories the object form removes
	// (PurgeRequestBody, PurgeResponseBody); empty means all of them.
	Purge []string
	// RequireExport keeps content until the S3 exporter has stored it:
	// content is purged only when it is exported and Retention passed.
	RequireExport bool
}

// Content categories database.retention.purge names.
const (
	PurgeRequestBody  = "request_body"
	PurgeResponseBody = "response_body"
)

// PurgeCategories lists the categories in the order they are documented.
var PurgeCategories = []string{PurgeRequestBody, PurgeResponseBody}

// What a request does when its log row cannot be written.
const (
	// LogFailureRefuse refuses requests while logging fails: nothing is
	// served that is not recorded.
	LogFailureRefuse = "refuse"
	// LogFailureServe keeps serving and counts the rows lost.
	LogFailureServe = "serve"
)

// MinRetention and MaxRetention bound a non-zero retention given in
// Aperture's object form.
const (
	MinRetention = time.Hour
	MaxRetention = 3650 * 24 * time.Hour
)

// Exporters holds the exporters section.
type Exporters struct {
	S3   *S3Exporter
	HTTP *HTTPExporter
}

// Export defaults.
const (
	// DefaultExportEvery is the seconds between two export cycles.
	DefaultExportEvery = 60
	// DefaultExportLimit is the records one exported object (or one HTTP
	// post) holds at most.
	DefaultExportLimit = 1000
	// MaxExportLimit bounds limit, so one object stays a bounded size.
	MaxExportLimit = 100_000
)

// S3Exporter exports the request log to an S3 bucket. A non-empty
// BucketName enables it.
type S3Exporter struct {
	BucketName   string
	Region       string
	Endpoint     string
	Prefix       string
	AccessKeyID  string
	AccessSecret string
	Every        int // seconds between exports (DefaultExportEvery when 0)
	Limit        int // records per object (DefaultExportLimit when 0)
	Pos          Pos
}

// HTTPExporter posts the request log as NDJSON (one JSON record a line)
// to a SIEM's HTTP collector.
type HTTPExporter struct {
	URL           string
	APIKey        string
	Authorization string // AuthBearer (default), AuthXAPIKey ...
	Every         int    // seconds between exports (DefaultExportEvery when 0)
	Limit         int    // records per post (DefaultExportLimit when 0)
	Timeout       time.Duration
	Pos           Pos
}

// Provider returns the provider with the given ID, or nil.
func (c *Config) Provider(id string) *Provider { return c.providerByID[id] }

// Hook returns the hook with the given name, or nil.
func (c *Config) Hook(name string) *Hook { return c.hookByName[name] }
