// 联系人管理: the contact form's checks (mirrors of contacts.check on the
// server, same messages; the server still decides), the ContactInput it
// sends, how a contact is shown, and how a contact fills a party of the
// 发起签约 wizard.
import type { Contact, ContactInput } from '../api/contacts'
import type { PartyForm } from './draft'
import { normalizePhone, PHONE_MESSAGE } from './phone'

export interface ContactForm {
  name: string
  phone: string
  email: string
  enterpriseName: string
  groupIDs: string[]
}

export type ContactField = 'name' | 'phone' | 'email' | 'enterpriseName'

export const emptyContact = (groupIDs: string[] = []): ContactForm => ({ name: '', phone: '', email: '', enterpriseName: '', groupIDs })

/** formOf is the editable form of an existing contact. */
export const formOf = (c: Contact): ContactForm => ({
  name: c.name,
  phone: c.phone,
  email: c.email ?? '',
  enterpriseName: c.enterpriseName ?? '',
  groupIDs: (c.groups ?? []).map((g) => g.id),
})

/** Length in characters as the server counts them (Unicode code points). */
const chars = (s: string) => [...s].length
const CONTROL = /[\0\r\n\t]/

/** checkContact returns each field's problem (an empty object when the form is fine). */
export function checkContact(f: ContactForm): Partial<Record<ContactField, string>> {
  const out: Partial<Record<ContactField, string>> = {}
  const name = f.name.trim()
  if (!name) out.name = '请填写联系人姓名'
  else if (chars(name) > 64) out.name = '姓名不能超过64个字'
  else if (CONTROL.test(name)) out.name = '姓名不能包含换行等控制字符'
  if (normalizePhone(f.phone) === null) out.phone = PHONE_MESSAGE
  const email = f.email.trim()
  if (email && (email.length > 128 || !/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/.test(email))) out.email = '请输入正确的邮箱地址'
  const ent = f.enterpriseName.trim()
  if (chars(ent) > 128 || CONTROL.test(ent)) out.enterpriseName = '企业名称不能超过128个字'
  return out
}

/** toContactInput is what the server gets: trimmed, the phone without +86, groups as chosen. */
export function toContactInput(f: ContactForm): ContactInput {
  return {
    name: f.name.trim(),
    phone: normalizePhone(f.phone) ?? f.phone.trim(),
    email: f.email.trim(),
    enterpriseName: f.enterpriseName.trim(),
    groupIDs: [...new Set(f.groupIDs)],
  }
}

/** checkGroupName mirrors the server's group name rule; null when fine. */
export function checkGroupName(name: string): string | null {
  const n = name.trim()
  if (!n) return '请填写分组名称'
  if (chars(n) > 32) return '分组名称不能超过32个字'
  if (CONTROL.test(n)) return '分组名称不能包含换行等控制字符'
  return null
}

/** contactTitle names a contact: 企业（经办人） for an enterprise handler, else the name. */
export const contactTitle = (c: Pick<Contact, 'name' | 'enterpriseName'>) =>
  c.enterpriseName ? `${c.enterpriseName}（${c.name}）` : c.name

export const SOURCE_TEXT: Record<string, string> = { manual: '手动添加', auto: '自动添加' }

/**
 * fillParty copies a contact into a party of the wizard: a signer becomes an
 * enterprise party when the contact is an enterprise's handler; a CC takes
 * only the name and phone (CCs are people).
 */
export function fillParty(p: PartyForm, c: Pick<Contact, 'name' | 'phone' | 'enterpriseName'>): PartyForm {
  p.name = c.name
  p.phone = c.phone
  if (p.role === 'signer') {
    p.kind = c.enterpriseName ? 'enterprise' : 'person'
    p.enterpriseName = c.enterpriseName ?? ''
  }
  return p
}

/**
 * keepSelected drops selected ids that are no longer on the page shown (after
 * a reload, a page change or a delete), keeping the order of the selection.
 */
export const keepSelected = (selected: string[], shown: { id: string }[]) =>
  selected.filter((id) => shown.some((c) => c.id === id))

/** The ids of selected contacts that are (or are not) in group groupID. */
export function membersOf(contacts: Contact[], selected: string[], groupID: string, inGroup = true): string[] {
  return contacts
    .filter((c) => selected.includes(c.id) && (c.groups ?? []).some((g) => g.id === groupID) === inGroup)
    .map((c) => c.id)
}
