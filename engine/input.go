package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is what a decision is about: who asks, and for what. It becomes the
// Rego input document
//
//	{"user": {"login", "node_id", "tailnet", "tags"}, "request": {"provider", "model", "format", "path", "requested_model"}}
type Input struct {
	User    User    `json:"user"`
	Request Request `json:"request"`
	// Caps are the caller's "tailscale.com/cap/aperture" capabilities from
	// the tailnet policy file, as WhoIs returned them (raw JSON objects).
	// They become input.user.caps, where the library unions them with the
	// configuration's grants.
	Caps []json.RawMessage `json:"caps,omitempty"`
}

// User is the caller as the tailnet identifies them.
type User struct {
	Login   string   `json:"login" cel:"login"`
	NodeID  string   `json:"node_id" cel:"node_id"`
	Tailnet string   `json:"tailnet" cel:"tailnet"`
	Tags    []string `json:"tags" cel:"tags"`
	// Groups are the caller's groups as WhoIs reports them ("group:eng",
	// or SCIM groups by email), sorted; grants name them in src.
	Groups []string `json:"groups,omitempty" cel:"groups"`
}

// Request is the upstream call the caller wants.
type Request struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Format is the caller's API format; UpstreamFormat the one the
	// provider is called in. They differ only when sluice translates; an
	// empty UpstreamFormat means Format, so a policy can always compare
	// the two (and forbid translation).
	Format         string `json:"format"`
	UpstreamFormat string `json:"upstream_format"`
	Path           string `json:"path"`
	// RequestedModel is the model the client asked for, before
	// force_model and model_aliases made it Model; equal to Model when
	// nothing rewrote it ("" is read as Model).
	RequestedModel string `json:"requested_model,omitempty"`
}

var (
	keyUser     = ast.StringTerm("user")
	keyRequest  = ast.StringTerm("request")
	keyLogin    = ast.StringTerm("login")
	keyNodeID   = ast.StringTerm("node_id")
	keyTailnet  = ast.StringTerm("tailnet")
	keyTags     = ast.StringTerm("tags")
	keyProvider = ast.StringTerm("provider")
	keyModel    = ast.StringTerm("model")
	keyFormat   = ast.StringTerm("format")
	keyUpFormat = ast.StringTerm("upstream_format")
	keyPath     = ast.StringTerm("path")
	keyReqModel = ast.StringTerm("requested_model")
	keyCaps     = ast.StringTerm("caps")
	keyGroups   = ast.StringTerm("groups")
)

// canonical returns in with its tags sorted and deduplicated (tag order
// means nothing, and decisions are memoized on the sorted set) and its
// upstream format set.
func (in Input) canonical() Input {
	in.canonicalize()
	return in
}

// canonicalize makes in canonical in place, which spares copying it.
func (in *Input) canonicalize() {
	if in.Request.UpstreamFormat == "" {
		in.Request.UpstreamFormat = in.Request.Format
	}
	tags := in.User.Tags
	for i := 1; i < len(tags); i++ {
		if tags[i-1] >= tags[i] {
			t := slices.Clone(tags)
			slices.Sort(t)
			in.User.Tags = slices.Compact(t)
			return
		}
	}
}

// value builds the input document as an AST value, so evaluation needs no
// JSON round trip. Its strings' terms come from one allocation, and a
// string the document holds twice (model and requested_model, format and
// upstream_format, as most requests have) is one term: building the input
// is a fixed share of every uncached decision.
func (in Input) value() ast.Value {
	terms := make([]ast.Term, 0, 9+len(in.User.Tags)+len(in.User.Groups))
	str := func(s string) *ast.Term {
		terms = append(terms, ast.Term{Value: ast.String(s)})
		return &terms[len(terms)-1]
	}
	tags := make([]*ast.Term, len(in.User.Tags))
	for i, t := range in.User.Tags {
		tags[i] = str(t)
	}
	user := ast.NewObject(
		[2]*ast.Term{keyLogin, str(in.User.Login)},
		[2]*ast.Term{keyNodeID, str(in.User.NodeID)},
		[2]*ast.Term{keyTailnet, str(in.User.Tailnet)},
		[2]*ast.Term{keyTags, ast.ArrayTerm(tags...)},
	)
	if len(in.User.Groups) > 0 {
		groups := make([]*ast.Term, len(in.User.Groups))
		for i, g := range in.User.Groups {
			groups[i] = str(g)
		}
		user.Insert(keyGroups, ast.ArrayTerm(groups...))
	}
	if len(in.Caps) > 0 {
		caps := make([]*ast.Term, 0, len(in.Caps))
		for _, raw := range in.Caps {
			// A capability that is not JSON becomes null, which grants
			// nothing.
			v, err := ast.ValueFromReader(bytes.NewReader(raw))
			if err != nil {
				v = ast.Null{}
			}
			caps = append(caps, ast.NewTerm(v))
		}
		user.Insert(keyCaps, ast.ArrayTerm(caps...))
	}
	model := str(in.Request.Model)
	requested := model
	if r := in.Request.requested(); r != in.Request.Model {
		requested = str(r)
	}
	format := str(in.Request.Format)
	upstream := format
	if in.Request.UpstreamFormat != in.Request.Format {
		upstream = str(in.Request.UpstreamFormat)
	}
	req := ast.NewObject(
		[2]*ast.Term{keyProvider, str(in.Request.Provider)},
		[2]*ast.Term{keyModel, model},
		[2]*ast.Term{keyFormat, format},
		[2]*ast.Term{keyUpFormat, upstream},
		[2]*ast.Term{keyPath, str(in.Request.Path)},
		[2]*ast.Term{keyReqModel, requested},
	)
	return ast.NewObject([2]*ast.Term{keyUser, ast.NewTerm(user)}, [2]*ast.Term{keyRequest, ast.NewTerm(req)})
}

// requested is the model the client asked for.
func (r Request) requested() string {
	if r.RequestedModel == "" {
		return r.Model
	}
	return r.RequestedModel
}

// keyFields says which input fields beyond the default key a revision's
// policy reads, so that memoized decisions stay exact.
type keyFields struct {
	nodeID, tailnet, path, requested bool
}

// appendCacheKey appends the key that identifies in's decision within one
// revision to b. in must be canonical. Every field is length-prefixed, so
// no value a client controls (a model name, a path) can make two inputs
// share a key. Callers build it in a stack buffer: a cache hit allocates
// nothing for its key, and in is not copied.
func (in *Input) appendCacheKey(b []byte, k keyFields) []byte {
	b = appendKeyField(b, in.User.Login)
	b = binary.AppendUvarint(b, uint64(len(in.User.Tags)))
	for _, t := range in.User.Tags {
		b = appendKeyField(b, t)
	}
	b = appendKeyField(b, in.Request.Provider)
	b = appendKeyField(b, in.Request.Model)
	b = appendKeyField(b, in.Request.Format)
	b = appendKeyField(b, in.Request.UpstreamFormat)
	b = binary.AppendUvarint(b, uint64(len(in.User.Groups)))
	for _, g := range in.User.Groups {
		b = appendKeyField(b, g)
	}
	b = binary.AppendUvarint(b, uint64(len(in.Caps)))
	for _, c := range in.Caps {
		b = appendKeyField(b, string(c))
	}
	if k.nodeID {
		b = appendKeyField(b, in.User.NodeID)
	}
	if k.tailnet {
		b = appendKeyField(b, in.User.Tailnet)
	}
	if k.path {
		b = appendKeyField(b, in.Request.Path)
	}
	if k.requested {
		b = appendKeyField(b, in.Request.requested())
	}
	return b
}

// cacheKey is appendCacheKey as a string.
func (in Input) cacheKey(k keyFields) string { return string(in.appendCacheKey(nil, k)) }

func appendKeyField(b []byte, s string) []byte {
	if len(s) < 0x80 { // the usual case: a length of one byte
		return append(append(b, byte(len(s))), s...)
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
