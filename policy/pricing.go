package policy

import (
	"regexp"
	"strings"
)

// Price is what a model costs, in USD per million tokens, and how many
// tokens of context it takes (0 when unknown).
type Price struct {
	Input         float64
	Output        float64
	CacheRead     float64
	CacheWrite    float64
	ContextWindow int
}

// builtinPrices covers the models of the reference's examples, from the
// providers' public price lists. The `pricing` config section overrides or
// extends them. Keys are canonical model names (see canonicalModel).
var builtinPrices = map[string]Price{
	"gpt-5":             {Input: 1.25, Output: 10, CacheRead: 0.125, ContextWindow: 400_000},
	"gpt-5-mini":        {Input: 0.25, Output: 2, CacheRead: 0.025, ContextWindow: 400_000},
	"gpt-5-nano":        {Input: 0.05, Output: 0.40, CacheRead: 0.005, ContextWindow: 400_000},
	"gpt-5.1-codex":     {Input: 1.25, Output: 10, CacheRead: 0.125, ContextWindow: 400_000},
	"gpt-5.1-codex-max": {Input: 1.25, Output: 10, CacheRead: 0.125, ContextWindow: 400_000},
	"gpt-4.1":           {Input: 2, Output: 8, CacheRead: 0.50, ContextWindow: 1_047_576},
	"gpt-4.1-mini":      {Input: 0.40, Output: 1.60, CacheRead: 0.10, ContextWindow: 1_047_576},
	"gpt-4.1-nano":      {Input: 0.10, Output: 0.40, CacheRead: 0.025, ContextWindow: 1_047_576},
	"gpt-4o":            {Input: 2.50, Output: 10, CacheRead: 1.25, ContextWindow: 128_000},
	"gpt-4o-mini":       {Input: 0.15, Output: 0.60, CacheRead: 0.075, ContextWindow: 128_000},
	"claude-sonnet-4-5": {Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75, ContextWindow: 200_000},
	"claude-haiku-4-5":  {Input: 1, Output: 5, CacheRead: 0.10, CacheWrite: 1.25, ContextWindow: 200_000},
	"claude-opus-4-5":   {Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25, ContextWindow: 200_000},
	"claude-opus-4-6":   {Input: 5, Output: 25, CacheRead: 0.50, CacheWrite: 6.25, ContextWindow: 200_000},
	"gemini-2.5-pro":    {Input: 1.25, Output: 10, CacheRead: 0.125, ContextWindow: 1_048_576},
	"gemini-2.5-flash":  {Input: 0.30, Output: 2.50, CacheRead: 0.03, ContextWindow: 1_048_576},
	"gemini-2.0-flash":  {Input: 0.10, Output: 0.40, CacheRead: 0.025, ContextWindow: 1_048_576},
}

// Cost bases: the vendor price lists a provider's cost_basis may name.
const (
	BasisOpenAI     = "openai"
	BasisAnthropic  = "anthropic"
	BasisGoogle     = "google"
	BasisVertex     = "vertex"
	BasisBedrock    = "bedrock"
	BasisBedrockUS  = "bedrock-us"
	BasisBedrockEU  = "bedrock-eu"
	BasisBedrockAP  = "bedrock-ap"
	BasisAzure      = "azure"
	BasisAzureEU    = "azure-eu"
	BasisOpenRouter = "openrouter"
	BasisVercel     = "vercel"
)

// CostBases lists the valid cost_basis values in documentation order.
var CostBases = []string{BasisOpenAI, BasisAnthropic, BasisGoogle, BasisVertex, BasisBedrock, BasisBedrockUS,
	BasisBedrockEU, BasisBedrockAP, BasisAzure, BasisAzureEU, BasisOpenRouter, BasisVercel}

// basisPrices are the prices of the cost bases whose list differs from a
// model's default price; a basis or model not here uses builtinPrices.
// Bedrock's regional (geographic) endpoints charge 10% above the global
// price for Claude 4.5 and later, and Azure's EU Data Zone deployments
// 10% above Global for OpenAI models.
var basisPrices = map[string]map[string]Price{
	BasisBedrockUS: premium(1.10, claude45),
	BasisBedrockEU: premium(1.10, claude45),
	BasisBedrockAP: premium(1.10, claude45),
	BasisAzureEU:   premium(1.10, openAIModels),
}

var (
	claude45     = []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-6"}
	openAIModels = []string{"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1-codex", "gpt-5.1-codex-max",
		"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini"}
)

// premium prices models at factor times their default price.
func premium(factor float64, models []string) map[string]Price {
	out := make(map[string]Price, len(models))
	for _, m := range models {
		p := builtinPrices[m]
		p.Input *= factor
		p.Output *= factor
		p.CacheRead *= factor
		p.CacheWrite *= factor
		out[m] = p
	}
	return out
}

var (
	// Bedrock and Vertex dress model names: "us.anthropic.claude-…-v1:0",
	// "claude-…@20251101"; OpenRouter prefixes the vendor: "openai/gpt-5".
	bedrockRegionRE = regexp.MustCompile(`^(us|eu|apac|global|us-gov)\.`)
	bedrockVendorRE = regexp.MustCompile(`^(anthropic|amazon|meta|mistral|cohere|ai21|openai|deepseek|qwen)\.`)
	versionRE       = regexp.MustCompile(`(-v\d+(:\d+)?|@\d{8}|-\d{8}|-preview(-[\d-]+)?|-exp)$`)
)

// canonicalModel strips the decorations providers add to a model's name, so
// "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
// "claude-sonnet-4-5@20250929" and "anthropic/claude-sonnet-4-5" all price
// as "claude-sonnet-4-5".
func canonicalModel(model string) string {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = bedrockRegionRE.ReplaceAllString(m, "")
	m = bedrockVendorRE.ReplaceAllString(m, "")
	for {
		n := versionRE.ReplaceAllString(m, "")
		if n == m {
			return m
		}
		m = n
	}
}

// PriceFor returns the default price of model: the `pricing` section's
// entry for its exact name first, then the built-in table by canonical
// name. ok is false for an unknown model, which then costs nothing and is
// flagged. PriceOn prices a model as a given provider's cost_basis does.
func (c *Config) PriceFor(model string) (p Price, ok bool) {
	// Configured models are priced once, at load: this runs per request.
	if e, found := c.prices[priceKey{model: model}]; found {
		return e.price, e.ok
	}
	return c.lookupPrice("", model)
}

// PriceOn returns the price of model served by the provider with ID
// provider: as PriceFor, except that the provider's cost_basis picks the
// built-in price where that basis has its own (regional Bedrock, Azure
// EU). The `pricing` section still wins. An unknown provider prices as
// PriceFor.
func (c *Config) PriceOn(provider, model string) (p Price, ok bool) {
	basis := ""
	if prov := c.providerByID[provider]; prov != nil {
		basis = prov.CostBasis
	}
	if e, found := c.prices[priceKey{basis, model}]; found {
		return e.price, e.ok
	}
	return c.lookupPrice(basis, model)
}

func (c *Config) lookupPrice(basis, model string) (p Price, ok bool) {
	if p, ok := c.Pricing[model]; ok {
		return p, true
	}
	canon := canonicalModel(model)
	if p, ok := c.Pricing[canon]; ok {
		return p, true
	}
	if p, ok := basisPrices[basis][canon]; ok {
		return p, true
	}
	p, ok = builtinPrices[canon]
	return p, ok
}

// priceKey memoizes a price per cost basis ("" for the default) and model.
type priceKey struct{ basis, model string }

// knownPrice is a memoized lookupPrice answer.
type knownPrice struct {
	price Price
	ok    bool
}

func (c *Config) buildPrices() {
	c.prices = make(map[priceKey]knownPrice)
	for _, p := range c.Providers {
		for _, m := range p.Models {
			for _, basis := range []string{"", p.CostBasis} {
				price, ok := c.lookupPrice(basis, m)
				c.prices[priceKey{basis, m}] = knownPrice{price, ok}
			}
		}
	}
}
