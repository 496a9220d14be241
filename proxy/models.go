package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// allowedModels lists the models the caller may use, once each, in
// declaration order, with the provider that would serve them, their
// per-token prices (by that provider's cost_basis) and context window
// where known. Disabled providers are left out.
func (ex *exchange) allowedModels() ([]compat.Model, error) {
	return modelsAllowed(ex.r.Context(), ex.snap, func(provider, model string) engine.Input {
		in := ex.input(provider, "")
		in.Request.Model = model
		return in
	}, ex.applyCORS)
}

// modelsAllowed asks policy about each served model with the input in
// builds; seen, when set, is shown every decision (the exchange's CORS).
func modelsAllowed(ctx context.Context, snap *snapshot, in func(provider, model string) engine.Input, seen func(*engine.Decision)) ([]compat.Model, error) {
	cfg := snap.cfg
	var out []compat.Model
	done := make(map[string]bool)
	for _, p := range cfg.Providers {
		if p.Disabled {
			continue // configured for display, never served
		}
		for _, m := range p.Models {
			if done[m] {
				continue
			}
			d, err := snap.engine.Decide(ctx, in(p.ID, m))
			if err != nil {
				return nil, err
			}
			if seen != nil {
				seen(&d)
			}
			if !d.Allow {
				continue
			}
			done[m] = true
			e := compat.Model{ID: m, Provider: p.ID, Created: snap.serving}
			if price, ok := cfg.PriceOn(p.ID, m); ok {
				e.Pricing = perToken(price)
				e.ContextWindow = price.ContextWindow
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func perToken(p policy.Price) *compat.Pricing {
	return &compat.Pricing{
		Input:           usdPerToken(p.Input),
		Output:          usdPerToken(p.Output),
		InputCacheRead:  usdPerToken(p.CacheRead),
		InputCacheWrite: usdPerToken(p.CacheWrite),
	}
}

// usdPerToken turns a price per million tokens into a decimal string per
// token. Fifteen decimals hold any price to a millionth of a cent per
// million tokens and hide the float error of the division.
func usdPerToken(perMillion float64) string {
	s := strings.TrimRight(strconv.FormatFloat(perMillion/1e6, 'f', 15, 64), "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

// serveModels answers GET /v1/models and /v1/models/{id}: OpenAI's list
// shape, or Anthropic's when the client sends anthropic-version.
func (ex *exchange) serveModels() {
	models, err := ex.allowedModels()
	if err != nil {
		ex.s.log.Error("policy evaluation failed", "request_id", ex.id, "err", err)
		ex.fail(http.StatusInternalServerError, compat.KindInternal, "the policy engine failed to decide", err.Error())
		return
	}
	id := ex.route.Model
	if id == "" {
		compat.WriteModels(ex.w, ex.r.Header, models)
		return
	}
	for _, m := range models {
		if m.ID == id {
			compat.WriteModel(ex.w, ex.r.Header, m)
			return
		}
	}
	ex.fail(http.StatusNotFound, compat.KindNotFound, fmt.Sprintf("model %q is not available to you on this gateway", id), "unknown model")
}
