package benchutil

import (
	"os"
	"testing"
)

// TestMachineTicks: a reading on Linux counts every tick once (busy and
// iowait within the total), the ticks move forward, and Sub and Add are
// each other's inverse.
func TestMachineTicks(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat here")
	}
	a := MachineTicks()
	if a.Total <= 0 || a.Busy < 0 || a.IOWait < 0 || a.Busy+a.IOWait > a.Total {
		t.Fatalf("reading %+v", a)
	}
	for x := 0; MachineTicks().Total == a.Total; x++ { // a tick is 10 ms
		_ = x * x
	}
	b := MachineTicks()
	d := b.Sub(a)
	if d.Total <= 0 || d.Busy < 0 || d.IOWait < 0 || d.Busy+d.IOWait > d.Total {
		t.Fatalf("between readings %+v", d)
	}
	if got := a.Add(d); got != b {
		t.Fatalf("%+v + %+v = %+v, want %+v", a, d, got, b)
	}
}
