// 企业控制台: labels and the small rules the console pages show.
import type { CertificateStatus, Enterprise, MyEnterprises, JoinRequestStatus, MembershipRole, SealGrant, SealKind, SealStatus, UpdateOrganizationInput } from '../api/enterprise'

export const ROLE_TEXT: Record<MembershipRole, string> = { admin: '管理员', member: '普通成员' }

export const SEAL_KIND_TEXT: Record<SealKind, string> = {
  personal: '个人印章',
  handwritten: '手写签名',
  official: '公章',
  contract: '合同专用章',
  legal_rep: '法定代表人章',
  custom: '自定义印章',
}

/** The seal kinds an administrator can create from the generator. */
export const CREATABLE_SEAL_KINDS: SealKind[] = ['official', 'contract', 'legal_rep', 'custom']

export const SEAL_STATUS_TEXT: Record<SealStatus, string> = { enabled: '已启用', disabled: '已停用', voided: '已作废' }

export const CERT_STATUS_TEXT: Record<CertificateStatus, string> = { pending: '待签发', active: '有效', revoked: '已吊销', superseded: '已更新' }

export const JOIN_STATUS_TEXT: Record<JoinRequestStatus, string> = { pending: '待审核', approved: '已通过', rejected: '已拒绝', revoked: '已撤销' }

export const SCENES: { value: string; text: string }[] = [
  { value: 'general', text: '通用' },
  { value: 'hr', text: '人资' },
]

export function scenesText(scenes: string[] | null | undefined): string {
  if (!scenes?.length) return '不限'
  return scenes.map((s) => SCENES.find((x) => x.value === s)?.text ?? s).join('、')
}

export type GrantState = 'active' | 'pending' | 'expired' | 'revoked'

export const GRANT_STATE_TEXT: Record<GrantState, string> = { active: '生效中', pending: '未生效', expired: '已过期', revoked: '已撤销' }

/** grantState says whether a grant applies now. */
export function grantState(g: Pick<SealGrant, 'validFrom' | 'validUntil' | 'revokedAt'>, now = new Date()): GrantState {
  if (g.revokedAt) return 'revoked'
  if (new Date(g.validUntil).getTime() <= now.getTime()) return 'expired'
  if (new Date(g.validFrom).getTime() > now.getTime()) return 'pending'
  return 'active'
}

/**
 * orgChanges compares the organisation form with the enterprise: the input
 * holds only what changed, and the warning says which seals the change voids
 * (法定代表人 → 法定代表人章; 名称/统一社会信用代码 → 全部印章).
 */
export function orgChanges(
  e: Pick<Enterprise, 'name' | 'creditCode' | 'address' | 'legalRepName'>,
  form: { name: string; creditCode: string; address: string; legalRepName: string; legalRepIdNumber: string },
): { input: UpdateOrganizationInput; warning: string | null; empty: boolean } {
  const input: UpdateOrganizationInput = {}
  const t = (s: string) => s.trim()
  if (t(form.name) && t(form.name) !== e.name) input.name = t(form.name)
  if (t(form.creditCode) && t(form.creditCode).toUpperCase() !== e.creditCode) input.creditCode = t(form.creditCode).toUpperCase()
  if (t(form.address) && t(form.address) !== e.address) input.address = t(form.address)
  if (t(form.legalRepName) && t(form.legalRepName) !== e.legalRepName) input.legalRepName = t(form.legalRepName)
  if (t(form.legalRepIdNumber)) input.legalRepIdNumber = t(form.legalRepIdNumber).toUpperCase()
  let warning: string | null = null
  if (input.name || input.creditCode) {
    warning = '企业名称或统一社会信用代码变更后，企业下的全部印章将被作废，证书将被吊销，需重新认证后才能继续使用印章。'
  } else if (input.legalRepName || input.legalRepIdNumber) {
    warning = '法定代表人姓名或证件号变更后，企业的法定代表人章将被作废。'
  }
  return { input, warning, empty: Object.keys(input).length === 0 }
}

/** orgChangeResult is the toast after a change. */
export function orgChangeResult(voidedSeals: number, revokedCertificates: number): string {
  const parts = ['已保存']
  if (voidedSeals > 0) parts.push(`作废印章 ${voidedSeals} 枚`)
  if (revokedCertificates > 0) parts.push(`吊销证书 ${revokedCertificates} 张`)
  return parts.join('，')
}

/** dayRange turns two yyyy-mm-dd dates into the start of the first and the end of the last day (local time). */
export function dayRange(from: string, until: string): { validFrom: string; validUntil: string } | null {
  const a = new Date(`${from}T00:00:00`)
  const b = new Date(`${until}T23:59:59`)
  if (Number.isNaN(a.getTime()) || Number.isNaN(b.getTime()) || b.getTime() <= a.getTime()) return null
  return { validFrom: a.toISOString(), validUntil: b.toISOString() }
}

export interface SpaceOption {
  /** null: 个人空间 */
  id: string | null
  name: string
  role: MembershipRole | null
}

/** spaceOptions lists the spaces one can switch to: 个人空间, then the enterprises one belongs to. */
export function spaceOptions(my: MyEnterprises): SpaceOption[] {
  const out: SpaceOption[] = [{ id: null, name: '个人空间', role: null }]
  const seen = new Set<string>()
  for (const j of my.joined) {
    if (!j.role || seen.has(j.enterpriseId)) continue
    seen.add(j.enterpriseId)
    out.push({ id: j.enterpriseId, name: j.enterpriseName, role: j.role })
  }
  for (const c of my.certified) {
    if (c.enterprise.status !== 'certified' || seen.has(c.enterprise.id)) continue
    seen.add(c.enterprise.id)
    out.push({ id: c.enterprise.id, name: c.enterprise.name, role: 'admin' })
  }
  return out
}
