package compat

import (
	"encoding/json"
	"testing"
)

func TestUsageZeroIsNotMissing(t *testing.T) {
	var u Usage
	if u.Reported() {
		t.Fatal("zero Usage reports counts")
	}
	u.SetCacheRead(0)
	if n, ok := u.CacheRead(); !ok || n != 0 || !u.Reported() {
		t.Errorf("a reported zero reads back as %d, %v", n, ok)
	}
	if _, ok := u.Input(); ok {
		t.Error("input reported though never set")
	}
}

func TestUsageMerge(t *testing.T) {
	var start, delta Usage
	start.SetInput(472)
	start.SetOutput(2)
	start.SetCacheRead(2048)
	delta.SetOutput(89)
	got := usageOf(start.Merge(delta))
	if got != (tokens{472, 89, 2048, nr}) {
		t.Errorf("merged %v", got)
	}
	if got := usageOf(delta.fill(start)); got != (tokens{472, 89, 2048, nr}) {
		t.Errorf("filled %v", got)
	}
}

func TestUncachedInput(t *testing.T) {
	var u Usage
	if _, ok := u.UncachedInput(); ok {
		t.Error("uncached input of nothing")
	}
	u.SetInput(2520)
	u.SetCacheRead(2048)
	u.SetCacheWrite(100)
	if n, ok := u.UncachedInput(); !ok || n != 372 {
		t.Errorf("uncached %d", n)
	}
	u.SetInput(10)
	if n, _ := u.UncachedInput(); n != 0 {
		t.Errorf("negative uncached input %d", n)
	}
}

func TestUsageJSON(t *testing.T) {
	var u Usage
	u.SetInput(12)
	u.SetCacheWrite(0)
	b, err := json.Marshal(u)
	if err != nil || string(b) != `{"input_tokens":12,"cache_write_tokens":0}` {
		t.Fatalf("%s %v", b, err)
	}
	var back Usage
	if err := json.Unmarshal(b, &back); err != nil || back != u {
		t.Errorf("round trip %+v %v", back, err)
	}
	if b, _ := json.Marshal(Usage{}); string(b) != `{}` {
		t.Errorf("empty usage %s", b)
	}
}
