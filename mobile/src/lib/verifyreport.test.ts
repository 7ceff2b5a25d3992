import { describe, expect, it } from 'vitest'
import type { Verification, VerifiedSignature } from '../api/verification'
import { formatDateTime } from './format'
import { certificateText, flowText, issuerName, modificationText, signatureView, signerName, timestampText, verdictView } from './verifyreport'

const cert = {
  subject: 'CN=张三,O=某某科技有限公司',
  commonName: '张三',
  organization: '某某科技有限公司',
  organizationIdentifier: 'NTRCN-91310000MA1FL0000X',
  serial: '0a1b',
  issuer: 'CN=Signet Sandbox CA,O=Signet',
  notBefore: '2026-01-01T00:00:00Z',
  notAfter: '2027-01-01T00:00:00Z',
  sha256: 'AA:BB',
  keyAlgorithm: 'ECDSA P-256',
}

function sig(over: Partial<VerifiedSignature> = {}): VerifiedSignature {
  return {
    index: 1,
    kind: 'signature',
    fieldName: 'Sig1',
    subFilter: 'ETSI.CAdES.detached',
    status: 'valid',
    summary: '签名有效',
    signingTime: '2026-11-20T08:30:00Z',
    signingTimeTrusted: true,
    seal: { page: 2, visible: true, hasAppearance: true },
    integrity: { byteRangeOK: true, digestOK: true, signatureOK: true, signingCertificateOK: true, digestAlgorithm: 'SHA-256', signatureAlgorithm: 'ECDSA' },
    coverage: { byteRange: [0, 1, 2, 3], revision: 2, revisionEnd: 10, wholeFile: true, laterRevisions: 0, changesAfter: 'none' },
    signer: cert,
    trusted: true,
    revocation: { status: 'good' },
    timestamp: { time: '2026-11-20T08:30:01Z', valid: true, imprintOK: true, signatureOK: true, trusted: true, tsa: { ...cert, organization: undefined, commonName: 'Signet TSA' } },
    ...over,
  }
}

function verification(over: Partial<Verification> = {}): Verification {
  return {
    platform: true,
    message: '文件完整，所有签名有效',
    report: { verdict: 'valid', summary: '文件完整，所有签名有效', size: 1, sha256: 'x', revisions: 2, pages: 2, signatures: [sig()], verifiedAt: '2026-11-27T00:00:00Z' },
    flow: null,
    ...over,
  }
}

describe('verdictView', () => {
  it('valid', () => {
    expect(verdictView(verification())).toMatchObject({ tone: 'success', title: '文件有效', message: '文件完整，所有签名有效' })
  })
  it('invalid keeps the reasons', () => {
    const v = verification()
    v.report = { ...v.report!, verdict: 'invalid', reasons: ['签名 1 之后文件内容被修改'] }
    v.message = '文件无效'
    expect(verdictView(v)).toMatchObject({ tone: 'danger', title: '文件无效', reasons: ['签名 1 之后文件内容被修改'] })
  })
  it('not of this platform', () => {
    const v = verification({ platform: false, message: '非本平台签署的文件' })
    v.report = { ...v.report!, verdict: 'not_platform', signatures: null }
    expect(verdictView(v)).toMatchObject({ tone: 'warning', title: '非本平台签署的文件' })
  })
})

describe('signature rows', () => {
  it('names the signer with the organisation', () => {
    expect(signerName(cert)).toBe('某某科技有限公司（张三）')
    expect(signerName({ ...cert, organization: undefined })).toBe('张三')
    expect(signerName(undefined, '李四')).toBe('李四')
  })
  it('describes the certificate', () => {
    expect(issuerName('CN=Signet Sandbox CA,O=Signet')).toBe('Signet Sandbox CA')
    expect(certificateText(cert)).toContain('序列号 0a1b，颁发者 Signet Sandbox CA')
    expect(certificateText(undefined)).toBe('无可用证书')
  })
  it('tells whether the file was changed after signing', () => {
    expect(modificationText(sig())).toMatchObject({ value: '未修改', tone: 'success' })
    const later = sig({ coverage: { ...sig().coverage, changesAfter: 'signatures_only', laterRevisions: 2 } })
    expect(modificationText(later).value).toContain('仅追加了 2 次')
    const changed = sig({ coverage: { ...sig().coverage, changesAfter: 'changed' } })
    expect(modificationText(changed)).toMatchObject({ value: '签署后文件内容被修改', tone: 'danger' })
    // Bytes inside the signed ranges changed: tampered, even with only signatures appended after it.
    const tampered = sig({ status: 'invalid', integrity: { ...sig().integrity, digestOK: false }, coverage: { ...later.coverage } })
    expect(modificationText(tampered)).toMatchObject({ value: '已被篡改（签名覆盖的内容与签名不符）', tone: 'danger' })
    const cut = sig({ status: 'invalid', integrity: { ...sig().integrity, byteRangeOK: false } })
    expect(modificationText(cut).tone).toBe('danger')
  })
  it('shows the time-stamp', () => {
    expect(timestampText(sig()).value).toBe(`${formatDateTime('2026-11-20T08:30:01Z')}（有效，Signet TSA）`)
    expect(timestampText(sig({ timestamp: undefined }))).toMatchObject({ value: '无时间戳', tone: 'warning' })
    const bad = sig({ timestamp: { ...sig().timestamp!, valid: false, problems: ['时间戳签名无效'] } })
    expect(timestampText(bad).value).toContain('无效：时间戳签名无效')
  })
  it('builds the card', () => {
    const v = signatureView(sig())
    expect(v.title).toBe('签名 1')
    expect(v.statusText).toBe('签名有效')
    const byLabel = Object.fromEntries(v.rows.map((r) => [r.label, r.value]))
    expect(byLabel['签署人']).toBe('某某科技有限公司（张三）')
    expect(byLabel['统一社会信用代码']).toBe('91310000MA1FL0000X')
    expect(byLabel['印章']).toBe('第 2 页')
    expect(byLabel['签署时间']).toBe(formatDateTime('2026-11-20T08:30:00Z'))
    expect(byLabel['证书状态']).toBe('正常')
  })
  it('marks a revoked certificate and a document time-stamp', () => {
    const v = signatureView(sig({ status: 'invalid', problems: ['证书已吊销'], revocation: { status: 'revoked', reason: '密钥泄露' } }))
    expect(v.tone).toBe('danger')
    expect(v.problems).toEqual(['证书已吊销'])
    expect(signatureView(sig({ status: 'invalid', summary: '摘要不匹配', problems: ['摘要不匹配', '证书已吊销'] })).problems).toEqual(['证书已吊销'])
    expect(v.rows.find((r) => r.label === '证书状态')).toMatchObject({ value: '已吊销：密钥泄露', tone: 'danger' })
    const ts = signatureView(sig({ kind: 'doc_timestamp', index: 3 }))
    expect(ts.title).toBe('文档时间戳 3')
    expect(ts.statusText).toBe('时间戳有效')
    expect(signerName({ ...cert, organization: 'Signet', commonName: 'Signet TSA' })).toBe('Signet TSA')
    expect(ts.rows.some((r) => r.label === '印章')).toBe(false)
  })
})

describe('flowText', () => {
  it('names the flow', () => {
    expect(flowText(verification())).toBeNull()
    const f = flowText(verification({ flow: { id: 7, number: 'HT001', name: '采购合同', status: 'completed', documentId: 9, documentName: '采购合同.pdf', match: 'current' } }))
    expect(f).toEqual({ id: '7', title: '采购合同（HT001）', detail: '已完成 · 文件「采购合同.pdf」与该合同当前文件一致' })
  })
})
