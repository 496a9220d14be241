package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// Load reads the configuration file at path. A missing file is reported as
// ErrNoConfig; an invalid one as Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoConfig, path)
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse loads a configuration from HuJSON bytes. name is used in positions.
// lookupEnv resolves ${NAME} macros; nil means os.LookupEnv. On failure the
// error is Errors holding every problem found; warnings are in
// Config.Warnings on success.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	root, err := hujson.Parse(data)
	if err != nil {
		return nil, Errors{syntaxDiagnostic(name, err)}
	}
	d := &decoder{file: name, data: data, lookup: lookupEnv}
	c := &Config{File: name, Raw: data, Database: Database{OnLogFailure: LogFailureRefuse}, Routing: DefaultRouting()}
	access := d.topLevel(c, &root)
	if isNull(&root) {
		d.typeError(&root, "", "object")
	}
	if len(d.missing) > 0 {
		d.diags = append(d.diags, Diagnostic{
			Code:    CodeMacros,
			Pos:     d.macroAt,
			Message: "unsubstituted macros: [" + strings.Join(d.missing, " ") + "]",
		})
	}
	if !access {
		// Only a file with no access section at all keeps the documented
		// default grants; one with any (temp_grants, or a refused grants,
		// quotas, connectors...) never falls back to them.
		c.TempGrants = defaultGrants()
		c.GrantsDefaulted = true
	}
	validate(c, d)
	d.diags.sort()
	var errs Errors
	for _, diag := range d.diags {
		if diag.Warning {
			c.Warnings = append(c.Warnings, diag)
		} else {
			errs = append(errs, diag)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	c.buildIndex()
	return c, nil
}

var hujsonPosRE = regexp.MustCompile(`^hujson: line (\d+), column (\d+): (.*)$`)

func syntaxDiagnostic(name string, err error) Diagnostic {
	d := Diagnostic{Code: CodeSyntax, Pos: Pos{File: name}, Message: "malformed JSON: " + err.Error()}
	if m := hujsonPosRE.FindStringSubmatch(err.Error()); m != nil {
		d.Pos.Line, _ = strconv.Atoi(m[1])
		d.Pos.Col, _ = strconv.Atoi(m[2])
		d.Message = "malformed JSON: " + m[3]
	}
	return d
}

func (d *decoder) providers(c *Config, v *hujson.Value, path string) {
	d.object(v, path, func(id string, pv *hujson.Value, p string) bool {
		prov := &Provider{ID: id, Authorization: AuthBearer, Compatibility: DefaultCompatibility(), Pos: d.pos(pv)}
		authSet := false
		d.object(pv, p, func(key string, fv *hujson.Value, fp string) bool {
			switch key {
			case "baseurl":
				prov.BaseURL = d.str(fv, fp)
			case "models":
				prov.Models = d.strs(fv, fp)
			case "apikey":
				prov.APIKey = d.str(fv, fp)
			case "authorization":
				prov.Authorization = d.str(fv, fp)
				authSet = true
			case "tailnet":
				prov.Tailnet = d.boolean(fv, fp)
			case "translate":
				prov.Translate = d.boolean(fv, fp)
			case "h2c":
				prov.H2C = d.boolean(fv, fp)
			case "name":
				prov.Name = d.str(fv, fp)
			case "description":
				prov.Description = d.str(fv, fp)
			case "project":
				prov.Project = d.str(fv, fp)
			case "region":
				prov.Region = d.str(fv, fp)
			case "compatibility":
				d.compatibility(prov, fv, fp)
			case "disabled":
				prov.Disabled = d.boolean(fv, fp)
			case "headers":
				d.providerHeaders(prov, fv, fp)
			case "weight":
				prov.Weight = d.integer(fv, fp)
				if prov.Weight < 0 {
					d.errorAt(fv, fp, CodeBadRouting, errorf("provider %s: weight %d is negative", id, prov.Weight))
				}
			case "cost_basis":
				prov.CostBasis = d.str(fv, fp)
				if !slices.Contains(CostBases, prov.CostBasis) {
					d.errorAt(fv, fp, CodeBadCostBasis, errorf("provider %s has unknown cost_basis %q (known: %s)",
						id, prov.CostBasis, strings.Join(CostBases, ", ")))
				}
			default:
				return false
			}
			return true
		})
		if authSet && !slices.Contains(AuthTypes, prov.Authorization) {
			d.errorAt(pv, child(p, "authorization"), CodeBadAuth,
				errorf("provider %s has invalid authorization type: %s", id, prov.Authorization))
		}
		c.Providers = append(c.Providers, prov)
		return true
	})
}

func (d *decoder) compatibility(prov *Provider, v *hujson.Value, path string) {
	d.object(v, path, func(flag string, fv *hujson.Value, fp string) bool {
		on := d.boolean(fv, fp)
		if flag == FlagGeminiCLIVertexCompat {
			// Gemini CLI's Vertex paths are google_generate_content routes:
			// the flag turns them on (never off) and changes no grant.
			if on {
				prov.Compatibility[FormatGoogleGenerateContent] = true
			}
			prov.Compatibility[flag] = on
			return true
		}
		if !slices.Contains(Formats, flag) {
			d.errorAt(fv, fp, CodeBadCompat, errorf("provider %s has unknown compatibility flag %q (known: %s, %s)",
				prov.ID, flag, strings.Join(Formats, ", "), FlagGeminiCLIVertexCompat))
			return true
		}
		prov.Compatibility[flag] = on
		return true
	})
}

func (d *decoder) tempGrants(c *Config, v *hujson.Value, path string) {
	c.TempGrants = []*GrantSet{} // present, possibly empty: deny everything
	d.array(v, path, func(i int, sv *hujson.Value, p string) {
		set := &GrantSet{Index: i, Pos: d.pos(sv)}
		d.object(sv, p, func(key string, fv *hujson.Value, fp string) bool {
			switch key {
			case "src":
				d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
					src := d.str(ev, ep)
					if strings.TrimSpace(src) == "" {
						d.errorAt(ev, ep, CodeBadSource, errorf("%s: empty source (want \"*\", a login, \"*@domain\" or \"tag:name\")", displayPath(ep)))
						return
					}
					set.Src = append(set.Src, src)
				})
			case "grants":
				d.array(fv, fp, func(j int, gv *hujson.Value, gp string) {
					set.Grants = append(set.Grants, d.grant(i, j, gv, gp))
				})
			default:
				return false
			}
			return true
		})
		c.TempGrants = append(c.TempGrants, set)
	})
}

func (d *decoder) grant(set, idx int, v *hujson.Value, path string) *Grant {
	g := &Grant{Set: set, Index: idx, Pos: d.pos(v)}
	kinds := 0
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "role":
			kinds++
			g.Role = d.str(fv, fp)
			if g.Role != RoleUser && g.Role != RoleAdmin {
				d.errorAt(fv, fp, CodeBadRole, errorf("%s: unknown role %q (want \"user\" or \"admin\")", g.Source(), g.Role))
			}
		case "providers":
			kinds++
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				pg := ProviderGrant{Provider: "", Model: "", Pos: d.pos(ev)}
				var hasP, hasM bool
				d.object(ev, ep, func(k string, kv *hujson.Value, kp string) bool {
					switch k {
					case "provider":
						pg.Provider, hasP = d.str(kv, kp), true
					case "model":
						pg.Model, hasM = d.str(kv, kp), true
					default:
						return false
					}
					return true
				})
				if !hasP || !hasM || pg.Provider == "" || pg.Model == "" {
					d.errorAt(ev, ep, CodeBadGrant, errorf("%s: provider grant needs both \"provider\" and \"model\" (use \"*\" for any)", g.Source()))
					return
				}
				g.Providers = append(g.Providers, pg)
			})
		case "mcp":
			kinds++
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				mg := MCPGrant{Pos: d.pos(ev)}
				d.object(ev, ep, func(k string, kv *hujson.Value, kp string) bool {
					switch k {
					case "server":
						mg.Server = d.str(kv, kp)
					case "tool":
						mg.Tool = d.str(kv, kp)
					default:
						return false
					}
					return true
				})
				if mg.Server == "" || mg.Tool == "" {
					d.errorAt(ev, ep, CodeBadGrant, errorf("%s: mcp grant needs both \"server\" and \"tool\" (use \"*\" for any)", g.Source()))
					return
				}
				g.MCP = append(g.MCP, mg)
			})
		case "hook":
			kinds++
			g.Hook = d.hookGrant(g, fv, fp)
		case "quotas":
			kinds++
			g.Quotas = d.quotaList(g.Source(), fv, fp)
		default:
			return false
		}
		return true
	})
	if kinds == 0 {
		d.errorAt(v, path, CodeBadGrant, errorf("%s: grant has none of \"role\", \"providers\", \"hook\", \"mcp\" or \"quotas\"", g.Source()))
	}
	return g
}

func (d *decoder) hookGrant(g *Grant, v *hujson.Value, path string) *HookGrant {
	hg := &HookGrant{}
	var hookV *hujson.Value
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "match":
			d.object(fv, fp, func(k string, kv *hujson.Value, kp string) bool {
				switch k {
				case "providers":
					hg.Match.Providers = d.strs(kv, kp)
				case "models":
					hg.Match.Models = d.strs(kv, kp)
				case "events":
					d.array(kv, kp, func(_ int, ev *hujson.Value, ep string) {
						e := d.str(ev, ep)
						if !slices.Contains(Events, e) {
							d.errorAt(ev, ep, CodeBadEvent, errorf("%s: unknown hook event %q (known: %s)", g.Source(), e, strings.Join(Events, ", ")))
							return
						}
						hg.Match.Events = append(hg.Match.Events, e)
					})
				default:
					return false
				}
				return true
			})
		case "hook":
			hookV = fv
			hg.Hook = d.str(fv, fp)
		case "fields":
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				f := d.str(ev, ep)
				if !slices.Contains(HookFields, f) {
					d.errorAt(ev, ep, CodeBadField, errorf("%s: unknown hook field %q (known: %s)", g.Source(), f, strings.Join(HookFields, ", ")))
					return
				}
				hg.Fields = append(hg.Fields, f)
			})
		case "condition":
			hg.Condition = d.str(fv, fp)
			hg.ConditionPos = d.pos(fv)
		default:
			return false
		}
		return true
	})
	if hookV == nil || hg.Hook == "" {
		d.errorAt(v, path, CodeBadGrant, errorf("%s: hook grant names no hook", g.Source()))
	}
	if len(hg.Match.Events) == 0 {
		// The documented event is the only one Aperture fires; a grant
		// without events keeps that meaning rather than firing on all.
		hg.Match.Events = []string{EventToolCallEntireRequest}
	}
	d.hookRefs = append(d.hookRefs, hookRef{name: hg.Hook, v: hookV, path: child(path, "hook"), grant: g.Source()})
	return hg
}

func (d *decoder) hooks(c *Config, v *hujson.Value, path string) {
	d.object(v, path, func(name string, hv *hujson.Value, p string) bool {
		h := &Hook{Name: name, Authorization: AuthBearer, Timeout: DefaultHookTimeout, FailPolicy: FailOpen, Pos: d.pos(hv)}
		d.object(hv, p, func(key string, fv *hujson.Value, fp string) bool {
			switch key {
			case "url":
				h.URL = d.str(fv, fp)
			case "apikey":
				h.APIKey = d.str(fv, fp)
			case "timeout":
				if t, ok := d.duration(fv, fp); ok {
					h.Timeout = t
				}
			case "authorization":
				h.Authorization = d.str(fv, fp)
				if !slices.Contains(AuthTypes, h.Authorization) {
					d.errorAt(fv, fp, CodeBadAuth, errorf("hook %s has invalid authorization type: %s", name, h.Authorization))
				}
			case "fail_policy":
				h.FailPolicy = d.str(fv, fp)
				if h.FailPolicy != FailOpen && h.FailPolicy != FailClosed {
					d.errorAt(fv, fp, CodeBadFailPolicy, errorf("hook %s has invalid fail_policy %q (want %q or %q)", name, h.FailPolicy, FailOpen, FailClosed))
				}
			case "disabled":
				h.Disabled = d.boolean(fv, fp)
			case "preference":
				h.Preference = d.integer(fv, fp)
			default:
				return false
			}
			return true
		})
		if h.URL == "" {
			d.errorAt(hv, p, CodeBadHook, errorf("hook %s has no url configured", name))
		} else if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errorAt(hv, child(p, "url"), CodeBadHook, errorf("hook %s has invalid url %q (want an http:// or https:// URL)", name, h.URL))
		}
		c.Hooks = append(c.Hooks, h)
		return true
	})
}

func (d *decoder) database(c *Config, v *hujson.Value, path string) {
	var raws, blobs *hujson.Value
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "save_raws":
			c.Database.SaveRaws, raws = d.boolean(fv, fp), fv
		case "keep_encrypted_blobs":
			c.Database.KeepEncryptedBlobs, blobs = d.boolean(fv, fp), fv
		case "retention":
			if _, ok := fv.Value.(*hujson.Object); ok {
				d.retentionObject(c, fv, fp)
			} else if r, ok := d.duration(fv, fp); ok {
				c.Database.Retention = r
			}
		case "on_log_failure":
			if isNull(fv) {
				return true // null keeps the default, refuse
			}
			c.Database.OnLogFailure = d.str(fv, fp)
			if c.Database.OnLogFailure != LogFailureRefuse && c.Database.OnLogFailure != LogFailureServe {
				d.errorAt(fv, fp, CodeBadOnLogFailure, errorf("database.on_log_failure: invalid value %q (want %q or %q)",
					c.Database.OnLogFailure, LogFailureRefuse, LogFailureServe))
			}
		default:
			return false
		}
		return true
	})
	if c.Database.ZeroRetention {
		for _, f := range []struct {
			v    *hujson.Value
			name string
			on   bool
		}{{raws, "save_raws", c.Database.SaveRaws}, {blobs, "keep_encrypted_blobs", c.Database.KeepEncryptedBlobs}} {
			if f.on {
				d.errorAt(f.v, child(path, f.name), CodeBadRetention, errorf("database.%s: true contradicts zero retention "+
					"(database.retention.duration \"0\" keeps no request content on disk)", f.name))
			}
		}
	}
}

// retentionObject reads Aperture's retention object {duration, purge,
// require_export}. Its "0" means zero retention (no content on disk), not
// sluice's "keep forever"; a non-zero duration is bounded like Aperture's.
func (d *decoder) retentionObject(c *Config, v *hujson.Value, path string) {
	var durV *hujson.Value
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "duration":
			durV = fv
			r, ok := d.duration(fv, fp)
			switch {
			case !ok:
			case r == 0:
				c.Database.ZeroRetention = true
			case r < MinRetention || r > MaxRetention:
				d.errorAt(fv, fp, CodeBadRetention, errorf("database.retention.duration: %s is out of range "+
					"(want \"0\" for zero retention, or from 1h to 87600h)", r))
			default:
				c.Database.Retention = r
			}
		case "purge":
			c.Database.Purge = nil
			for i, cat := range d.strs(fv, fp) {
				if !slices.Contains(PurgeCategories, cat) {
					// Aperture's category names are not published; a
					// file written for it must still load.
					d.warnAt(fv, child(fp, strconv.Itoa(i)), CodeBadRetention, errorf("database.retention.purge: sluice keeps no content of category %q apart "+
						"(it purges %s); ignored", cat, strings.Join(PurgeCategories, ", ")))
					continue
				}
				if !slices.Contains(c.Database.Purge, cat) {
					c.Database.Purge = append(c.Database.Purge, cat)
				}
			}
		case "require_export":
			c.Database.RequireExport = d.boolean(fv, fp)
			if c.Database.RequireExport {
				d.requireExportAt = fv
			}
		default:
			return false
		}
		return true
	})
	c.Database.ContentOnly = true
	if durV == nil {
		d.errorAt(v, path, CodeBadRetention, `database.retention: the object form needs "duration" ("0" for zero retention, or at least "1h")`)
	}
}

func (d *decoder) exporters(c *Config, v *hujson.Value, path string) {
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "s3":
			d.s3Exporter(c, fv, fp)
		case "http":
			d.httpExporter(c, fv, fp)
		default:
			return false
		}
		return true
	})
}

// exportPace reads the every and limit fields both exporters share.
func (d *decoder) exportPace(k string, kv *hujson.Value, kp string, every, limit *int) bool {
	switch k {
	case "every":
		*every = d.integer(kv, kp)
		if *every < 0 {
			d.errorAt(kv, kp, CodeBadExporter, errorf("%s: must not be negative (seconds between exports; 0 means %d)", displayPath(kp), DefaultExportEvery))
		}
	case "limit":
		*limit = d.integer(kv, kp)
		if *limit < 0 || *limit > MaxExportLimit {
			d.errorAt(kv, kp, CodeBadExporter, errorf("%s: %d is out of range (records per export, from 1 to %d; 0 means %d)",
				displayPath(kp), *limit, MaxExportLimit, DefaultExportLimit))
		}
	default:
		return false
	}
	return true
}

func (d *decoder) s3Exporter(c *Config, v *hujson.Value, path string) {
	s3 := &S3Exporter{Pos: d.pos(v)}
	d.object(v, path, func(k string, kv *hujson.Value, kp string) bool {
		switch k {
		case "bucket_name":
			s3.BucketName = d.str(kv, kp)
		case "region":
			s3.Region = d.str(kv, kp)
		case "endpoint":
			s3.Endpoint = d.str(kv, kp)
			if s3.Endpoint != "" && !isHTTPURL(s3.Endpoint) {
				d.errorAt(kv, kp, CodeBadExporter, errorf("exporters.s3.endpoint: %q is not an http:// or https:// URL", s3.Endpoint))
			}
		case "prefix":
			s3.Prefix = strings.Trim(d.str(kv, kp), "/")
		case "access_key_id":
			s3.AccessKeyID = d.str(kv, kp)
		case "access_secret":
			s3.AccessSecret = d.str(kv, kp)
		default:
			return d.exportPace(k, kv, kp, &s3.Every, &s3.Limit)
		}
		return true
	})
	if s3.BucketName == "" {
		return // an empty bucket_name leaves the exporter off, as in Aperture
	}
	if s3.Region == "" {
		d.errorAt(v, path, CodeBadExporter, "exporters.s3: region is required (the S3 client signs with it, also for other S3-compatible stores)")
	}
	if (s3.AccessKeyID == "") != (s3.AccessSecret == "") {
		d.errorAt(v, path, CodeBadExporter, "exporters.s3: access_key_id and access_secret go together (set both, or neither to use the AWS environment)")
	}
	c.Exporters.S3 = s3
}

func (d *decoder) httpExporter(c *Config, v *hujson.Value, path string) {
	h := &HTTPExporter{Authorization: AuthBearer, Pos: d.pos(v)}
	d.object(v, path, func(k string, kv *hujson.Value, kp string) bool {
		switch k {
		case "url":
			h.URL = d.str(kv, kp)
		case "apikey":
			h.APIKey = d.str(kv, kp)
		case "authorization":
			h.Authorization = d.str(kv, kp)
			if !slices.Contains(AuthTypes, h.Authorization) {
				d.errorAt(kv, kp, CodeBadAuth, errorf("exporters.http has invalid authorization type: %s", h.Authorization))
			}
		case "timeout":
			h.Timeout, _ = d.duration(kv, kp)
		default:
			return d.exportPace(k, kv, kp, &h.Every, &h.Limit)
		}
		return true
	})
	if !isHTTPURL(h.URL) {
		d.errorAt(v, path, CodeBadExporter, errorf("exporters.http: url %q is not an http:// or https:// URL", h.URL))
		return
	}
	c.Exporters.HTTP = h
}

func (d *decoder) pricing(c *Config, v *hujson.Value, path string) {
	c.Pricing = make(map[string]Price)
	d.object(v, path, func(model string, mv *hujson.Value, mp string) bool {
		var p Price
		d.object(mv, mp, func(k string, kv *hujson.Value, kp string) bool {
			switch k {
			case "input":
				p.Input = d.number(kv, kp)
			case "output":
				p.Output = d.number(kv, kp)
			case "cache_read":
				p.CacheRead = d.number(kv, kp)
			case "cache_write":
				p.CacheWrite = d.number(kv, kp)
			case "context_window":
				p.ContextWindow = d.integer(kv, kp)
			default:
				return false
			}
			return true
		})
		if p.Input < 0 || p.Output < 0 || p.CacheRead < 0 || p.CacheWrite < 0 || p.ContextWindow < 0 {
			d.errorAt(mv, mp, CodeType, errorf("pricing.%s: prices and context_window must not be negative", model))
		}
		c.Pricing[model] = p
		return true
	})
}
