package policy

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// AliasRule is one entry of model_aliases: a requested model that matches
// Pattern is rewritten to Replacement (Go regexp expansion, $1 or ${1};
// the \1 spelling is converted when the file is read).
type AliasRule struct {
	Pattern     *regexp.Regexp
	Replacement string
	Pos         Pos
}

// Load-balancing strategies among the providers that serve one model.
const (
	// BalanceOrder tries providers in declaration order (the default).
	BalanceOrder = "order"
	// BalanceWeighted starts at a provider drawn by its weight.
	BalanceWeighted = "weighted"
	// BalanceLeastOutstanding starts at the provider with the fewest
	// requests in flight.
	BalanceLeastOutstanding = "least_outstanding"
)

// BalanceStrategies lists the load-balancing strategies.
var BalanceStrategies = []string{BalanceOrder, BalanceWeighted, BalanceLeastOutstanding}

// Routing is the routing section (sluice's own): what happens when several
// providers serve the requested model.
type Routing struct {
	// Failover moves a request that failed before its first byte reached
	// the client (connect error, timeout, 5xx, 429) to the next eligible
	// provider. On by default.
	Failover bool
	// MaxAttempts bounds the providers one request tries, the first
	// included.
	MaxAttempts int
	// Deadline bounds the time spent on attempts before the first answer
	// byte; no new attempt starts once it passed. Zero: no bound beyond
	// each attempt's own timeouts.
	Deadline time.Duration
	// DefaultProvider serves a model no provider lists; "" (the default)
	// answers such a request 404.
	DefaultProvider string
	// Balance is one of BalanceStrategies.
	Balance string
	// BreakerFailures consecutive failures take a provider out of
	// rotation for BreakerCooldown; zero turns the circuit breaker off.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// DefaultRouting is the routing of a file without a routing section.
func DefaultRouting() Routing {
	return Routing{
		Failover:        true,
		MaxAttempts:     3,
		Deadline:        60 * time.Second,
		Balance:         BalanceOrder,
		BreakerFailures: 5,
		BreakerCooldown: 30 * time.Second,
	}
}

// Diagnostic codes of the routing settings.
const (
	CodeBadAlias   = "bad_alias"
	CodeBadRouting = "bad_routing"
)

// backrefRE matches the \1 spelling of a capture reference.
var backrefRE = regexp.MustCompile(`\\(\d+)`)

// modelAliases reads model_aliases: an ordered list of rewrite rules.
func (d *decoder) modelAliases(c *Config, v *hujson.Value, path string) {
	d.array(v, path, func(i int, ev *hujson.Value, ep string) {
		rule := AliasRule{Pos: d.pos(ev)}
		var pattern string
		var hasPattern, hasReplacement bool
		d.object(ev, ep, func(key string, fv *hujson.Value, fp string) bool {
			switch key {
			case "pattern":
				pattern, hasPattern = d.str(fv, fp), true
				re, err := regexp.Compile(pattern)
				if err != nil {
					d.errorAt(fv, fp, CodeBadAlias, errorf("model_aliases[%d]: pattern %q is not a valid regular expression: %v", i, pattern, err))
					return true
				}
				rule.Pattern = re
			case "replacement":
				rule.Replacement, hasReplacement = backrefRE.ReplaceAllString(d.str(fv, fp), "$${$1}"), true
			default:
				return false
			}
			return true
		})
		if _, isObj := ev.Value.(*hujson.Object); !isObj {
			return // the type error is reported
		}
		if !hasPattern || !hasReplacement || pattern == "" {
			d.errorAt(ev, ep, CodeBadAlias, errorf("model_aliases[%d]: want {\"pattern\": REGEXP, \"replacement\": MODEL}", i))
			return
		}
		if rule.Pattern != nil {
			c.ModelAliases = append(c.ModelAliases, rule)
		}
	})
}

// forceModel reads force_model, the model every request is sent to.
func (d *decoder) forceModel(c *Config, v *hujson.Value, path string) {
	c.ForceModel = d.str(v, path)
	if strings.TrimSpace(c.ForceModel) == "" && !isNull(v) {
		d.errorAt(v, path, CodeBadRouting, "force_model: want a model name (remove the setting to keep the requested models)")
	}
}

// routing reads the routing section.
func (d *decoder) routing(c *Config, v *hujson.Value, path string) {
	r := &c.Routing
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "failover":
			r.Failover = d.boolean(fv, fp)
		case "max_attempts":
			r.MaxAttempts = d.integer(fv, fp)
			if r.MaxAttempts < 1 {
				d.errorAt(fv, fp, CodeBadRouting, errorf("routing.max_attempts: %d is too small (want 1 or more; 1 is no failover)", r.MaxAttempts))
			}
		case "deadline":
			r.Deadline, _ = d.duration(fv, fp)
		case "default_provider":
			r.DefaultProvider = d.str(fv, fp)
			d.defaultProviderAt = fv
		case "load_balancing":
			r.Balance = d.str(fv, fp)
			if !slices.Contains(BalanceStrategies, r.Balance) {
				d.errorAt(fv, fp, CodeBadRouting, errorf("routing.load_balancing: unknown strategy %q (known: %s)", r.Balance, strings.Join(BalanceStrategies, ", ")))
			}
		case "circuit_breaker":
			d.object(fv, fp, func(k string, bv *hujson.Value, bp string) bool {
				switch k {
				case "failures":
					r.BreakerFailures = d.integer(bv, bp)
					if r.BreakerFailures < 0 {
						d.errorAt(bv, bp, CodeBadRouting, errorf("routing.circuit_breaker.failures: %d is negative (0 turns the breaker off)", r.BreakerFailures))
					}
				case "cooldown":
					r.BreakerCooldown, _ = d.duration(bv, bp)
				default:
					return false
				}
				return true
			})
		default:
			return false
		}
		return true
	})
}

// providerHeaders reads a provider's headers: set on every request to it,
// replacing the client's. Credentials are refused: they are the
// provider's apikey, which sluice injects itself.
func (d *decoder) providerHeaders(prov *Provider, v *hujson.Value, path string) {
	d.object(v, path, func(name string, hv *hujson.Value, hp string) bool {
		value := d.str(hv, hp)
		h, msg := ParseHeader(name + ": " + value)
		if msg != "" {
			if slices.Contains(credentialHeaders, strings.ToLower(name)) {
				msg = errorf("header %q is a credential; put the provider's key in its \"apikey\" (with \"authorization\" for the header it goes in)", name)
			}
			d.errorAt(hv, hp, CodeBadHeader, errorf("provider %s: %s", prov.ID, msg))
			return true
		}
		prov.Headers = append(prov.Headers, h)
		return true
	})
}

// credentialHeaders are the forbidden headers that carry a credential.
var credentialHeaders = []string{"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "x-amz-security-token"}

// validateRouting checks the cross-references of the routing settings.
func validateRouting(c *Config, d *decoder) {
	id := c.Routing.DefaultProvider
	if id == "" {
		return
	}
	for _, p := range c.Providers {
		if p.ID == id {
			if p.Disabled {
				d.errorAt(d.defaultProviderAt, "/routing/default_provider", CodeBadRouting, errorf("routing.default_provider: provider %s is disabled", id))
			}
			return
		}
	}
	d.errorAt(d.defaultProviderAt, "/routing/default_provider", CodeBadRouting, errorf("routing.default_provider: no provider %q is configured", id))
}
