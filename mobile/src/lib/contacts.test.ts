import { describe, expect, it } from 'vitest'
import type { Contact } from '../api/contacts'
import {
  checkContact,
  checkGroupName,
  contactTitle,
  emptyContact,
  fillParty,
  formOf,
  keepSelected,
  membersOf,
  toContactInput,
} from './contacts'
import { newParty } from './draft'

const contact = (o: Partial<Contact>): Contact => ({
  id: 'c1', name: '王小明', phone: '13800000001', email: null, enterpriseName: null, source: 'manual', groups: [], ...o,
})

describe('contact form checks', () => {
  it('accepts a person with only a name and a phone', () => {
    expect(checkContact({ ...emptyContact(), name: ' 王小明 ', phone: '+86 138 0000 0001' })).toEqual({})
  })

  it('names every problem at once, with the server’s messages', () => {
    expect(checkContact({ name: '  ', phone: '12345', email: 'not-an-email', enterpriseName: '', groupIDs: [] })).toEqual({
      name: '请填写联系人姓名',
      phone: '请输入正确的11位手机号',
      email: '请输入正确的邮箱地址',
    })
  })

  it('counts characters as the server does', () => {
    const f = { ...emptyContact(), phone: '13800000001' }
    expect(checkContact({ ...f, name: '王'.repeat(64) })).toEqual({})
    expect(checkContact({ ...f, name: '王'.repeat(65) }).name).toBe('姓名不能超过64个字')
    expect(checkContact({ ...f, name: '𠀀'.repeat(64) })).toEqual({}) // astral characters count once
    expect(checkContact({ ...f, name: '王\n小明' }).name).toBe('姓名不能包含换行等控制字符')
    expect(checkContact({ ...f, name: '王', enterpriseName: '企'.repeat(129) }).enterpriseName).toBe('企业名称不能超过128个字')
  })

  it('checks an email only when there is one', () => {
    const f = { ...emptyContact(), name: '王小明', phone: '13800000001' }
    expect(checkContact({ ...f, email: 'wang@example.com' })).toEqual({})
    expect(checkContact({ ...f, email: 'wang example.com' }).email).toBe('请输入正确的邮箱地址')
    expect(checkContact({ ...f, email: 'a@b,c' }).email).toBe('请输入正确的邮箱地址')
    expect(checkContact({ ...f, email: `${'a'.repeat(120)}@example.com` }).email).toBe('请输入正确的邮箱地址')
  })
})

describe('contact input', () => {
  it('trims, normalises the phone and removes repeated groups', () => {
    expect(toContactInput({ name: ' 王小明 ', phone: '86 13800000001', email: ' w@x.cn ', enterpriseName: ' 甲公司 ', groupIDs: ['g1', 'g2', 'g1'] })).toEqual({
      name: '王小明', phone: '13800000001', email: 'w@x.cn', enterpriseName: '甲公司', groupIDs: ['g1', 'g2'],
    })
  })

  it('round-trips a contact through its form', () => {
    const c = contact({ email: 'w@x.cn', enterpriseName: '甲公司', groups: [{ id: 'g1', name: '客户' }] })
    expect(formOf(c)).toEqual({ name: '王小明', phone: '13800000001', email: 'w@x.cn', enterpriseName: '甲公司', groupIDs: ['g1'] })
    expect(formOf(contact({ groups: null }))).toMatchObject({ email: '', enterpriseName: '', groupIDs: [] })
  })
})

describe('group names', () => {
  it('mirrors the server', () => {
    expect(checkGroupName(' 客户 ')).toBeNull()
    expect(checkGroupName(' ')).toBe('请填写分组名称')
    expect(checkGroupName('组'.repeat(33))).toBe('分组名称不能超过32个字')
    expect(checkGroupName('a\tb')).toBe('分组名称不能包含换行等控制字符')
  })
})

describe('showing and using contacts', () => {
  it('titles an enterprise handler with the enterprise', () => {
    expect(contactTitle(contact({}))).toBe('王小明')
    expect(contactTitle(contact({ enterpriseName: '甲公司' }))).toBe('甲公司（王小明）')
  })

  it('fills a signer as a person or an enterprise, a CC as a person', () => {
    const s = fillParty(newParty('signer', 1), contact({ enterpriseName: '甲公司' }))
    expect(s).toMatchObject({ kind: 'enterprise', name: '王小明', phone: '13800000001', enterpriseName: '甲公司', order: 1 })
    fillParty(s, contact({ name: '李四', phone: '13900000002' }))
    expect(s).toMatchObject({ kind: 'person', name: '李四', phone: '13900000002', enterpriseName: '' })
    const cc = fillParty(newParty('cc', 1), contact({ enterpriseName: '甲公司' }))
    expect(cc).toMatchObject({ kind: 'person', name: '王小明', enterpriseName: '' })
  })

  it('keeps only selected contacts still shown', () => {
    expect(keepSelected(['c3', 'c1', 'c9'], [{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }])).toEqual(['c3', 'c1'])
  })

  it('tells which selected contacts are in a group', () => {
    const list = [
      contact({ id: 'a', groups: [{ id: 'g', name: '客户' }] }),
      contact({ id: 'b', groups: [] }),
      contact({ id: 'c', groups: [{ id: 'g', name: '客户' }] }),
    ]
    expect(membersOf(list, ['a', 'b'], 'g')).toEqual(['a'])
    expect(membersOf(list, ['a', 'b', 'c'], 'g', false)).toEqual(['b'])
  })
})
