// What the 批量签署 dialog decides before the code is sent: which kinds of
// positions the selected flows hold for the viewer (personal and/or an
// enterprise's, as its 经办人), the seals to offer for each, and, for
// 使用 UKey 签署, which certificates must be on the plugged-in token. The
// server checks every flow again (flows/batch.go, flows/ukeysign.go: turn,
// seal grants, custody) and says why a flow is refused.
import type { BatchSeal, FlowDetail } from '../api/flows'
import { mySigner, openFields, type ViewerRef } from './signing'

/** What the viewer's open positions in the selected flows need. */
export interface BatchNeeds {
  /** Personal seal or handwriting positions: a personal seal. */
  personal: boolean
  /** Enterprise seal positions: an enterprise seal. */
  enterprise: boolean
  /** The enterprises the viewer signs for, in the order first met. */
  enterprises: string[]
}

/**
 * batchNeeds reads the viewer's pending signer row of each flow: its open
 * fields when known (an enterprise handler may also have personal
 * positions), else the row's kind (an enterprise party seals with the
 * enterprise's seal). Without any row of the viewer it falls back to a
 * personal seal, as the dialog always asked.
 */
export function batchNeeds(flows: Pick<FlowDetail, 'participants' | 'fields'>[], v: ViewerRef | null): BatchNeeds {
  const out: BatchNeeds = { personal: false, enterprise: false, enterprises: [] }
  for (const f of flows) {
    const p = v ? mySigner(f, v) : null
    if (!p) continue
    if (p.kind === 'enterprise' && p.enterpriseName && !out.enterprises.includes(p.enterpriseName)) out.enterprises.push(p.enterpriseName)
    const fields = f.fields ? openFields(f, p) : []
    if (fields.length === 0) {
      // Unknown, or the signer places the seal (the server refuses that flow).
      if (p.kind === 'enterprise') out.enterprise = true
      else out.personal = true
      continue
    }
    if (fields.some((x) => x.kind === 'enterprise_seal')) out.enterprise = true
    if (fields.some((x) => x.kind === 'personal_seal' || x.kind === 'handwriting')) out.personal = true
  }
  if (!out.personal && !out.enterprise) out.personal = true
  return out
}

/** sealNotes are the dialog's notes about seals it cannot offer. */
export function sealNotes(needs: BatchNeeds, personalCount: number, enterpriseCount: number): string[] {
  const notes: string[] = []
  if (needs.enterprise && enterpriseCount === 0) {
    const names = needs.enterprises.map((n) => `“${n}”`).join('、') || '签署企业'
    notes.push(`当前空间没有${names}的可用印章，请切换到该企业空间或联系企业管理员授权`)
  }
  if (needs.personal && personalCount === 0) notes.push('暂无可用的个人签章，请先完成实名认证')
  return notes
}

/** onUKey: the seal's certificate is in UKey custody (it signs only on its token). */
export function onUKey(seal: Pick<BatchSeal, 'certificate'> | null): boolean {
  return seal?.certificate?.custody === 'ukey'
}

const norm = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '')

/**
 * presentBinding is the bound UKey whose certificate is on the plugged-in
 * token (fingerprints compared as hex, without case or separators), or null.
 */
export function presentBinding<B extends { fingerprint: string }>(bindings: B[], onToken: string[]): B | null {
  const present = new Set(onToken.map(norm))
  return bindings.find((b) => present.has(norm(b.fingerprint))) ?? null
}

/** What 使用 UKey 签署 needs from the plugged-in token. */
export interface UKeyCheck {
  /** The bound personal UKey certificate on the token, for personal positions (else they sign hosted). */
  personalCertificate: string | null
  /** The enterprise seal's UKey certificate, when the seal is in UKey custody. */
  enterpriseCertificate: string | null
  /** Why signing cannot start with this token; null when it can. */
  problem: string | null
}

/**
 * ukeyCheck matches the token's certificates (onToken, SHA-256 hex as the
 * helper lists them) with what the batch signs on a UKey: an enterprise seal
 * in UKey custody needs its bound certificate on the token; otherwise the
 * UKey is used for personal positions and needs one of the viewer's bound
 * personal certificates (bindings). A personal binding that is not on the
 * token beside an enterprise UKey only means the personal positions are
 * signed with the hosted certificate.
 */
export function ukeyCheck(
  needs: BatchNeeds,
  enterpriseSeal: Pick<BatchSeal, 'name' | 'certificate'> | null,
  bindings: { fingerprint: string }[],
  onToken: string[],
): UKeyCheck {
  const present = new Set(onToken.map(norm))
  const personal = needs.personal ? presentBinding(bindings, onToken) : null
  const out: UKeyCheck = { personalCertificate: personal?.fingerprint ?? null, enterpriseCertificate: null, problem: null }
  if (needs.enterprise && enterpriseSeal && onUKey(enterpriseSeal)) {
    const c = enterpriseSeal.certificate!
    if (c.status === 'pending' || !c.fingerprint) {
      out.problem = `企业印章“${enterpriseSeal.name}”的 UKey 尚未绑定证书，请联系企业管理员`
      return out
    }
    if (c.status !== 'active') {
      out.problem = `企业印章“${enterpriseSeal.name}”的证书已失效，无法签署`
      return out
    }
    out.enterpriseCertificate = c.fingerprint
    if (!present.has(norm(c.fingerprint))) {
      out.problem = `UKey 中没有企业印章“${enterpriseSeal.name}”的证书，请插入该印章的 UKey 后点击“重新读取 UKey”。`
    }
    return out
  }
  if (needs.personal && !personal) {
    out.problem =
      bindings.length > 0 ? 'UKey 中没有您已绑定的证书，请插入已绑定的 UKey 后点击“重新读取 UKey”。' : '您尚未绑定个人 UKey，请在账号设置中绑定后再使用 UKey 签署'
  }
  return out
}

/**
 * offerUKey: 使用 UKey 签署 makes sense when an enterprise seal in UKey
 * custody is chosen, or personal positions can be signed with a bound UKey.
 */
export function offerUKey(needs: BatchNeeds, enterpriseSeal: Pick<BatchSeal, 'certificate'> | null, bindings: unknown[]): boolean {
  return (needs.enterprise && onUKey(enterpriseSeal)) || (needs.personal && bindings.length > 0)
}
