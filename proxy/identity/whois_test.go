package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"tailscale.com/client/local"
	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"
)

// fakeWhoIs answers WhoIs from a table keyed by remote address, the way the
// local client answers for the nodes in its netmap.
type fakeWhoIs struct {
	answers map[string]*apitype.WhoIsResponse
	err     error // returned for every address when set
	asked   []string
}

func (f *fakeWhoIs) WhoIs(ctx context.Context, remoteAddr string) (*apitype.WhoIsResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.asked = append(f.asked, remoteAddr)
	if f.err != nil {
		return nil, f.err
	}
	res, ok := f.answers[remoteAddr]
	if !ok {
		return nil, local.ErrPeerNotFound
	}
	return res, nil
}

var home = Tailnet{Name: "example.com", MagicDNSSuffix: "tail1234.ts.net"}

func userNode(id, name string) *tailcfg.Node {
	return &tailcfg.Node{StableID: tailcfg.StableNodeID(id), Name: name, ComputedName: "short", User: 7}
}

func TestWhoIs(t *testing.T) {
	alice := &tailcfg.UserProfile{ID: 7, LoginName: "alice@example.com", DisplayName: "Alice Smith"}
	taggedDevices := &tailcfg.UserProfile{ID: 1, LoginName: "tagged-devices", DisplayName: "Tagged Devices"}
	tagged := &tailcfg.Node{StableID: "nTAG", Name: "ci-runner.tail1234.ts.net.", ComputedName: "ci-runner", Tags: []string{"tag:server", "tag:ci", "tag:ci"}}
	noDNS := &tailcfg.Node{StableID: "nNODNS", Hostinfo: (&tailcfg.Hostinfo{Hostname: "bare-host"}).View()}

	tests := []struct {
		name    string
		remote  string
		asked   string // what WhoIs is asked about remote
		answers map[string]*apitype.WhoIsResponse
		err     error
		want    Identity
		wantErr error // nil: success; errUnknown below for "any error"
	}{
		{
			name:    "user device",
			remote:  "100.64.0.2:51000",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": {Node: userNode("nALICE", "laptop.tail1234.ts.net."), UserProfile: alice}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith", NodeID: "nALICE", NodeName: "laptop.tail1234.ts.net", Tailnet: "example.com"},
		},
		{
			name:    "user device over ipv6",
			remote:  "[fd7a:115c:a1e0::2]:51000",
			asked:   "fd7a:115c:a1e0::2",
			answers: map[string]*apitype.WhoIsResponse{"fd7a:115c:a1e0::2": {Node: userNode("nALICE", "laptop.tail1234.ts.net."), UserProfile: alice}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith", NodeID: "nALICE", NodeName: "laptop.tail1234.ts.net", Tailnet: "example.com"},
		},
		{
			name:    "tagged device is its sorted tags, not its profile",
			remote:  "100.64.0.3:1",
			asked:   "100.64.0.3",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.3": {Node: tagged, UserProfile: taggedDevices}},
			want:    Identity{Login: "tag:ci,tag:server", DisplayName: "ci-runner", NodeID: "nTAG", NodeName: "ci-runner.tail1234.ts.net", Tailnet: "example.com", Tags: []string{"tag:ci", "tag:server"}},
		},
		{
			name:    "tagged device without a profile",
			remote:  "100.64.0.3:1",
			asked:   "100.64.0.3",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.3": {Node: tagged}},
			want:    Identity{Login: "tag:ci,tag:server", DisplayName: "ci-runner", NodeID: "nTAG", NodeName: "ci-runner.tail1234.ts.net", Tailnet: "example.com", Tags: []string{"tag:ci", "tag:server"}},
		},
		{
			name:    "device shared in from another tailnet",
			remote:  "100.64.0.4:1",
			asked:   "100.64.0.4",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.4": {Node: userNode("nBOB", "desk.tail9999.ts.net."), UserProfile: &tailcfg.UserProfile{LoginName: "bob@other.org"}}},
			want:    Identity{Login: "bob@other.org", NodeID: "nBOB", NodeName: "desk.tail9999.ts.net", Tailnet: "tail9999.ts.net"},
		},
		{
			name:    "node without a DNS name is in the home tailnet",
			remote:  "100.64.0.5:1",
			asked:   "100.64.0.5",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.5": {Node: noDNS, UserProfile: alice}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith", NodeID: "nNODNS", NodeName: "bare-host", Tailnet: "example.com"},
		},
		{
			name:    "ipv4-mapped peer is asked about by its ipv4 address",
			remote:  "[::ffff:100.64.0.2]:51000",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": {Node: userNode("nALICE", "laptop.tail1234.ts.net."), UserProfile: alice}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith", NodeID: "nALICE", NodeName: "laptop.tail1234.ts.net", Tailnet: "example.com"},
		},
		{
			name:    "connection proxied by a local tailscaled is asked about with its port",
			remote:  "127.0.0.1:5000",
			asked:   "127.0.0.1:5000",
			answers: map[string]*apitype.WhoIsResponse{"127.0.0.1:5000": {Node: userNode("nALICE", "laptop.tail1234.ts.net."), UserProfile: alice}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith", NodeID: "nALICE", NodeName: "laptop.tail1234.ts.net", Tailnet: "example.com"},
		},
		{
			name:    "unparsable address is passed on and unknown",
			remote:  "garbage",
			asked:   "garbage",
			answers: map[string]*apitype.WhoIsResponse{},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "unknown address",
			remote:  "100.64.0.99:1",
			asked:   "100.64.0.99",
			answers: map[string]*apitype.WhoIsResponse{},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "loopback without a proxied connection is unknown",
			remote:  "127.0.0.1:1",
			asked:   "127.0.0.1:1",
			answers: map[string]*apitype.WhoIsResponse{},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "wrapped not-found",
			remote:  "100.64.0.2:1",
			asked:   "100.64.0.2",
			err:     fmt.Errorf("localapi: %w", local.ErrPeerNotFound),
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "answer without node",
			remote:  "100.64.0.2:1",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": {UserProfile: alice}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "nil answer",
			remote:  "100.64.0.2:1",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": nil},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "user device without profile",
			remote:  "100.64.0.2:1",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": {Node: userNode("nX", "x.tail1234.ts.net.")}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "user device with empty login",
			remote:  "100.64.0.2:1",
			asked:   "100.64.0.2",
			answers: map[string]*apitype.WhoIsResponse{"100.64.0.2": {Node: userNode("nX", "x.tail1234.ts.net."), UserProfile: &tailcfg.UserProfile{DisplayName: "Nobody"}}},
			wantErr: ErrUnknownCaller,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &fakeWhoIs{answers: tt.answers, err: tt.err}
			r := httptest.NewRequest("GET", "/v1/models", nil)
			r.RemoteAddr = tt.remote
			got, err := WhoIs(client, home).Identify(r)
			if len(client.asked) != 1 || client.asked[0] != tt.asked {
				t.Errorf("WhoIs asked about %q, want [%q]", client.asked, tt.asked)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Identify = %+v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if !equalIdentity(got, tt.want) {
				t.Errorf("Identify =\n %+v, want\n %+v", got, tt.want)
			}
		})
	}
}

// TestWhoIsLookupFailure checks that a broken local client refuses the
// request without calling the caller unknown.
func TestWhoIsLookupFailure(t *testing.T) {
	down := errors.New("local tailscaled is not running")
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "100.64.0.2:1"
	_, err := WhoIs(&fakeWhoIs{err: down}, home).Identify(r)
	if !errors.Is(err, down) {
		t.Fatalf("Identify error = %v, want it to wrap %v", err, down)
	}
	if errors.Is(err, ErrUnknownCaller) {
		t.Errorf("lookup failure %v reported as ErrUnknownCaller", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = WhoIs(&fakeWhoIs{}, home).Identify(r.WithContext(ctx))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Identify with a canceled request = %v, want context.Canceled", err)
	}
}

func TestFromWhoIsDoesNotAlias(t *testing.T) {
	n := &tailcfg.Node{StableID: "n1", Tags: []string{"tag:b", "tag:a"}}
	id, err := FromWhoIs(&apitype.WhoIsResponse{Node: n}, home)
	if err != nil {
		t.Fatal(err)
	}
	id.Tags[0] = "tag:changed"
	if n.Tags[0] != "tag:b" || n.Tags[1] != "tag:a" {
		t.Errorf("FromWhoIs shares or reorders the node's tags: %q", n.Tags)
	}
}

func BenchmarkWhoIs(b *testing.B) {
	client := &benchWhoIs{res: &apitype.WhoIsResponse{
		Node:        userNode("nALICE", "laptop.tail1234.ts.net."),
		UserProfile: &tailcfg.UserProfile{LoginName: "alice@example.com", DisplayName: "Alice"},
	}}
	res := WhoIs(client, home)
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	r.RemoteAddr = "100.64.0.2:51000"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Identify(r); err != nil {
			b.Fatal(err)
		}
	}
}

type benchWhoIs struct{ res *apitype.WhoIsResponse }

func (c *benchWhoIs) WhoIs(context.Context, string) (*apitype.WhoIsResponse, error) {
	return c.res, nil
}

// TestFromWhoIsCaps: the policy file's aperture capabilities go to Caps,
// other app capabilities to AppCaps, Tailscale's own peer capabilities
// nowhere.
func TestFromWhoIsCaps(t *testing.T) {
	res := &apitype.WhoIsResponse{
		Node:        &tailcfg.Node{StableID: "n1", Name: "laptop.example.ts.net."},
		UserProfile: &tailcfg.UserProfile{LoginName: "alice@example.com", Groups: []string{"group:eng", "dev@example.com"}},
		CapMap: tailcfg.PeerCapMap{
			"tailscale.com/cap/aperture":                    {`{"role":"user"}`, `{"models":"openai/**"}`},
			"example.com/cap/tier":                          {`{"tier":"gold"}`},
			tailcfg.PeerCapabilityIngress:                   nil,
			"https://tailscale.com/cap/file-sharing-target": {`{}`},
		},
	}
	id, err := FromWhoIs(res, Tailnet{})
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Caps) != 2 || string(id.Caps[1]) != `{"models":"openai/**"}` {
		t.Errorf("Caps = %q", id.Caps)
	}
	if len(id.Groups) != 2 || id.Groups[0] != "dev@example.com" {
		t.Errorf("Groups = %q, want both, sorted", id.Groups)
	}
	if len(id.AppCaps) != 1 || string(id.AppCaps["example.com/cap/tier"][0]) != `{"tier":"gold"}` {
		t.Errorf("AppCaps = %q", id.AppCaps)
	}
}
