import { describe, expect, it } from 'vitest'
import type { BatchSeal, Participant, SignField } from '../api/flows'
import { batchNeeds, offerUKey, onUKey, presentBinding, sealNotes, ukeyCheck, type BatchNeeds } from './batchsign'
import { enterpriseSeals, personalSeals } from './signing'

const me = { id: 'u2', phone: '13800000002' }
const party = (o: Partial<Participant>): Participant => ({
  id: 'p1', role: 'signer', kind: 'person', signOrder: 1, name: '王小明', phone: '13800000002', enterpriseName: null,
  userID: 'u2', status: 'pending', signedAt: null, declinedAt: null, declineReason: null, ...o,
})
const handler = (o: Partial<Participant> = {}) => party({ kind: 'enterprise', enterpriseName: '北京一章科技有限公司', ...o })
const field = (o: Partial<SignField>): SignField => ({
  id: 'f1', documentID: 'd1', participantID: 'p1', kind: 'personal_seal', page: 1, x: 1, y: 2, width: 3, height: 4,
  placedBySigner: false, appliedRevision: null, ...o,
})
const seal = (o: Partial<BatchSeal>): BatchSeal => ({
  id: 's1', kind: 'official', name: '公章', width: 160, height: 160, isDefault: false, imageDataURL: '', enterpriseID: 'e1',
  enterprise: { name: '北京一章科技有限公司' }, certificate: { custody: 'hosted', status: 'active', fingerprint: null }, ...o,
})
const ukeySeal = (fingerprint: string | null, status: 'pending' | 'active' | 'revoked' = 'active') =>
  seal({ name: '合同专用章', certificate: { custody: 'ukey', status, fingerprint } })
const needs = (o: Partial<BatchNeeds>): BatchNeeds => ({ personal: false, enterprise: false, enterprises: [], ...o })

describe('batchNeeds', () => {
  it('reads the open fields of my pending row: an enterprise handler may also have personal positions', () => {
    const n = batchNeeds(
      [
        { participants: [handler()], fields: [field({ kind: 'enterprise_seal' }), field({ kind: 'date' })] },
        { participants: [handler({ id: 'p2', enterpriseName: '上海多章贸易有限公司' })], fields: [field({ participantID: 'p2', kind: 'handwriting' })] },
      ],
      me,
    )
    expect(n).toEqual({ personal: true, enterprise: true, enterprises: ['北京一章科技有限公司', '上海多章贸易有限公司'] })
  })

  it('ignores fields already sealed, and other parties’ rows and fields', () => {
    const n = batchNeeds(
      [
        {
          participants: [handler(), party({ id: 'p9', userID: 'u9', phone: '13900000009' })],
          fields: [field({ kind: 'enterprise_seal' }), field({ appliedRevision: 1 }), field({ participantID: 'p9' })],
        },
      ],
      me,
    )
    expect(n).toEqual({ personal: false, enterprise: true, enterprises: ['北京一章科技有限公司'] })
  })

  it('falls back on the row kind when the positions are unknown or left to the signer', () => {
    expect(batchNeeds([{ participants: [handler()], fields: null }], me)).toMatchObject({ personal: false, enterprise: true })
    expect(batchNeeds([{ participants: [party({})], fields: [] }], me)).toMatchObject({ personal: true, enterprise: false })
  })

  it('asks for a personal seal when the viewer or their rows are unknown', () => {
    expect(batchNeeds([{ participants: [handler()], fields: null }], null)).toEqual({ personal: true, enterprise: false, enterprises: [] })
    expect(batchNeeds([{ participants: null, fields: null }], me)).toEqual({ personal: true, enterprise: false, enterprises: [] })
  })
})

describe('seal choices', () => {
  const all = [
    seal({ id: 'a', kind: 'legal_rep' }),
    seal({ id: 'b', kind: 'official' }),
    seal({ id: 'c', kind: 'contract', isDefault: true }),
    seal({ id: 'd', kind: 'personal', enterpriseID: null, enterprise: null }),
    seal({ id: 'e', kind: 'handwritten', enterpriseID: null, enterprise: null, isDefault: true }),
  ]
  it('offers enterprise seals without the legal representative’s, and personal seals, defaults first', () => {
    expect(enterpriseSeals(all).map((s) => s.id)).toEqual(['c', 'b'])
    expect(personalSeals(all).map((s) => s.id)).toEqual(['e', 'd'])
  })

  it('says which seals are missing', () => {
    expect(sealNotes(needs({ enterprise: true, enterprises: ['甲公司', '乙公司'] }), 1, 0)).toEqual([
      '当前空间没有“甲公司”、“乙公司”的可用印章，请切换到该企业空间或联系企业管理员授权',
    ])
    expect(sealNotes(needs({ personal: true, enterprise: true }), 0, 2)).toEqual(['暂无可用的个人签章，请先完成实名认证'])
    expect(sealNotes(needs({ personal: true }), 0, 0)).toEqual(['暂无可用的个人签章，请先完成实名认证'])
    expect(sealNotes(needs({ personal: true, enterprise: true }), 1, 1)).toEqual([])
  })
})

describe('presentBinding', () => {
  it('needs the bound certificate on the token (fingerprints compared without case or separators)', () => {
    const b = [{ fingerprint: 'AB:CD' }, { fingerprint: 'ef01' }]
    expect(presentBinding(b, ['EF01'])).toBe(b[1])
    expect(presentBinding(b, ['abcd', 'ef01'])).toBe(b[0])
    expect(presentBinding(b, ['9999'])).toBeNull()
    expect(presentBinding([], ['abcd'])).toBeNull()
  })
})

describe('ukeyCheck', () => {
  const fp = 'AB:CD:EF:01'
  const bound = [{ fingerprint: '99aa' }]

  it('needs the enterprise seal’s bound certificate on the token (fingerprints compared as hex)', () => {
    const n = needs({ enterprise: true })
    expect(ukeyCheck(n, ukeySeal(fp), [], ['abcdef01'])).toEqual({ personalCertificate: null, enterpriseCertificate: fp, problem: null })
    expect(ukeyCheck(n, ukeySeal(fp), [], ['99aa']).problem).toBe(
      'UKey 中没有企业印章“合同专用章”的证书，请插入该印章的 UKey 后点击“重新读取 UKey”。',
    )
  })

  it('refuses a UKey seal whose certificate is not bound yet or no longer valid', () => {
    const n = needs({ enterprise: true })
    expect(ukeyCheck(n, ukeySeal(null, 'pending'), [], []).problem).toBe('企业印章“合同专用章”的 UKey 尚未绑定证书，请联系企业管理员')
    expect(ukeyCheck(n, ukeySeal(fp, 'revoked'), [], ['abcdef01']).problem).toBe('企业印章“合同专用章”的证书已失效，无法签署')
  })

  it('signs personal positions with a bound personal UKey on the token, else hosted beside an enterprise UKey', () => {
    const both = needs({ enterprise: true, personal: true })
    expect(ukeyCheck(both, ukeySeal(fp), bound, ['abcdef01', '99:AA'])).toEqual({ personalCertificate: '99aa', enterpriseCertificate: fp, problem: null })
    expect(ukeyCheck(both, ukeySeal(fp), bound, ['abcdef01'])).toEqual({ personalCertificate: null, enterpriseCertificate: fp, problem: null })
  })

  it('needs the bound personal certificate when the UKey is for personal positions only', () => {
    expect(ukeyCheck(needs({ personal: true }), null, bound, ['99aa']).personalCertificate).toBe('99aa')
    expect(ukeyCheck(needs({ personal: true }), null, bound, []).problem).toBe('UKey 中没有您已绑定的证书，请插入已绑定的 UKey 后点击“重新读取 UKey”。')
    // A hosted enterprise seal beside personal positions: the personal UKey is still needed.
    expect(ukeyCheck(needs({ personal: true, enterprise: true }), seal({}), bound, []).problem).toMatch(/已绑定的证书/)
    // Nothing personal and a hosted enterprise seal: nothing to check on the token.
    expect(ukeyCheck(needs({ enterprise: true }), seal({}), bound, [])).toEqual({ personalCertificate: null, enterpriseCertificate: null, problem: null })
  })

  it('offers the UKey for an enterprise seal in UKey custody or personal positions with a bound UKey', () => {
    expect(onUKey(ukeySeal(fp))).toBe(true)
    expect(onUKey(seal({ certificate: null }))).toBe(false)
    expect(offerUKey(needs({ enterprise: true }), ukeySeal(fp), [])).toBe(true)
    expect(offerUKey(needs({ enterprise: true }), seal({}), bound)).toBe(false)
    expect(offerUKey(needs({ personal: true }), ukeySeal(fp), bound)).toBe(true)
    expect(offerUKey(needs({ personal: true }), null, [])).toBe(false)
  })
})
