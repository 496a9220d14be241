package engine

import (
	"io"
	"time"

	"github.com/sluice-gateway/sluice/rego"
)

// DefaultCacheSize bounds the decision cache of a policy revision when
// WithCacheSize is not given.
const DefaultCacheSize = 10000

// Option configures an Engine. Options apply to every revision: Update
// rebuilds with the same options (and rereads WithModulesDir).
type Option func(*options)

type options struct {
	modulesDirs   []string
	modules       []rego.Module
	moduleSources []func() ([]rego.Module, error)
	logWriter     io.Writer
	cacheSize     int
	now           func() time.Time
	newID         func() string
	observe       func(Observation)
	skipTests     bool
}

func defaultOptions() options {
	return options{cacheSize: DefaultCacheSize, now: time.Now, newID: newDecisionID}
}

// WithModulesDir adds the .rego files under dir (recursively; *_test.rego
// excluded) to the policy, as `sluice serve --policy DIR` does. A rule
// `deny contains msg if {...}` in package sluice.authz refuses requests.
func WithModulesDir(dir string) Option {
	return func(o *options) { o.modulesDirs = append(o.modulesDirs, dir) }
}

// WithModuleSource adds the modules source returns to the policy, asked
// again on every rebuild as WithModulesDir rereads its directory (serve
// --policy-bundle FILE, read again on SIGHUP). An error fails the build.
func WithModuleSource(source func() ([]rego.Module, error)) Option {
	return func(o *options) { o.moduleSources = append(o.moduleSources, source) }
}

// WithModules adds modules given as text to the policy.
func WithModules(mods ...rego.Module) Option {
	return func(o *options) { o.modules = append(o.modules, mods...) }
}

// WithDecisionLog writes one JSON line per decision to w, in OPA's
// decision-log event shape. Writes are serialized; w need not be safe for
// concurrent use.
func WithDecisionLog(w io.Writer) Option {
	return func(o *options) { o.logWriter = w }
}

// WithCacheSize bounds the number of decisions memoized per revision; zero
// or less disables the cache.
func WithCacheSize(n int) Option {
	return func(o *options) { o.cacheSize = n }
}

// WithClock sets the clock for decision timestamps and for time built-ins
// in Rego (time.now_ns), which keeps tests deterministic.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithDecisionIDs sets the generator of decision IDs (random UUIDs by
// default).
func WithDecisionIDs(next func() string) Option {
	return func(o *options) { o.newID = next }
}

// Observation describes one decision, for metrics.
type Observation struct {
	// Allow is the decision's verdict; Err is set when the policy could
	// not be evaluated (the decision then denies).
	Allow bool
	Err   error
	// Cache is "hit" when the decision came from the cache, "miss" when
	// it was evaluated and stored, "" when the cache is off.
	Cache string
	// Duration is the time Decide took.
	Duration time.Duration
}

// WithObserver calls observe after every decision, from the deciding
// goroutine: it must be quick and safe for concurrent use. The observer
// carries over to the engines Next builds, so counts survive reloads.
func WithObserver(observe func(Observation)) Option {
	return func(o *options) { o.observe = observe }
}

// WithoutTests builds the policy without checking the assertions of the
// configuration's tests section, for tools that show a policy rather than
// accept it (the access matrix and its diff of a draft). Serving and
// validating always check them.
func WithoutTests() Option {
	return func(o *options) { o.skipTests = true }
}
