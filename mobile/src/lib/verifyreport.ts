// 文档验证: turns the server's verification report into what the page shows —
// the overall verdict, and per signature the signer, certificate, seal,
// signing time, time-stamp and whether the file was changed after it.
import type { Verification, VerifiedCertificate, VerifiedSignature } from '../api/verification'
import { formatDate, formatDateTime } from './format'

export type Tone = 'success' | 'danger' | 'warning'

export interface VerdictView {
  tone: Tone
  title: string
  message: string
  reasons: string[]
}

export const NOT_PLATFORM = '非本平台签署的文件'

/** verdictView is the headline of a report. */
export function verdictView(v: Verification): VerdictView {
  const r = v.report
  const reasons = r?.reasons ?? []
  if (!v.platform || !r || r.verdict === 'not_platform') {
    return { tone: 'warning', title: NOT_PLATFORM, message: v.message || NOT_PLATFORM, reasons }
  }
  if (r.verdict === 'valid') {
    return { tone: 'success', title: '文件有效', message: v.message || r.summary, reasons }
  }
  return { tone: 'danger', title: '文件无效', message: v.message || r.summary, reasons }
}

export interface Row {
  label: string
  value: string
  tone?: Tone
}

export interface SignatureView {
  key: string
  title: string
  tone: Tone
  statusText: string
  summary: string
  problems: string[]
  notes: string[]
  rows: Row[]
}

const STATUS_TEXT: Record<string, [string, Tone]> = {
  valid: ['签名有效', 'success'],
  invalid: ['签名无效', 'danger'],
  untrusted: ['非本平台签名', 'warning'],
}

/** signerName is who signed: the certificate's organisation and name. */
export function signerName(c: VerifiedCertificate | undefined, claimed?: string): string {
  if (!c) return claimed || '未知'
  const cn = c.commonName || claimed || ''
  if (c.organization && c.organization !== cn && !cn.includes(c.organization)) return cn ? `${c.organization}（${cn}）` : c.organization
  return cn || c.subject || '未知'
}

/** certificateText is one line about a certificate: serial, issuer, validity. */
export function certificateText(c: VerifiedCertificate | undefined): string {
  if (!c) return '无可用证书'
  return `序列号 ${c.serial}，颁发者 ${issuerName(c.issuer)}，有效期 ${formatDate(c.notBefore)} 至 ${formatDate(c.notAfter)}`
}

/** issuerName picks the CN out of a distinguished name when there is one. */
export function issuerName(dn: string): string {
  const m = /(?:^|,)\s*CN=([^,]+)/.exec(dn)
  return m ? m[1]!.trim() : dn
}

/**
 * modificationText answers 签署后是否被修改. Bytes the signature covers that
 * no longer match its digest were changed too: that is tampering, whatever
 * was appended after it.
 */
export function modificationText(s: VerifiedSignature): Row {
  if (!s.integrity.byteRangeOK || !s.integrity.digestOK) {
    return { label: '签署后是否被修改', value: '已被篡改（签名覆盖的内容与签名不符）', tone: 'danger' }
  }
  switch (s.coverage.changesAfter) {
    case 'none':
      return { label: '签署后是否被修改', value: '未修改', tone: 'success' }
    case 'signatures_only':
      return { label: '签署后是否被修改', value: `未修改（其后仅追加了 ${s.coverage.laterRevisions} 次签名或验证数据）`, tone: 'success' }
    default:
      return { label: '签署后是否被修改', value: '签署后文件内容被修改', tone: 'danger' }
  }
}

export function sealText(s: VerifiedSignature): string {
  if (!s.seal.visible) return s.seal.page > 0 ? `第 ${s.seal.page} 页（不可见签名）` : '不可见签名'
  return `第 ${s.seal.page} 页`
}

export function timestampText(s: VerifiedSignature): Row {
  const t = s.timestamp
  if (!t) return { label: '时间戳', value: '无时间戳', tone: 'warning' }
  const tsa = t.tsa ? `，${signerName(t.tsa)}` : ''
  if (t.valid && t.trusted) return { label: '时间戳', value: `${formatDateTime(t.time)}（有效${tsa}）`, tone: 'success' }
  const why = t.problems?.length ? `：${t.problems.join('；')}` : ''
  return { label: '时间戳', value: `${formatDateTime(t.time)}（${t.valid ? '不受信任' : '无效'}${why}）`, tone: 'danger' }
}

const REVOCATION_TEXT: Record<string, string> = {
  good: '正常',
  revoked: '已吊销',
  unknown: '未知',
  not_checked: '未检查',
}

/** signatureView is one signature's card. */
export function signatureView(s: VerifiedSignature): SignatureView {
  const stamp = s.kind === 'doc_timestamp'
  const [text, tone] = STATUS_TEXT[s.status] ?? ['未知', 'warning' as Tone]
  const statusText = stamp ? text.replace('签名', '时间戳') : text
  const rows: Row[] = []
  rows.push({ label: stamp ? '时间戳机构' : '签署人', value: signerName(s.signer, s.name) })
  rows.push({ label: '证书', value: certificateText(s.signer) })
  if (s.signer?.organizationIdentifier) {
    rows.push({ label: '统一社会信用代码', value: s.signer.organizationIdentifier.replace(/^NTRCN-/, '') })
  }
  const rev = s.revocation
  if (rev.status === 'revoked') {
    rows.push({ label: '证书状态', value: `已吊销${rev.revokedAt ? `（${formatDateTime(rev.revokedAt)}）` : ''}${rev.reason ? `：${rev.reason}` : ''}`, tone: 'danger' })
  } else {
    rows.push({ label: '证书状态', value: REVOCATION_TEXT[rev.status] ?? rev.status })
  }
  if (!stamp) rows.push({ label: '印章', value: sealText(s) })
  rows.push({
    label: '签署时间',
    value: `${formatDateTime(s.signingTime)}${s.signingTimeTrusted ? '' : '（来自验证时间，非可信时间戳）'}`,
  })
  rows.push(timestampText(s))
  rows.push(modificationText(s))
  if (s.reason) rows.push({ label: '签署原因', value: s.reason })
  if (s.location) rows.push({ label: '签署地点', value: s.location })
  if (s.integrity.digestAlgorithm || s.integrity.signatureAlgorithm) {
    rows.push({ label: '算法', value: [s.integrity.digestAlgorithm, s.integrity.signatureAlgorithm].filter(Boolean).join(' / ') })
  }
  return {
    key: `${s.index}-${s.fieldName}`,
    title: `${stamp ? '文档时间戳' : '签名'} ${s.index}`,
    tone,
    statusText,
    summary: s.summary,
    // The summary often is the only problem: say it once.
    problems: (s.problems ?? []).filter((p) => p !== s.summary),
    notes: s.notes ?? [],
    rows,
  }
}

const FLOW_STATUS: Record<string, string> = {
  draft: '草稿',
  signing: '签署中',
  completed: '已完成',
  revoked: '已撤销',
  declined: '已拒签',
  expired: '已过期',
}

const MATCH_TEXT: Record<string, string> = {
  current: '与该合同当前文件一致',
  revision: '是该合同当前文件之后追加修订的版本',
  earlier: '是该合同的原始文件或较早的版本',
}

/** flowText describes the viewer's flow the file belongs to, or null. */
export function flowText(v: Verification): { title: string; detail: string; id: string } | null {
  const f = v.flow
  if (!f) return null
  return {
    id: String(f.id),
    title: `${f.name}（${f.number}）`,
    detail: `${FLOW_STATUS[f.status] ?? f.status} · 文件「${f.documentName}」${MATCH_TEXT[f.match] ?? ''}`,
  }
}
