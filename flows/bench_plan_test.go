package flows_test

import (
	"fmt"
	"os"
	"testing"

	"signet/flows"
	"signet/internal/dbtest"
)

// TestSignPlanCost measures what a signature reads before it signs (the
// plan: the flow and its parties, the documents and the signer's fields,
// the seal with its certificate), one at a time on a warm connection: the
// CPU and the allocations of the reads themselves, without the cold pages
// and the collector's pressure of a loaded node. On demand:
//
//	SIGNET_BENCH=1 scripts/with-postgres.sh go test -count=1 -run TestSignPlanCost -v ./flows/
func TestSignPlanCost(t *testing.T) {
	if os.Getenv("SIGNET_BENCH") == "" {
		t.Skip("set SIGNET_BENCH=1 to run the signing harness")
	}
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		in := e.readyToSign(t, "计划成本")
		ctx := e.as("bob")
		if err := flows.Plan(e.svc, ctx, in); err != nil {
			t.Fatal(err)
		}
		r := testing.Benchmark(func(bb *testing.B) {
			bb.ReportAllocs()
			for bb.Loop() {
				if err := flows.Plan(e.svc, ctx, in); err != nil {
					bb.Fatal(err)
				}
			}
		})
		fmt.Printf("CONTRACTS-SIGN-PLAN %s: %v per plan, %d allocations, %d bytes\n", b.Name, r.NsPerOp(), r.AllocsPerOp(), r.AllocedBytesPerOp())
	})
}
