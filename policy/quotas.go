package policy

import (
	"slices"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/tailscale/hujson"
)

// Quota is one bucket of the quotas section: a spend limit in dollars that
// grants attach to the requests they charge.
type Quota struct {
	quota.Bucket
	Pos Pos

	overdraftV    *hujson.Value
	overdraftPath string
}

// Chain is the overdraft chain that starts at q: q, the bucket it
// overdrafts into, and so on (validation ruled out cycles and undefined
// names).
func (c *Config) Chain(q *Quota) []*Quota {
	chain := []*Quota{q}
	for q.Overdraft != "" {
		q = c.Quota(q.Overdraft)
		if q == nil || len(chain) > len(c.Quotas) {
			break
		}
		chain = append(chain, q)
	}
	return chain
}

// quotaRef is a bucket name a grant charges, checked against the quotas
// section once the whole file is read.
type quotaRef struct {
	name  string
	v     *hujson.Value
	path  string
	grant string
}

// quotas decodes the quotas section: bucket name -> {capacity, rate,
// on_exceed}. Every field is required but rate (no rate: the bucket never
// refills by itself, only an admin refills it), and an unknown field is an
// error, not a warning: it may be a limit sluice would not apply.
func (d *decoder) quotas(c *Config, v *hujson.Value, path string) {
	c.Quotas = []*Quota{}
	d.members(v, path, func(m *hujson.ObjectMember, name, p string) {
		q := &Quota{Bucket: quota.Bucket{Name: name}, Pos: d.pos(&m.Value)}
		if name == "" {
			d.errorAt(&m.Name, p, CodeBadQuota, "quotas: empty bucket name")
		}
		var hasCap bool
		obj, ok := m.Value.Value.(*hujson.Object)
		if !ok {
			d.typeError(&m.Value, p, "object")
			return
		}
		for i := range obj.Members {
			f := &obj.Members[i]
			key := f.Name.Value.(hujson.Literal).String()
			fv, fp := &f.Value, child(p, key)
			switch key {
			case "capacity":
				s := d.str(fv, fp)
				a, err := quota.ParseAmount(s)
				if err != nil {
					d.errorAt(fv, fp, CodeBadQuota, errorf("quotas.%s.capacity: %v", name, err))
				}
				q.Capacity, hasCap = a, true
			case "rate":
				s := d.str(fv, fp)
				r, err := quota.ParseRate(s)
				if err != nil {
					d.errorAt(fv, fp, CodeBadQuota, errorf("quotas.%s.rate: %v", name, err))
				}
				q.Rate = r
			case "on_exceed":
				q.OnExceed = d.str(fv, fp)
				if q.OnExceed != quota.OnExceedReject {
					d.errorAt(fv, fp, CodeBadQuota, errorf("quotas.%s.on_exceed: unknown action %q (want %q)", name, q.OnExceed, quota.OnExceedReject))
				}
			case "overdraft":
				q.Overdraft = d.str(fv, fp)
				q.overdraftV, q.overdraftPath = fv, fp
			default:
				d.errorAt(&f.Name, fp, CodeBadQuota, errorf("quotas.%s: unknown field %q (known: capacity, rate, on_exceed, overdraft); sluice refuses a spend limit it cannot fully apply", name, key))
			}
		}
		if !hasCap {
			d.errorAt(&m.Value, p, CodeBadQuota, errorf("quotas.%s: no capacity (want e.g. \"capacity\": \"$10.00\")", name))
		}
		if q.OnExceed == "" {
			q.OnExceed = quota.OnExceedReject
		}
		c.Quotas = append(c.Quotas, q)
	})
}

// quotaList reads a list of {"bucket": NAME} objects, the shape of both a
// grants capability's quotas and a temp_grants quotas grant, and records
// each name for validate to check.
func (d *decoder) quotaList(grant string, v *hujson.Value, path string) []string {
	names := []string{}
	d.array(v, path, func(_ int, qv *hujson.Value, qp string) {
		var name string
		var bv *hujson.Value
		d.object(qv, qp, func(k string, kv *hujson.Value, kp string) bool {
			if k != "bucket" {
				return false
			}
			name, bv = d.str(kv, kp), kv
			return true
		})
		if bv == nil || name == "" {
			d.errorAt(qv, qp, CodeBadGrant, errorf("%s: quotas entry names no bucket (want {\"bucket\": NAME})", grant))
			return
		}
		names = append(names, name)
		d.quotaRefs = append(d.quotaRefs, quotaRef{name: name, v: bv, path: child(qp, "bucket"), grant: grant})
	})
	return names
}

// validateQuotas reports every bucket a grant charges that the quotas
// section does not define: charging nothing would serve past the limit the
// grant meant to set.
func validateQuotas(c *Config, d *decoder) {
	for _, q := range c.Quotas {
		if q.Overdraft == "" {
			continue
		}
		if c.Quota(q.Overdraft) == nil {
			d.errorAt(q.overdraftV, q.overdraftPath, CodeBadQuota, errorf("quotas.%s.overdraft: undefined quota bucket %q", q.Name, q.Overdraft))
			continue
		}
		// Follow the chain: it must end.
		seen := map[string]bool{q.Name: true}
		for n := q.Overdraft; n != ""; n = c.Quota(n).Overdraft {
			if seen[n] || c.Quota(n) == nil {
				if seen[n] {
					d.errorAt(q.overdraftV, q.overdraftPath, CodeBadQuota, errorf("quotas.%s.overdraft: the chain comes back to %q; an overdraft chain must end", q.Name, n))
				}
				break
			}
			seen[n] = true
		}
	}
	for _, ref := range d.quotaRefs {
		if !slices.ContainsFunc(c.Quotas, func(q *Quota) bool { return q.Name == ref.name }) {
			d.errorAt(ref.v, ref.path, CodeUndefinedQuota, errorf("%s: grant charges undefined quota bucket %q (define it in the \"quotas\" section)", ref.grant, ref.name))
		}
	}
}

// Quota returns the bucket of the quotas section with the given configured
// name (a name with "<user>" as written), or nil.
func (c *Config) Quota(name string) *Quota {
	for _, q := range c.Quotas {
		if q.Name == name {
			return q
		}
	}
	return nil
}
