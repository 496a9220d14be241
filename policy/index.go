package policy

func (c *Config) buildIndex() {
	c.providerByID = make(map[string]*Provider, len(c.Providers))
	c.index = make(map[string][]*Provider)
	for _, p := range c.Providers {
		c.providerByID[p.ID] = p
		if p.Disabled {
			continue // configured, shown, never routed to
		}
		for _, m := range p.Models {
			c.index[m] = append(c.index[m], p)
		}
	}
	c.hookByName = make(map[string]*Hook, len(c.Hooks))
	for _, h := range c.Hooks {
		c.hookByName[h.Name] = h
	}
	c.buildPrices()
	c.grantsForce = c.findForcingGrants()
}

// ProvidersFor returns the enabled providers that list model, in
// declaration order; a disabled provider is never among them. Routing takes the first of them that supports the request's format
// and is granted to the caller.
func (c *Config) ProvidersFor(model string) []*Provider { return c.index[model] }

// Models returns every model name of the enabled providers once, in
// declaration order.
func (c *Config) Models() []string {
	var out []string
	seen := make(map[string]bool)
	for _, p := range c.Providers {
		if p.Disabled {
			continue
		}
		for _, m := range p.Models {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}
