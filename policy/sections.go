package policy

import (
	"strings"

	"github.com/tailscale/hujson"
)

// section is one top-level section of the configuration file. Every name
// Aperture documents is listed: the ones sluice implements decode, the
// others are refused with a reason, so that no setting that carries access
// or spending limits is ever silently ignored.
type section struct {
	name string
	// decode reads the section; nil for a refused one.
	decode func(d *decoder, c *Config, v *hujson.Value, path string)
	// access marks a section that grants access: when the file has one,
	// the default grants never apply.
	access bool
	// refused explains why sluice does not load a file with this section.
	refused string
}

// sections lists the top-level sections sluice knows, the supported ones
// first in documentation order.
var sections = []section{
	{name: "providers", decode: (*decoder).providers},
	{name: "grants", decode: (*decoder).appGrants, access: true},
	{name: "temp_grants", decode: (*decoder).tempGrants, access: true},
	{name: "hooks", decode: (*decoder).hooks},
	{name: "database", decode: (*decoder).database},
	{name: "exporters", decode: (*decoder).exporters},
	{name: "pricing", decode: (*decoder).pricing},
	{name: "flags", decode: (*decoder).flags},
	{name: "quotas", decode: (*decoder).quotas, access: true},
	// sluice's own: Aperture has no tracing section.
	{name: "tracing", decode: (*decoder).tracing},
	// sluice's own routing settings.
	{name: "model_aliases", decode: (*decoder).modelAliases},
	{name: "force_model", decode: (*decoder).forceModel},
	{name: "routing", decode: (*decoder).routing},
	// sluice's own: assertions the policy must satisfy.
	{name: "tests", decode: (*decoder).tests},
	// connectors configures MCP servers and HTTP APIs; grants (connectors,
	// mcp_tools...) say who may use them, so it grants nothing itself.
	{name: "connectors", decode: (*decoder).connectors},
	{name: "mcp", access: true, refused: `section "mcp" is not supported by this version of sluice (configure MCP servers under connectors.servers)`},
	{name: "sandboxes", access: true, refused: `section "sandboxes" is not supported yet by this version of sluice`},
}

func sectionNamed(name string) *section {
	for i := range sections {
		if sections[i].name == name {
			return &sections[i]
		}
	}
	return nil
}

// supportedSections lists the names of the sections sluice loads.
func supportedSections() string {
	var names []string
	for _, s := range sections {
		if s.refused == "" {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ", ")
}

// topLevel decodes the root object section by section. Unlike fields below
// it, an unknown top-level key is an error: a section sluice does not know
// may grant or limit access, and ignoring it could serve more than the
// file allows. It reports whether the file has an access section.
func (d *decoder) topLevel(c *Config, root *hujson.Value) (access bool) {
	d.members(root, "", func(m *hujson.ObjectMember, key, p string) {
		s := sectionNamed(key)
		switch {
		case s == nil:
			d.errorAt(&m.Name, p, CodeUnknownSection, errorf("unknown top-level section %q (known: %s)", key, supportedSections()))
			return
		case s.refused != "":
			d.errorAt(&m.Name, p, CodeUnsupportedSection, s.refused)
		default:
			s.decode(d, c, &m.Value, p)
		}
		access = access || s.access
	})
	return access
}

// flags reads the flags section: name -> {"value": bool}. sluice has no
// flag of its own (Aperture's turn on its chat UI and connectors, which
// sluice does not serve), so they are type-checked, kept for display and
// change nothing.
func (d *decoder) flags(c *Config, v *hujson.Value, path string) {
	c.Flags = make(map[string]bool)
	d.object(v, path, func(name string, fv *hujson.Value, fp string) bool {
		var on, hasValue bool
		if d.object(fv, fp, func(k string, kv *hujson.Value, kp string) bool {
			if k != "value" {
				return false
			}
			on, hasValue = d.boolean(kv, kp), true
			return true
		}) && !hasValue {
			d.errorAt(fv, fp, CodeType, errorf("%s: want {\"value\": true or false}", displayPath(fp)))
		}
		c.Flags[name] = on
		return true
	})
}
