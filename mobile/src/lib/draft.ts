// 发起签约: the wizard's local model of parties and fields, its checks
// (mirrors of the server's, which still decide) and the FlowDraftInput it
// sends. Participants and fields are always sent together: the server
// replaces both as a whole.
import type { FlowDetail, FlowDraftInput, FlowScene, SignFieldKind } from '../api/flows'
import { normalizePhone } from './phone'
import type { Size } from './pdfcoords'

export interface PartyForm {
  key: string
  role: 'signer' | 'cc'
  kind: 'person' | 'enterprise'
  name: string
  phone: string
  enterpriseName: string
  order: number
}

export interface FieldForm {
  key: string
  documentID: string
  partyKey: string
  kind: SignFieldKind
  page: number
  x: number
  y: number
  width: number
  height: number
}

export interface DraftForm {
  name: string
  scene: FlowScene
  ordered: boolean
  /** yyyy-mm-ddThh:mm from <input type=datetime-local>, local time; '' for none */
  deadline: string
  passcode: string
}

let seq = 0
/** newKey makes a client-side key for a party or field. */
export const newKey = (prefix: string) => `${prefix}${Date.now().toString(36)}${(++seq).toString(36)}`

export function newParty(role: 'signer' | 'cc', order: number): PartyForm {
  return { key: newKey('p'), role, kind: 'person', name: '', phone: '', enterpriseName: '', order }
}

/** The default size in points of a field box by kind. */
export function fieldBox(kind: SignFieldKind): Size {
  if (kind === 'enterprise_seal') return { width: 119, height: 119 }
  if (kind === 'date') return { width: 100, height: 22 }
  return { width: 110, height: 55 }
}

export const FIELD_LABELS: Record<SignFieldKind, string> = {
  personal_seal: '个人签章',
  enterprise_seal: '企业印章',
  handwriting: '手写签名',
  date: '签署日期',
}

/** kindsFor lists the field kinds a party can be given. */
export function kindsFor(p: PartyForm): SignFieldKind[] {
  return p.kind === 'enterprise' ? ['enterprise_seal', 'personal_seal', 'date'] : ['personal_seal', 'date']
}

export interface PartyProblem {
  key: string
  field: 'name' | 'phone' | 'enterpriseName' | 'order'
  message: string
}

/** checkParties returns every problem of the parties list (empty when fine). */
export function checkParties(parties: PartyForm[], ordered: boolean): PartyProblem[] {
  const out: PartyProblem[] = []
  const phones = new Map<string, string>()
  for (const p of parties) {
    if (!p.name.trim()) out.push({ key: p.key, field: 'name', message: p.kind === 'enterprise' ? '请输入经办人姓名' : '请输入姓名' })
    const phone = normalizePhone(p.phone)
    if (!phone) out.push({ key: p.key, field: 'phone', message: '请输入正确的11位手机号' })
    else if (p.role === 'signer') {
      const other = phones.get(phone)
      if (other !== undefined && other === p.enterpriseName.trim()) {
        out.push({ key: p.key, field: 'phone', message: '同一签署方不能重复添加' })
      }
      phones.set(phone, p.enterpriseName.trim())
    }
    if (p.kind === 'enterprise' && !p.enterpriseName.trim()) out.push({ key: p.key, field: 'enterpriseName', message: '请输入企业名称' })
    if (ordered && p.role === 'signer' && (!Number.isInteger(p.order) || p.order < 1)) {
      out.push({ key: p.key, field: 'order', message: '签署顺序须为正整数' })
    }
  }
  return out
}

/** localToISO turns a datetime-local value into an instant; '' gives null. */
export function localToISO(v: string): string | null {
  if (!v) return null
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

/** isoToLocal is the datetime-local value of an instant. */
export function isoToLocal(iso: string | null): string {
  if (!iso) return ''
  const d = new Date(iso)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/**
 * toDraftInput builds the update. passcode: undefined keeps the saved one
 * (the server never returns it), '' clears it.
 */
export function toDraftInput(f: DraftForm, parties: PartyForm[], fields: FieldForm[], passcode?: string): FlowDraftInput {
  const signerKeys = new Set(parties.filter((p) => p.role === 'signer').map((p) => p.key))
  const input: FlowDraftInput = {
    name: f.name.trim(),
    scene: f.scene,
    ordered: f.ordered,
    deadline: localToISO(f.deadline),
    participants: parties.map((p) => ({
      key: p.key,
      role: p.role,
      kind: p.kind,
      order: p.role === 'signer' ? (f.ordered ? p.order : 1) : undefined,
      name: p.name.trim(),
      phone: normalizePhone(p.phone) ?? p.phone.trim(),
      enterpriseName: p.kind === 'enterprise' ? p.enterpriseName.trim() : undefined,
    })),
    fields: fields
      .filter((x) => signerKeys.has(x.partyKey))
      .map(({ documentID, partyKey, kind, page, x, y, width, height }) => ({ documentID, participantKey: partyKey, kind, page, x, y, width, height })),
  }
  if (passcode !== undefined) input.passcode = passcode
  return input
}

/** fromFlow reads a saved draft back into the wizard's model (keys are the participant IDs). */
export function fromFlow(flow: FlowDetail): { form: DraftForm; parties: PartyForm[]; fields: FieldForm[] } {
  const parties: PartyForm[] = (flow.participants ?? [])
    .slice()
    .sort((a, b) => (a.role === b.role ? a.signOrder - b.signOrder : a.role === 'signer' ? -1 : 1))
    .map((p) => ({
      key: p.id,
      role: p.role,
      kind: p.kind,
      name: p.name,
      phone: p.phone,
      enterpriseName: p.enterpriseName ?? '',
      order: p.signOrder,
    }))
  const fields: FieldForm[] = (flow.fields ?? [])
    .filter((x) => x.participantID !== null)
    .map((x) => ({ key: x.id, documentID: x.documentID, partyKey: x.participantID!, kind: x.kind, page: x.page, x: x.x, y: x.y, width: x.width, height: x.height }))
  return {
    form: { name: flow.name, scene: flow.scene, ordered: flow.ordered, deadline: isoToLocal(flow.deadline), passcode: '' },
    parties,
    fields,
  }
}
