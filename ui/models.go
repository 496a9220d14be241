package ui

import "net/http"

type modelsData struct {
	Models       []Model
	Quotas       []Quota
	QuotaProblem string
}

// models lists the models the caller may use, with prices and context
// windows, and the quota buckets their requests are charged in.
func (h *Handler) models(w http.ResponseWriter, r *http.Request, c Caller) {
	var d modelsData
	if h.opts.Models != nil {
		ms, err := h.opts.Models(r)
		if err != nil {
			h.failErr(w, r, c, err)
			return
		}
		d.Models = ms
	}
	if h.opts.Quotas != nil {
		qs, err := h.opts.Quotas(r)
		if err != nil {
			h.opts.Logger.Error("ui: quota balances", "err", err)
			d.QuotaProblem = "Quota balances cannot be read right now."
		}
		d.Quotas = qs
	}
	h.render(w, r, c, http.StatusOK, "models", "Models", "models", d)
}
