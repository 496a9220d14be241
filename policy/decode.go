package policy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// decoder walks a parsed HuJSON tree into a Config. It never stops at the
// first problem: every diagnostic of the file is collected, each with its
// JSON path and line:col, so one run of `sluice config validate` shows all.
type decoder struct {
	file     string
	data     []byte
	lookup   func(string) (string, bool)
	diags    Errors
	missing  []string // unresolved macro names, first appearance first
	seen     map[string]bool
	macroAt  Pos
	hookRefs []hookRef
	// quotaRefs are the bucket names grants charge.
	quotaRefs []quotaRef
	// testGlobs are the allow and deny globs of the tests section.
	testGlobs []testGlob
	lines     []int // offsets of line starts, built on first use by pos
	// defaultProviderAt is where routing.default_provider is set.
	defaultProviderAt *hujson.Value
	// requireExportAt is where database.retention.require_export is true.
	requireExportAt *hujson.Value
}

func (d *decoder) pos(v *hujson.Value) Pos {
	if v == nil {
		return Pos{File: d.file}
	}
	if d.lines == nil {
		// Offsets of line starts, found once: every value asks for its
		// position, and counting newlines from the start each time made
		// loading quadratic in the file's size.
		d.lines = []int{0}
		for i, b := range d.data {
			if b == '\n' {
				d.lines = append(d.lines, i+1)
			}
		}
	}
	n := min(max(v.StartOffset, 0), len(d.data))
	line, _ := slices.BinarySearch(d.lines, n+1) // lines starting at or before n
	return Pos{File: d.file, Line: line, Col: 1 + n - d.lines[line-1]}
}

func (d *decoder) add(v *hujson.Value, path, code, msg string, warning bool) {
	d.diags = append(d.diags, Diagnostic{Code: code, Path: path, Pos: d.pos(v), Message: msg, Warning: warning})
}

func (d *decoder) errorAt(v *hujson.Value, path, code, msg string) {
	d.add(v, path, code, msg, false)
}

func (d *decoder) warnAt(v *hujson.Value, path, code, msg string) {
	d.add(v, path, code, msg, true)
}

func kindName(k hujson.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

func (d *decoder) typeError(v *hujson.Value, path, want string) {
	d.errorAt(v, path, CodeType, errorf("%s: want %s, got %s", displayPath(path), want, kindName(v.Value.Kind())))
}

// displayPath renders a JSON pointer the way people read config paths:
// /providers/openai/models/0 -> providers.openai.models[0].
func displayPath(ptr string) string {
	var b strings.Builder
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func child(path, name string) string {
	return path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}

func index(path string, i int) string { return path + "/" + strconv.Itoa(i) }

func isNull(v *hujson.Value) bool { return v.Value.Kind() == 'n' }

// object calls fn for each member of the object v, in declaration order,
// reporting duplicate keys. fn returns false for a member it does not know,
// which becomes an unknown-field warning: Aperture configs may carry fields
// sluice does not know yet, and refusing them would break compatibility.
// (The top level is stricter; see topLevel.)
func (d *decoder) object(v *hujson.Value, path string, fn func(name string, val *hujson.Value, path string) bool) bool {
	return d.members(v, path, func(m *hujson.ObjectMember, name, p string) {
		if !fn(name, &m.Value, p) {
			d.warnAt(&m.Name, p, CodeUnknownField, errorf("unknown field %s (ignored)", displayPath(p)))
		}
	})
}

// members calls fn for each member of the object v, in declaration order,
// reporting duplicate keys (fn does not see the repeats). It reports
// whether v is an object.
func (d *decoder) members(v *hujson.Value, path string, fn func(m *hujson.ObjectMember, name, path string)) bool {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		if !isNull(v) {
			d.typeError(v, path, "object")
		}
		return false
	}
	seen := make(map[string]bool, len(obj.Members))
	for i := range obj.Members {
		m := &obj.Members[i]
		name := m.Name.Value.(hujson.Literal).String()
		p := child(path, name)
		if seen[name] {
			d.errorAt(&m.Name, p, CodeDuplicateKey, errorf("duplicate key %s", displayPath(p)))
			continue
		}
		seen[name] = true
		fn(m, name, p)
	}
	return true
}

// array calls fn for each element of the array v.
func (d *decoder) array(v *hujson.Value, path string, fn func(i int, val *hujson.Value, path string)) {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		if !isNull(v) {
			d.typeError(v, path, "array")
		}
		return
	}
	for i := range arr.Elements {
		fn(i, &arr.Elements[i], index(path, i))
	}
}

func (d *decoder) str(v *hujson.Value, path string) string {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '"' {
		if !isNull(v) {
			d.typeError(v, path, "string")
		}
		return ""
	}
	return d.expand(v, lit.String())
}

func (d *decoder) strs(v *hujson.Value, path string) []string {
	var out []string
	d.array(v, path, func(_ int, e *hujson.Value, p string) {
		out = append(out, d.str(e, p))
	})
	return out
}

func (d *decoder) boolean(v *hujson.Value, path string) bool {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || (lit.Kind() != 't' && lit.Kind() != 'f') {
		if !isNull(v) {
			d.typeError(v, path, "boolean")
		}
		return false
	}
	return lit.Bool()
}

func (d *decoder) integer(v *hujson.Value, path string) int {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '0' {
		if !isNull(v) {
			d.typeError(v, path, "number")
		}
		return 0
	}
	n, err := strconv.Atoi(string(lit))
	if err != nil {
		d.errorAt(v, path, CodeType, errorf("%s: want a whole number, got %s", displayPath(path), lit))
	}
	return n
}

// number reads a JSON number, or a string holding one (prices are often
// written as strings to keep their exact decimal form).
func (d *decoder) number(v *hujson.Value, path string) float64 {
	lit, ok := v.Value.(hujson.Literal)
	if ok && lit.Kind() == '"' {
		f, err := strconv.ParseFloat(d.expand(v, lit.String()), 64)
		if err != nil {
			d.errorAt(v, path, CodeType, errorf("%s: want a number, got %s", displayPath(path), lit))
		}
		return f
	}
	if !ok || lit.Kind() != '0' {
		d.typeError(v, path, "number")
		return 0
	}
	return lit.Float()
}

// duration reads a Go duration string ("5s", "1m30s"); "0" and the number 0
// mean zero.
func (d *decoder) duration(v *hujson.Value, path string) (time.Duration, bool) {
	lit, ok := v.Value.(hujson.Literal)
	if ok && lit.Kind() == '0' && lit.Float() == 0 {
		return 0, true
	}
	if !ok || lit.Kind() != '"' {
		d.typeError(v, path, `duration string such as "5s"`)
		return 0, false
	}
	s := d.expand(v, lit.String())
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		d.errorAt(v, path, CodeBadDuration, errorf("%s: invalid duration %q (want a Go duration such as \"5s\", \"1m\" or \"0\")", displayPath(path), s))
		return 0, false
	}
	return dur, true
}

// macroRE matches "$${" (an escaped literal "${") and "${NAME}".
var macroRE = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

// expand substitutes ${NAME} macros from the environment, so that keys need
// not sit in the file. Unresolved names are collected for one error.
func (d *decoder) expand(v *hujson.Value, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return macroRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		if val, ok := d.lookup(name); ok {
			return val
		}
		if !d.seen[name] {
			if d.seen == nil {
				d.seen = make(map[string]bool)
				d.macroAt = d.pos(v)
			}
			d.seen[name] = true
			d.missing = append(d.missing, name)
		}
		return m
	})
}

// hookRef remembers where a hook grant names a hook, so the reference can be
// checked once every section is read (hooks may come after temp_grants).
type hookRef struct {
	name  string
	v     *hujson.Value
	path  string
	grant string
}
