import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FlowSummary, Participant } from '../api/flows'
import { checkSearch, emptySearch, listFromQuery, rowActions, toFilter } from './flowlist'
import { formatDateTime, formatSize } from './format'

const part = (o: Partial<Participant>): Participant => ({
  id: 'p', role: 'signer', kind: 'person', signOrder: 1, name: '王小明', phone: '13800000002', enterpriseName: null,
  userID: null, status: 'pending', signedAt: null, declinedAt: null, declineReason: null, ...o,
})
const flow = (o: Partial<FlowSummary>): FlowSummary => ({
  id: 'F', number: 'QS1', name: '合同', scene: 'general', status: 'signing', ordered: true, deadline: null, sentAt: null,
  finishedAt: null, createdAt: '', initiatorID: 'alice', endReason: null, documents: [], participants: [], ...o,
})
const alice = { id: 'alice', phone: '13800000001' }
const bob = { id: 'bob', phone: '13800000002' }

describe('lists', () => {
  it('reads the list from the query', () => {
    expect(listFromQuery('done').label).toBe('已办')
    expect(listFromQuery('nonsense').label).toBe('待办')
    expect(listFromQuery(undefined).list).toBe('TODO')
  })
})

describe('search filter', () => {
  beforeEach(() => {
    vi.stubEnv('TZ', 'Asia/Shanghai')
  })
  afterEach(() => {
    vi.unstubAllEnvs()
  })
  it('is null when empty and trims text', () => {
    expect(toFilter(emptySearch())).toBeNull()
    expect(toFilter({ ...emptySearch(), keyword: '  租赁 ', scene: 'hr' })).toEqual({ keyword: '租赁', scene: 'hr' })
  })
  it('turns dates into whole local days', () => {
    const f = toFilter({ ...emptySearch(), sentFrom: '2026-11-01', sentTo: '2026-11-30' })!
    expect(new Date(f.sentFrom!).getHours()).toBe(0)
    expect(new Date(f.sentFrom!).getDate()).toBe(1)
    expect(new Date(f.sentTo!).getHours()).toBe(23)
    expect(new Date(f.sentTo!).getDate()).toBe(30)
  })
  it('refuses reversed ranges', () => {
    expect(checkSearch({ ...emptySearch(), sentFrom: '2026-11-02', sentTo: '2026-11-01' })).toBe('发起时间的开始日期不能晚于结束日期')
    expect(checkSearch({ ...emptySearch(), deadlineFrom: '2026-11-02', deadlineTo: '2026-11-01' })).toMatch(/截止时间/)
    expect(checkSearch({ ...emptySearch(), sentFrom: '2026-11-01', sentTo: '2026-11-01' })).toBeNull()
  })
})

describe('row actions', () => {
  it('offers the initiator 催办 and 撤销 while others sign', () => {
    const f = flow({ participants: [part({ userID: 'bob' })] })
    expect(rowActions(f, alice)).toEqual(['remind', 'revoke', 'view', 'download', 'trail'])
  })
  it('offers the signer whose turn it is 签署, not 催办 of themselves', () => {
    const f = flow({ participants: [part({ userID: null, phone: '13800000002' })] })
    expect(rowActions(f, bob)).toEqual(['sign', 'view', 'download', 'trail'])
  })
  it('offers drafts to edit and delete, voided flows to delete', () => {
    expect(rowActions(flow({ status: 'draft' }), alice)).toEqual(['edit', 'delete'])
    expect(rowActions(flow({ status: 'revoked' }), alice)).toEqual(['view', 'download', 'trail', 'delete'])
    expect(rowActions(flow({ status: 'completed' }), bob)).toEqual(['view', 'download', 'trail'])
  })
})

describe('format', () => {
  it('formats dates and sizes', () => {
    expect(formatDateTime(null)).toBe('—')
    expect(formatDateTime('2026-11-27T03:04:00Z')).toMatch(/^2026-11-27 \d\d:04$/)
    expect(formatSize(1536)).toBe('2 KB')
    expect(formatSize(3 * 1024 * 1024)).toBe('3.0 MB')
  })
})
