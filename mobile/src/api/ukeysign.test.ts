import { describe, expect, it, vi } from 'vitest'
import { HelperError } from './ukey'
import { abortMessage, pickBinding, runUKeySign, UKeySignAborted, type UKeySignStep } from './ukeysign'

const step = (round: number, docs: string[], done = false): UKeySignStep => ({
  pendingID: done ? null : 'p1',
  flowID: 'f1',
  contractName: '房屋租赁合同',
  fingerprint: 'A1B2C3D4',
  round,
  expiresAt: null,
  digests: docs.map((d) => ({ documentID: d, documentName: `文件${d}`, digest: `dg-${d}-${round}`, certificate: 'abcd', sealName: null })),
  done,
  flow: done ? { id: 'f1', status: 'completed' } : null,
})

describe('runUKeySign', () => {
  it('sends each digest with the contract name and fingerprint, round after round, until done', async () => {
    const prepare = vi.fn().mockResolvedValue(step(1, ['d1', 'd2']))
    const complete = vi
      .fn()
      .mockResolvedValueOnce(step(2, ['d1']))
      .mockResolvedValueOnce(step(3, [], true))
    const cancel = vi.fn()
    const signDigest = vi.fn(async (_c: string, digest: string) => ({ signature: `sig(${digest})` }))
    const progress = vi.fn()
    const out = await runUKeySign({ prepare, complete, cancel, signDigest }, { flowID: 'f1', code: '123456', ukeyCertificate: 'abcd' }, progress)
    expect(out.done).toBe(true)
    expect(out.flow?.status).toBe('completed')
    expect(prepare).toHaveBeenCalledWith({ flowID: 'f1', code: '123456', ukeyCertificate: 'abcd' })
    expect(signDigest.mock.calls).toEqual([
      ['abcd', 'dg-d1-1', '房屋租赁合同', 'A1B2C3D4'],
      ['abcd', 'dg-d2-1', '房屋租赁合同', 'A1B2C3D4'],
      ['abcd', 'dg-d1-2', '房屋租赁合同', 'A1B2C3D4'],
    ])
    expect(complete.mock.calls).toEqual([
      ['p1', [{ documentID: 'd1', signature: 'sig(dg-d1-1)' }, { documentID: 'd2', signature: 'sig(dg-d2-1)' }]],
      ['p1', [{ documentID: 'd1', signature: 'sig(dg-d1-2)' }]],
    ])
    expect(progress).toHaveBeenCalledWith({ round: 1, document: '文件d2', index: 2, total: 2 })
    expect(cancel).not.toHaveBeenCalled()
  })

  it('returns at once when prepare signed with hosted certificates only', async () => {
    const signDigest = vi.fn()
    const out = await runUKeySign(
      { prepare: vi.fn().mockResolvedValue(step(1, [], true)), complete: vi.fn(), cancel: vi.fn(), signDigest },
      { flowID: 'f1' },
    )
    expect(out.done).toBe(true)
    expect(signDigest).not.toHaveBeenCalled()
  })

  it('cancels the pending signature when the helper refuses, and says the flow stays signable', async () => {
    const cancel = vi.fn().mockResolvedValue(true)
    const complete = vi.fn()
    const signDigest = vi.fn().mockRejectedValue(new HelperError('refused', '用户已取消'))
    const run = runUKeySign({ prepare: vi.fn().mockResolvedValue(step(1, ['d1'])), complete, cancel, signDigest }, { flowID: 'f1' })
    await expect(run).rejects.toBeInstanceOf(UKeySignAborted)
    await expect(run).rejects.toThrow(/已在证书应用环境中取消签署.*合同仍可签署/)
    expect(cancel).toHaveBeenCalledWith('p1')
    expect(complete).not.toHaveBeenCalled()
  })

  it('still reports the refusal when cancelling fails, and passes server errors through', async () => {
    const cancel = vi.fn().mockRejectedValue(new Error('network'))
    const signDigest = vi.fn().mockRejectedValue(new HelperError('timeout', '证书应用环境没有响应'))
    await expect(
      runUKeySign({ prepare: vi.fn().mockResolvedValue(step(1, ['d1'])), complete: vi.fn(), cancel, signDigest }, { flowID: 'f1' }),
    ).rejects.toMatchObject({ code: 'timeout' })
    const boom = new Error('签署请求已过期，请重新签署')
    await expect(
      runUKeySign(
        { prepare: vi.fn().mockResolvedValue(step(1, ['d1'])), complete: vi.fn().mockRejectedValue(boom), cancel: vi.fn(), signDigest: vi.fn().mockResolvedValue({ signature: 's' }) },
        { flowID: 'f1' },
      ),
    ).rejects.toBe(boom)
  })
})

describe('abortMessage and pickBinding', () => {
  it('explains the helper codes', () => {
    expect(abortMessage('wrong_pin', 'x')).toMatch(/^UKey PIN 码错误/)
    expect(abortMessage('other', '奇怪的错误')).toMatch(/^奇怪的错误，本次签署未完成/)
  })
  it('prefers a binding whose certificate is on the token', () => {
    const b = [{ fingerprint: 'aa11' }, { fingerprint: 'BB22' }]
    expect(pickBinding(b, ['bb22'])).toBe(b[1])
    expect(pickBinding(b, [])).toBe(b[0])
    expect(pickBinding([], ['aa11'])).toBeNull()
  })
})
