import { describe, expect, it } from 'vitest'
import type { FlowDetail, Participant, Seal, SignField } from '../api/flows'
import { blocker, mySigner, openFields, personalSeals, sealsFor, signInput } from './signing'

const person = (o: Partial<Participant>): Participant => ({
  id: 'p1', role: 'signer', kind: 'person', signOrder: 1, name: '王小明', phone: '13800000002', enterpriseName: null,
  userID: null, status: 'pending', signedAt: null, declinedAt: null, declineReason: null, ...o,
})
const field = (o: Partial<SignField>): SignField => ({
  id: 'f1', documentID: 'd1', participantID: 'p1', kind: 'personal_seal', page: 1, x: 1, y: 2, width: 3, height: 4,
  placedBySigner: false, appliedRevision: null, ...o,
})
const flow = (o: Partial<FlowDetail>): FlowDetail => ({
  id: 'F', number: 'QS1', name: '合同', scene: 'general', status: 'signing', ordered: true, deadline: null, sentAt: null,
  finishedAt: null, createdAt: '', initiatorID: 'u0', endReason: null, hasPasscode: false, documents: [], participants: [], fields: [], ...o,
})
const seal = (o: Partial<Seal>): Seal => ({
  id: 's1', kind: 'personal', name: '王小明', width: 315, height: 142, isDefault: false, imageDataURL: '', enterpriseID: null, ...o,
})
const me = { id: 'u2', phone: '13800000002' }

describe('signing', () => {
  it('finds my signer row by user, or by phone while unbound, pending first', () => {
    const f = flow({
      participants: [
        person({ id: 'cc', role: 'cc', userID: 'u2' }),
        person({ id: 'a', userID: 'u9', phone: '13800000002' }),
        person({ id: 'b', status: 'signed', userID: 'u2' }),
        person({ id: 'c', status: 'pending', userID: null }),
      ],
    })
    expect(mySigner(f, me)?.id).toBe('c')
    expect(mySigner(flow({ participants: [person({ id: 'x', userID: 'u3' })] }), me)).toBeNull()
  })

  it('lists only my unsealed, non-date fields', () => {
    const f = flow({
      fields: [
        field({ id: '1' }),
        field({ id: '2', appliedRevision: 1 }),
        field({ id: '3', kind: 'date' }),
        field({ id: '4', participantID: 'p2' }),
      ],
    })
    expect(openFields(f, person({})).map((x) => x.id)).toEqual(['1'])
  })

  it('says why I cannot sign', () => {
    const now = new Date('2026-11-27T00:00:00Z')
    expect(blocker(flow({}), null)?.kind).toBe('not-signer')
    expect(blocker(flow({}), person({ status: 'waiting' }))?.message).toBe('还未轮到您签署，请等待前序签署方完成')
    expect(blocker(flow({ status: 'revoked' }), person({}))?.message).toBe('合同已撤销，不能签署')
    expect(blocker(flow({ deadline: '2026-11-26T00:00:00Z' }), person({}), now)?.kind).toBe('expired')
    expect(blocker(flow({}), person({ status: 'signed' }))?.kind).toBe('signed')
    expect(blocker(flow({ deadline: '2026-12-01T00:00:00Z' }), person({}), now)).toBeNull()
  })

  it('offers personal seals with the default first', () => {
    const s = personalSeals([seal({ id: 'a' }), seal({ id: 'e', kind: 'official', enterpriseID: 'E' }), seal({ id: 'b', isDefault: true })])
    expect(s.map((x) => x.id)).toEqual(['b', 'a'])
  })

  it('offers an enterprise signer only the enterprise seals', () => {
    const all = [
      seal({ id: 'me' }),
      seal({ id: 'legal', kind: 'legal_rep', enterpriseID: 'E' }),
      seal({ id: 'official', kind: 'official', enterpriseID: 'E' }),
      seal({ id: 'contract', kind: 'contract', enterpriseID: 'E', isDefault: true }),
    ]
    expect(sealsFor(person({ kind: 'enterprise' }), all).map((x) => x.id)).toEqual(['contract', 'official'])
    expect(sealsFor(person({}), all).map((x) => x.id)).toEqual(['me'])
  })

  it('builds the sign input for the signer kind', () => {
    const pl = [{ key: 'k', documentID: 'd', kind: 'personal_seal' as const, page: 1, x: 1, y: 2, width: 3, height: 4 }]
    expect(signInput('F', person({}), seal({}), pl, '123456')).toEqual({
      flowID: 'F', personalSealID: 's1', code: '123456',
      placements: [{ documentID: 'd', kind: 'personal_seal', page: 1, x: 1, y: 2, width: 3, height: 4 }],
    })
    expect(signInput('F', person({ kind: 'enterprise' }), seal({ id: 'E' }), [])).toEqual({ flowID: 'F', enterpriseSealID: 'E' })
  })
})
