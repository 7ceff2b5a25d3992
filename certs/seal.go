package certs

import (
	"signet/ent/predicate"
	"signet/ent/seal"
)

func sealCertificate(id int) predicate.Seal { return seal.CertificateID(id) }
