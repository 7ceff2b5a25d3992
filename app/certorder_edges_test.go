package app_test

import (
	"testing"

	et "signet/enterprises/enterprisestest"
	"signet/internal/apitest"
	"signet/internal/dbtest"
)

// TestStartCertificationReturnsLoadableOrder asks for the new order's edges
// in the same mutation: the order must not be bound to the transaction
// that created it (that answered 系统繁忙 before).
func TestStartCertificationReturnsLoadableOrder(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		_, tok := et.User(t, s, "13800005001")
		var out struct {
			StartEnterpriseCertification struct {
				ID         string
				Enterprise struct{ Name string }
			}
		}
		s.MustDo(tok, `mutation($in: StartCertificationInput!) { startEnterpriseCertification(input: $in) { id enterprise { name } documents { id } } }`,
			map[string]any{"in": map[string]any{"name": "边界测试有限公司", "creditCode": et.CreditCode(7001), "address": "杭州市西湖区",
				"legalRepName": "钱法人", "legalRepIdNumber": et.IDNumber("19800101", 41)}}, &out)
		if out.StartEnterpriseCertification.Enterprise.Name != "边界测试有限公司" {
			t.Fatalf("order = %+v", out)
		}
	})
}
