import { describe, expect, it } from 'vitest'
import { dayRange, grantState, orgChangeResult, orgChanges, scenesText, spaceOptions } from './console'

const e = { name: '某某科技有限公司', creditCode: '91310000MA1FL0000X', address: '上海市', legalRepName: '张三' }
const same = { ...e, legalRepIdNumber: '' }

describe('orgChanges', () => {
  it('nothing changed', () => {
    expect(orgChanges(e, same)).toEqual({ input: {}, warning: null, empty: true })
  })
  it('address only: no warning', () => {
    expect(orgChanges(e, { ...same, address: '北京市' })).toEqual({ input: { address: '北京市' }, warning: null, empty: false })
  })
  it('legal representative voids the 法定代表人章', () => {
    const r = orgChanges(e, { ...same, legalRepName: '李四', legalRepIdNumber: '11010519491231002x' })
    expect(r.input).toEqual({ legalRepName: '李四', legalRepIdNumber: '11010519491231002X' })
    expect(r.warning).toContain('法定代表人章将被作废')
  })
  it('name or credit code voids all seals', () => {
    expect(orgChanges(e, { ...same, name: '新名称有限公司' }).warning).toContain('全部印章将被作废')
    expect(orgChanges(e, { ...same, creditCode: '91310000ma1fl0000x' }).empty).toBe(true)
  })
})

describe('grants', () => {
  const now = new Date('2026-06-01T00:00:00Z')
  it('states', () => {
    expect(grantState({ validFrom: '2026-01-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z', revokedAt: null }, now)).toBe('active')
    expect(grantState({ validFrom: '2026-07-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z', revokedAt: null }, now)).toBe('pending')
    expect(grantState({ validFrom: '2026-01-01T00:00:00Z', validUntil: '2026-02-01T00:00:00Z', revokedAt: null }, now)).toBe('expired')
    expect(grantState({ validFrom: '2026-01-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z', revokedAt: '2026-03-01T00:00:00Z' }, now)).toBe('revoked')
  })
  it('scenes', () => {
    expect(scenesText(null)).toBe('不限')
    expect(scenesText(['general', 'hr'])).toBe('通用、人资')
  })
  it('day range', () => {
    const r = dayRange('2026-01-01', '2026-12-31')!
    expect(new Date(r.validUntil).getTime() - new Date(r.validFrom).getTime()).toBe((365 * 86400 - 1) * 1000)
    expect(dayRange('2026-12-31', '2026-01-01')).toBeNull()
  })
})

describe('orgChangeResult', () => {
  it('counts', () => {
    expect(orgChangeResult(0, 0)).toBe('已保存')
    expect(orgChangeResult(3, 1)).toBe('已保存，作废印章 3 枚，吊销证书 1 张')
  })
})

describe('spaceOptions', () => {
  it('personal first, then member enterprises and certified ones, once each', () => {
    const opts = spaceOptions({
      joined: [
        { enterpriseId: '1', enterpriseName: '甲公司', creditCode: 'a', role: 'member', request: null },
        { enterpriseId: '2', enterpriseName: '乙公司', creditCode: 'b', role: null, request: null },
      ],
      certified: [
        { enterprise: { id: '3', name: '丙公司', creditCode: 'c', status: 'certified' }, order: null, statusTitle: '已认证' },
        { enterprise: { id: '1', name: '甲公司', creditCode: 'a', status: 'certified' }, order: null, statusTitle: '已认证' },
        { enterprise: { id: '4', name: '丁公司', creditCode: 'd', status: 'certifying' }, order: null, statusTitle: '认证中' },
      ],
    })
    expect(opts.map((o) => o.name)).toEqual(['个人空间', '甲公司', '丙公司'])
  })
})
