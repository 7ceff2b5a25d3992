import { describe, expect, it, vi } from 'vitest'
import { ApiError } from './errors'
import { HelperError } from './ukey'
import {
  batchAbortMessage,
  cancelledText,
  runUKeyBatchSign,
  type UKeyBatchItem,
  type UKeyBatchResult,
  type UKeyCompletion,
} from './ukeybatch'
import type { UKeySignStep } from './ukeysign'

const step = (flow: string, round: number, docs: string[], done = false): UKeySignStep => ({
  pendingID: done ? null : `p-${flow}`,
  flowID: flow,
  contractName: `合同${flow}`,
  fingerprint: `FP${flow}`,
  round,
  expiresAt: null,
  digests: docs.map((d) => ({ documentID: d, documentName: `文件${d}`, digest: `dg-${flow}-${d}-${round}`, certificate: 'abcd', sealName: null })),
  done,
  flow: done ? { id: flow, status: 'completed' } : null,
})
const item = (flow: string, s: UKeySignStep | null, error: string | null = null): UKeyBatchItem => ({
  flowID: flow,
  ok: error === null,
  step: s,
  error,
  code: error === null ? null : 'INVALID_ARGUMENT',
})

/** complete answers each pending ID with the next step from `next` (done when none is left). */
function completer(next: Record<string, UKeySignStep[]> = {}) {
  return vi.fn(async (input: UKeyCompletion[]) =>
    input.map((c) => {
      const flow = c.pendingID.replace(/^p-/, '')
      return item(flow, next[flow]?.shift() ?? step(flow, 9, [], true))
    }),
  )
}
const signer = () => vi.fn(async (_cert: string, digest: string) => ({ signature: `sig(${digest})` }))
const outcomes = (rs: UKeyBatchResult[]) => rs.map((r) => `${r.flowID}:${r.outcome}`)

describe('runUKeyBatchSign', () => {
  it('signs each eligible flow through the helper and completes it at once, round after round; refusals keep their reason', async () => {
    const prepare = vi.fn().mockResolvedValue([
      item('1', step('1', 1, ['a', 'b'])),
      item('2', null, '需要自行放置印章的合同不能批量签署'),
      item('3', step('3', 1, ['c'])),
      item('4', step('4', 1, [], true)),
    ])
    const complete = completer({ '1': [step('1', 2, ['a'])] })
    const signDigest = signer()
    const cancel = vi.fn()
    const progress = vi.fn()
    const seen = vi.fn()
    const input = { flowIDs: ['1', '2', '3', '4'], personalSealID: 's', code: '123456', ukeyCertificate: 'abcd' }
    const run = await runUKeyBatchSign({ prepare, complete, cancel, signDigest }, input, progress, seen)
    expect(prepare).toHaveBeenCalledWith(input)
    expect(outcomes(run.results)).toEqual(['1:signed', '2:refused', '3:signed', '4:signed'])
    expect(run.results[1]!.error).toBe('需要自行放置印章的合同不能批量签署')
    expect(run.abortCode).toBeNull()
    expect(signDigest.mock.calls).toEqual([
      ['abcd', 'dg-1-a-1', '合同1', 'FP1'],
      ['abcd', 'dg-1-b-1', '合同1', 'FP1'],
      ['abcd', 'dg-1-a-2', '合同1', 'FP1'],
      ['abcd', 'dg-3-c-1', '合同3', 'FP3'],
    ])
    // One completion per flow and round, each holding only that flow's signatures.
    expect(complete.mock.calls.map((c) => c[0])).toEqual([
      [{ pendingID: 'p-1', signatures: [{ documentID: 'a', signature: 'sig(dg-1-a-1)' }, { documentID: 'b', signature: 'sig(dg-1-b-1)' }] }],
      [{ pendingID: 'p-1', signatures: [{ documentID: 'a', signature: 'sig(dg-1-a-2)' }] }],
      [{ pendingID: 'p-3', signatures: [{ documentID: 'c', signature: 'sig(dg-3-c-1)' }] }],
    ])
    expect(progress).toHaveBeenCalledWith({ flowID: '3', contractName: '合同3', flow: 2, flows: 2, document: '文件c', round: 1 })
    expect(seen).toHaveBeenCalledTimes(4)
    expect(cancel).not.toHaveBeenCalled()
  })

  it('throws what prepare throws (a wrong code): nothing was signed', async () => {
    const boom = new ApiError('INVALID_ARGUMENT', '验证码错误', 'code')
    const signDigest = vi.fn()
    await expect(
      runUKeyBatchSign({ prepare: vi.fn().mockRejectedValue(boom), complete: vi.fn(), cancel: vi.fn(), signDigest }, { flowIDs: ['1'] }),
    ).rejects.toBe(boom)
    expect(signDigest).not.toHaveBeenCalled()
  })

  it('a wrong PIN cancels that flow and every one after it; what was signed before stays signed', async () => {
    const prepare = vi.fn().mockResolvedValue([item('1', step('1', 1, ['a'])), item('2', step('2', 1, ['b'])), item('3', step('3', 1, ['c']))])
    const signDigest = vi
      .fn()
      .mockResolvedValueOnce({ signature: 's1' })
      .mockRejectedValueOnce(new HelperError('wrong_pin', 'PIN 码错误，请重试（多次错误会锁定 UKey）'))
    const cancel = vi.fn().mockResolvedValue(true)
    const complete = completer()
    const run = await runUKeyBatchSign({ prepare, complete, cancel, signDigest }, { flowIDs: ['1', '2', '3'] })
    expect(outcomes(run.results)).toEqual(['1:signed', '2:cancelled', '3:cancelled'])
    expect(run.results[1]).toMatchObject({ code: 'wrong_pin', error: '未签署（UKey PIN 码错误），合同仍可签署' })
    expect(signDigest).toHaveBeenCalledTimes(2) // the helper is not asked again after a wrong PIN
    expect(cancel.mock.calls).toEqual([['p-2'], ['p-3']])
    expect(complete).toHaveBeenCalledTimes(1)
    expect(run.abortCode).toBe('wrong_pin')
    expect(run.abortMessage).toBe('UKey PIN 码错误，已签署 1 份；其余合同未签署，仍可签署。')
  })

  it('declining one contract at the helper cancels only that one', async () => {
    const prepare = vi.fn().mockResolvedValue([item('1', step('1', 1, ['a'])), item('2', step('2', 1, ['b']))])
    const signDigest = vi
      .fn()
      .mockRejectedValueOnce(new HelperError('refused', '已在证书应用环境中取消签名'))
      .mockResolvedValueOnce({ signature: 's2' })
    const cancel = vi.fn().mockResolvedValue(true)
    const run = await runUKeyBatchSign({ prepare, complete: completer(), cancel, signDigest }, { flowIDs: ['1', '2'] })
    expect(outcomes(run.results)).toEqual(['1:cancelled', '2:signed'])
    expect(run.results[0]!.error).toBe('未签署（已在证书应用环境中取消签署），合同仍可签署')
    expect(cancel.mock.calls).toEqual([['p-1']])
    expect(run.abortCode).toBeNull()
  })

  it('a refusal at completion (expired, moved by another signer) is that flow’s reason; the others go on', async () => {
    const prepare = vi.fn().mockResolvedValue([item('1', step('1', 1, ['a'])), item('2', step('2', 1, ['b']))])
    const complete = vi
      .fn()
      .mockResolvedValueOnce([{ flowID: '1', ok: false, step: null, error: '签署请求已过期，请重新签署', code: 'CONFLICT' }])
      .mockRejectedValueOnce(new ApiError('CONFLICT', '合同已被其他签署方更新，请重新签署'))
    const cancel = vi.fn().mockResolvedValue(true)
    const run = await runUKeyBatchSign({ prepare, complete, cancel, signDigest: signer() }, { flowIDs: ['1', '2'] })
    expect(run.results).toEqual([
      { flowID: '1', outcome: 'refused', error: '签署请求已过期，请重新签署', code: 'CONFLICT' },
      { flowID: '2', outcome: 'refused', error: '合同已被其他签署方更新，请重新签署', code: 'CONFLICT' },
    ])
    expect(cancel.mock.calls).toEqual([['p-1'], ['p-2']])
  })

  it('stopping cancels the flow at the helper and the rest, and cancelling failures do not matter', async () => {
    let stop = false
    const prepare = vi.fn().mockResolvedValue([item('1', step('1', 1, ['a'])), item('2', step('2', 1, ['b'])), item('3', step('3', 1, ['c']))])
    const signDigest = vi
      .fn()
      .mockResolvedValueOnce({ signature: 's1' })
      .mockImplementationOnce(async () => {
        stop = true // the dialog closes the helper's connection
        throw new HelperError('closed', '与证书应用环境的连接已断开，请重试')
      })
    const cancel = vi.fn().mockRejectedValue(new Error('network'))
    const run = await runUKeyBatchSign({ prepare, complete: completer(), cancel, signDigest, stopped: () => stop }, { flowIDs: ['1', '2', '3'] })
    expect(outcomes(run.results)).toEqual(['1:signed', '2:cancelled', '3:cancelled'])
    expect(run.results[2]!.error).toBe('未签署（已停止批量签署），合同仍可签署')
    expect(run.abortCode).toBe('stopped')
    expect(cancel).toHaveBeenCalledTimes(2)
  })

  it('an empty signature from the helper is a failure, not a signature', async () => {
    const prepare = vi.fn().mockResolvedValue([item('1', step('1', 1, ['a']))])
    const complete = vi.fn()
    const run = await runUKeyBatchSign(
      { prepare, complete, cancel: vi.fn().mockResolvedValue(true), signDigest: vi.fn().mockResolvedValue({ signature: '' }) },
      { flowIDs: ['1'] },
    )
    expect(outcomes(run.results)).toEqual(['1:cancelled'])
    expect(complete).not.toHaveBeenCalled()
    expect(run.abortMessage).toBe('证书应用环境没有返回签名，本次批量签署未完成，合同仍可签署。请重新获取验证码后再试。')
  })
})

describe('messages', () => {
  it('says the flows stay signable', () => {
    expect(cancelledText('token_absent')).toBe('未签署（未检测到 UKey，请插入 UKey），合同仍可签署')
    expect(cancelledText('odd', '奇怪的错误')).toBe('未签署（奇怪的错误），合同仍可签署')
    expect(batchAbortMessage('timeout', '', 0)).toBe('证书应用环境长时间未响应，本次批量签署未完成，合同仍可签署。请重新获取验证码后再试。')
  })
})
