// What the signing pages decide from a flow: whose turn it is, which fields
// are the viewer's to seal, and the signFlow input for the chosen seals. The
// server decides again (flows/sign.go); this only shapes the page.
import type { FlowDetail, Participant, PlacementInput, Seal, SignField, SignFieldKind, SignFlowInput } from '../api/flows'

export interface ViewerRef {
  id: string
  phone: string
}

/** isMine: a participant row bound to the viewer, or addressed to their phone while unbound. */
export function isMine(p: Participant, v: ViewerRef): boolean {
  return p.userID === v.id || (p.userID === null && p.phone === v.phone)
}

/** mySigner is the viewer's signer row, the pending one first. */
export function mySigner(flow: Pick<FlowDetail, 'participants'>, v: ViewerRef): Participant | null {
  const mine = (flow.participants ?? []).filter((p) => p.role === 'signer' && isMine(p, v))
  return mine.find((p) => p.status === 'pending') ?? mine[0] ?? null
}

/** openFields are the fields the initiator set for p that are not sealed yet (dates are stamped by the server). */
export function openFields(flow: Pick<FlowDetail, 'fields'>, p: Participant): SignField[] {
  return (flow.fields ?? []).filter((f) => f.participantID === p.id && f.appliedRevision === null && f.kind !== 'date')
}

/** sealKindFor is the field kind a signer places where the initiator set none. */
export function sealKindFor(p: Participant): SignFieldKind {
  return p.kind === 'enterprise' ? 'enterprise_seal' : 'personal_seal'
}

/** personalSeals are the seals a person signs with (their own, never an enterprise's). */
export function personalSeals<S extends Seal>(seals: S[]): S[] {
  const own = seals.filter((s) => s.enterpriseID === null && (s.kind === 'personal' || s.kind === 'handwritten'))
  return [...own].sort((a, b) => Number(b.isDefault) - Number(a.isDefault))
}

/**
 * sealsFor lists the seals a signer may use: their personal seals, or for an
 * enterprise signer the enterprise's seals the current space offers (the
 * legal representative's seal cannot stand in for the enterprise's).
 */
export function sealsFor(p: Participant, seals: Seal[]): Seal[] {
  return p.kind === 'enterprise' ? enterpriseSeals(seals) : personalSeals(seals)
}

/** enterpriseSeals are the enterprise seals among seals, the default first (never the legal representative's). */
export function enterpriseSeals<S extends Seal>(seals: S[]): S[] {
  const ent = seals.filter((s) => s.enterpriseID !== null && s.kind !== 'legal_rep' && s.kind !== 'personal' && s.kind !== 'handwritten')
  return [...ent].sort((a, b) => Number(b.isDefault) - Number(a.isDefault))
}

export type Blocker =
  | { kind: 'status'; message: string }
  | { kind: 'not-signer'; message: string }
  | { kind: 'signed'; message: string }
  | { kind: 'declined'; message: string }
  | { kind: 'waiting'; message: string }
  | { kind: 'expired'; message: string }

const STATUS_TEXT: Record<FlowDetail['status'], string> = {
  draft: '草稿',
  signing: '签署中',
  completed: '已完成',
  revoked: '已撤销',
  declined: '已拒签',
  expired: '已过期',
}

export function statusText(s: FlowDetail['status']): string {
  return STATUS_TEXT[s]
}

/** blocker says why the viewer cannot sign now, or null when they can. */
export function blocker(flow: FlowDetail, p: Participant | null, now = new Date()): Blocker | null {
  if (!p) return { kind: 'not-signer', message: '您不是该合同的签署方' }
  if (p.status === 'signed') return { kind: 'signed', message: '您已签署该合同' }
  if (p.status === 'declined') return { kind: 'declined', message: '您已拒签该合同' }
  if (flow.status !== 'signing') return { kind: 'status', message: `合同${STATUS_TEXT[flow.status]}，不能签署` }
  if (flow.deadline && new Date(flow.deadline) <= now) return { kind: 'expired', message: '合同已过签署截止时间，不能签署' }
  if (p.status !== 'pending') return { kind: 'waiting', message: '还未轮到您签署，请等待前序签署方完成' }
  return null
}

/** A seal the signer put on a page where the initiator set no position. */
export interface Placement extends PlacementInput {
  /** Client-side key for lists and removal. */
  key: string
}

/** signInput is the sendIntentCode / signFlow input for the chosen seal and placements. */
export function signInput(flowID: string, p: Participant, seal: Seal, placements: Placement[], code?: string): SignFlowInput {
  const input: SignFlowInput = { flowID }
  if (p.kind === 'enterprise') input.enterpriseSealID = seal.id
  else input.personalSealID = seal.id
  if (placements.length > 0) {
    input.placements = placements.map(({ documentID, kind, page, x, y, width, height }) => ({ documentID, kind, page, x, y, width, height }))
  }
  if (code !== undefined) input.code = code
  return input
}

/** fieldKindLabel names a field's kind the way the confirmation sheet lists it. */
export function fieldKindLabel(kind: SignFieldKind): string {
  return { enterprise_seal: '企业印章', personal_seal: '个人签章', handwriting: '手写签名', date: '签署日期' }[kind]
}
