// The report of POST /files/verify (flows.Verification with
// signingcore/verify.Report): field names as the server encodes them.

export type Verdict = 'valid' | 'invalid' | 'not_platform'
export type SignatureStatus = 'valid' | 'invalid' | 'untrusted'
export type Modification = 'none' | 'signatures_only' | 'changed'

export interface VerifiedCertificate {
  subject: string
  commonName?: string
  organization?: string
  subjectSerialNumber?: string
  organizationIdentifier?: string
  serial: string
  issuer: string
  notBefore: string
  notAfter: string
  sha256: string
  keyAlgorithm: string
}

export interface VerifiedTimestamp {
  time: string
  valid: boolean
  imprintOK: boolean
  signatureOK: boolean
  trusted: boolean
  tsa?: VerifiedCertificate
  serial?: string
  policy?: string
  hashAlgorithm?: string
  problems?: string[]
}

export interface VerifiedSignature {
  index: number
  kind: 'signature' | 'doc_timestamp' | string
  fieldName: string
  subFilter: string
  status: SignatureStatus
  summary: string
  problems?: string[]
  notes?: string[]
  name?: string
  reason?: string
  location?: string
  contactInfo?: string
  claimedTime?: string
  signingTime: string
  signingTimeTrusted: boolean
  seal: { page: number; rect?: number[]; visible: boolean; hasAppearance: boolean }
  integrity: {
    byteRangeOK: boolean
    digestOK: boolean
    signatureOK: boolean
    signingCertificateOK: boolean
    digestAlgorithm?: string
    signatureAlgorithm?: string
  }
  coverage: {
    byteRange: number[]
    revision: number
    revisionEnd: number
    wholeFile: boolean
    laterRevisions: number
    changesAfter: Modification
    changes?: { kind: string; allowed: boolean; object: number; description: string }[]
  }
  signer?: VerifiedCertificate
  chain?: VerifiedCertificate[]
  trusted: boolean
  revocation: { status: string; revokedAt?: string; reason?: string; source?: string }
  timestamp?: VerifiedTimestamp
}

export interface VerificationReport {
  verdict: Verdict
  summary: string
  reasons?: string[]
  size: number
  sha256: string
  revisions: number
  pages: number
  signatures: VerifiedSignature[] | null
  verifiedAt: string
}

export interface VerifiedFlow {
  id: number
  number: string
  name: string
  status: string
  documentId: number
  documentName: string
  match: 'current' | 'revision' | 'earlier' | string
}

export interface Verification {
  platform: boolean
  message: string
  report: VerificationReport | null
  flow: VerifiedFlow | null
}
