package engine

import (
	"slices"
)

// MatrixDiff is what changes in who may use what between two policies:
// per class of callers, the role before and after and the provider/model
// pairs gained and lost. Which grant allows a pair is not compared, so
// reordering grants or editing comments changes nothing.
type MatrixDiff struct {
	// Classes are the classes whose access changes, in matrix order.
	Classes []ClassDiff `json:"classes"`
}

// ClassDiff is the change of one class of callers.
type ClassDiff struct {
	Class string `json:"class"`
	Kind  string `json:"kind"`
	// OldRole and NewRole are the roles before and after; equal when the
	// role does not change.
	OldRole string `json:"old_role"`
	NewRole string `json:"new_role"`
	// Gains and Losses are "provider/model" pairs, in the order of the
	// matrix they come from (the new one for gains, the old one for
	// losses).
	Gains  []string `json:"gains"`
	Losses []string `json:"losses"`
}

// Equal reports whether the two policies give everyone the same access.
func (d *MatrixDiff) Equal() bool { return len(d.Classes) == 0 }

// DiffMatrices compares two matrices computed over the same classes (see
// MatrixOf); a class only one of them has counts as having no role and no
// pair in the other.
func DiffMatrices(old, new *Matrix) *MatrixDiff {
	d := &MatrixDiff{Classes: []ClassDiff{}}
	olds := make(map[string]*MatrixClass, len(old.Classes))
	for i := range old.Classes {
		olds[old.Classes[i].Class] = &old.Classes[i]
	}
	seen := make(map[string]bool, len(new.Classes))
	for i := range new.Classes {
		n := &new.Classes[i]
		seen[n.Class] = true
		o := olds[n.Class]
		if o == nil {
			o = &MatrixClass{Class: n.Class, Kind: n.Kind, Role: RoleNone}
		}
		if c, changed := diffClass(o, n); changed {
			d.Classes = append(d.Classes, c)
		}
	}
	for i := range old.Classes {
		o := &old.Classes[i]
		if !seen[o.Class] {
			if c, changed := diffClass(o, &MatrixClass{Class: o.Class, Kind: o.Kind, Role: RoleNone}); changed {
				d.Classes = append(d.Classes, c)
			}
		}
	}
	return d
}

func diffClass(o, n *MatrixClass) (ClassDiff, bool) {
	c := ClassDiff{Class: n.Class, Kind: n.Kind, OldRole: o.Role, NewRole: n.Role, Gains: []string{}, Losses: []string{}}
	had, has := pairSet(o), pairSet(n)
	for _, cell := range n.Allowed {
		if p := cell.Provider + "/" + cell.Model; !had[p] {
			c.Gains = append(c.Gains, p)
		}
	}
	for _, cell := range o.Allowed {
		if p := cell.Provider + "/" + cell.Model; !has[p] {
			c.Losses = append(c.Losses, p)
		}
	}
	c.Gains, c.Losses = slices.Compact(c.Gains), slices.Compact(c.Losses)
	return c, c.OldRole != c.NewRole || len(c.Gains) > 0 || len(c.Losses) > 0
}

func pairSet(c *MatrixClass) map[string]bool {
	s := make(map[string]bool, len(c.Allowed))
	for _, cell := range c.Allowed {
		s[cell.Provider+"/"+cell.Model] = true
	}
	return s
}
