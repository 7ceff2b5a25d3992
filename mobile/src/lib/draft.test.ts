import { describe, expect, it } from 'vitest'
import type { FlowDetail } from '../api/flows'
import { checkParties, fromFlow, newParty, toDraftInput, type PartyForm } from './draft'

const party = (o: Partial<PartyForm>): PartyForm => ({ ...newParty('signer', 1), ...o })

describe('draft parties', () => {
  it('reports each missing or wrong value on its party', () => {
    const a = party({ key: 'a', name: '', phone: '123' })
    const b = party({ key: 'b', kind: 'enterprise', name: '张三', phone: '13800000003', enterpriseName: '' })
    const c = party({ key: 'c', name: '李四', phone: '13800000004', order: 0 })
    expect(checkParties([a, b, c], true)).toEqual([
      { key: 'a', field: 'name', message: '请输入姓名' },
      { key: 'a', field: 'phone', message: '请输入正确的11位手机号' },
      { key: 'b', field: 'enterpriseName', message: '请输入企业名称' },
      { key: 'c', field: 'order', message: '签署顺序须为正整数' },
    ])
    // Order does not matter when signing in parallel.
    expect(checkParties([c], false)).toEqual([])
  })
  it('refuses the same person twice, but allows them for two enterprises', () => {
    const x = party({ key: 'x', name: '王', phone: '13800000002' })
    const y = party({ key: 'y', name: '王', phone: '138 0000 0002' })
    expect(checkParties([x, y], false)).toEqual([{ key: 'y', field: 'phone', message: '同一签署方不能重复添加' }])
    const e = party({ key: 'e', kind: 'enterprise', name: '王', phone: '13800000002', enterpriseName: '某公司' })
    expect(checkParties([x, e], false)).toEqual([])
  })
})

describe('draft input', () => {
  it('sends parties and their fields together, dropping fields of CC or removed parties', () => {
    const s = party({ key: 's', name: '王小明', phone: '+8613800000002', order: 2 })
    const cc = { ...newParty('cc', 1), key: 'cc', name: '赵六', phone: '13800000004' }
    const base = { documentID: 'd', kind: 'personal_seal' as const, page: 1, x: 1, y: 2, width: 3, height: 4 }
    const input = toDraftInput(
      { name: ' 合同 ', scene: 'general', ordered: true, deadline: '', passcode: '' },
      [s, cc],
      [{ key: 'f1', partyKey: 's', ...base }, { key: 'f2', partyKey: 'cc', ...base }, { key: 'f3', partyKey: 'gone', ...base }],
    )
    expect(input).toEqual({
      name: '合同',
      scene: 'general',
      ordered: true,
      deadline: null,
      participants: [
        { key: 's', role: 'signer', kind: 'person', order: 2, name: '王小明', phone: '13800000002', enterpriseName: undefined },
        { key: 'cc', role: 'cc', kind: 'person', order: undefined, name: '赵六', phone: '13800000004', enterpriseName: undefined },
      ],
      fields: [{ documentID: 'd', participantKey: 's', kind: 'personal_seal', page: 1, x: 1, y: 2, width: 3, height: 4 }],
    })
    expect('passcode' in input).toBe(false)
    expect(toDraftInput({ name: 'x', scene: 'hr', ordered: false, deadline: '', passcode: '' }, [s], [], '').passcode).toBe('')
  })

  it('reads a saved draft back with participant IDs as keys', () => {
    const flow = {
      id: 'F', number: 'N', name: '合同', scene: 'hr', status: 'draft', ordered: false, deadline: null, sentAt: null, finishedAt: null,
      createdAt: '', initiatorID: 'u', endReason: null, hasPasscode: false, documents: [],
      participants: [
        { id: 'c1', role: 'cc', kind: 'person', signOrder: 1, name: '抄', phone: '13800000009', enterpriseName: null, userID: null, status: 'waiting', signedAt: null, declinedAt: null, declineReason: null },
        { id: 'p2', role: 'signer', kind: 'enterprise', signOrder: 2, name: '经', phone: '13800000008', enterpriseName: '某公司', userID: null, status: 'waiting', signedAt: null, declinedAt: null, declineReason: null },
      ],
      fields: [{ id: 'f', documentID: 'd', participantID: 'p2', kind: 'enterprise_seal', page: 1, x: 1, y: 2, width: 3, height: 4, placedBySigner: false, appliedRevision: null }],
    } satisfies FlowDetail
    const d = fromFlow(flow)
    expect(d.parties.map((p) => p.key)).toEqual(['p2', 'c1'])
    expect(d.parties[0]!.enterpriseName).toBe('某公司')
    expect(d.fields[0]!.partyKey).toBe('p2')
    expect(d.form).toEqual({ name: '合同', scene: 'hr', ordered: false, deadline: '', passcode: '' })
  })
})
