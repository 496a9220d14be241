package policy

import (
	"net/url"
)

// validate runs the checks that need the whole file: required fields and
// cross-references. Messages of the documented checks are kept to the
// letter, since scripts and people match on them.
func validate(c *Config, d *decoder) {
	if d.requireExportAt != nil && c.Exporters.S3 == nil {
		d.errorAt(d.requireExportAt, "/database/retention/require_export", CodeBadRetention,
			"database.retention.require_export: true needs exporters.s3 with a bucket_name: nothing would ever be exported, so nothing could be purged")
	}
	if len(c.Providers) == 0 {
		d.diags = append(d.diags, Diagnostic{Code: CodeNoProviders, Path: "/providers", Pos: Pos{File: d.file}, Message: "no providers configured"})
	}
	for _, p := range c.Providers {
		at := Diagnostic{Path: "/providers/" + p.ID, Pos: p.Pos}
		switch {
		case p.BaseURL == "":
			d.diags = append(d.diags, with(at, CodeNoBaseURL, "provider "+p.ID+" has no base URL configured", false))
		case !isHTTPURL(p.BaseURL):
			d.diags = append(d.diags, with(at, CodeBadBaseURL, errorf("provider %s base URL %q is not an http:// or https:// URL; requests to it will fail", p.ID, p.BaseURL), true))
		case p.H2C && !isCleartextURL(p.BaseURL):
			d.diags = append(d.diags, with(at, CodeBadBaseURL, errorf("provider %s: h2c applies to http:// base URLs only; %q negotiates HTTP/2 itself", p.ID, p.BaseURL), true))
		}
		if len(p.Models) == 0 {
			d.diags = append(d.diags, with(at, CodeNoModels, "provider "+p.ID+" has no models configured", false))
		}
		if p.APIKey == "" && !p.Tailnet {
			d.diags = append(d.diags, with(at, CodeNoAPIKey, "provider "+p.ID+" has no API key configured; requests are forwarded without one", true))
		}
		if len(p.Compatibility.Enabled()) == 0 {
			d.diags = append(d.diags, with(at, CodeEmptyCompatible, "provider "+p.ID+" enables no API format in compatibility; no request can reach it", true))
		}
	}
	hooks := make(map[string]bool, len(c.Hooks))
	for _, h := range c.Hooks {
		hooks[h.Name] = true
	}
	for _, ref := range d.hookRefs {
		if ref.name != "" && !hooks[ref.name] {
			d.errorAt(ref.v, ref.path, CodeUndefinedHook, errorf("%s: hook grant names undefined hook %q (define it in the \"hooks\" section)", ref.grant, ref.name))
		}
	}
	validateQuotas(c, d)
	validateRouting(c, d)
	validateTests(c, d)
}

func with(d Diagnostic, code, msg string, warning bool) Diagnostic {
	d.Code, d.Message, d.Warning = code, msg, warning
	return d
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isCleartextURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "http"
}
