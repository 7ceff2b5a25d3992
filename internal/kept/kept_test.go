package kept

import (
	"testing"
	"time"
)

func TestMap(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var m Map[int, string]
	put := func(k int, v string) { m.Put(k, v, m.Generation(), now, now.Add(time.Minute)) }
	has := func(k int, at time.Time) bool { _, ok := m.Get(k, at); return ok }

	put(1, "甲")
	if has(1, now) {
		t.Fatal("kept before listening")
	}
	m.Listening(true)
	put(1, "甲")
	if v, ok := m.Get(1, now); !ok || v != "甲" {
		t.Fatalf("get %q %v", v, ok)
	}
	if has(1, now.Add(time.Minute)) || m.Len() != 0 {
		t.Fatal("kept past its time")
	}
	// A read that began before a drop is not kept.
	gen := m.Generation()
	m.Drop(func(k int, _ string) bool { return k == 99 })
	m.Put(2, "乙", gen, now, now.Add(time.Minute))
	if has(2, now) {
		t.Fatal("a read older than a drop was kept")
	}
	put(2, "乙")
	put(3, "丙")
	m.Update(3, func(v *string) { *v = "丙二" })
	if v, _ := m.Get(3, now); v != "丙二" {
		t.Fatalf("updated %q", v)
	}
	m.Drop(func(k int, _ string) bool { return k == 2 })
	if has(2, now) || !has(3, now) {
		t.Fatal("drop took the wrong value")
	}
	m.Drop(nil)
	if has(3, now) {
		t.Fatal("drop all kept a value")
	}
	// The bound: the ones past their time first.
	m.Max = 2
	m.Put(4, "丁", m.Generation(), now, now.Add(time.Second))
	put(5, "戊")
	m.Put(6, "己", m.Generation(), now.Add(2*time.Second), now.Add(time.Minute))
	if m.Len() != 2 || has(4, now) || !has(5, now) || !has(6, now) {
		t.Fatalf("bound: %d kept", m.Len())
	}
	put(7, "庚")
	if m.Len() > 2 || !has(7, now) {
		t.Fatalf("bound: %d kept", m.Len())
	}
	// Not listening: all go, none kept.
	m.Listening(false)
	put(8, "辛")
	if m.Len() != 0 {
		t.Fatalf("%d kept while not listening", m.Len())
	}
}
