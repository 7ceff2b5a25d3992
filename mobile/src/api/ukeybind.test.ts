import { describe, expect, it, vi } from 'vitest'
import type { ConsoleCertificate } from './enterprise'
import { ApiError } from './errors'
import { HelperError, type TokenCertificate } from './ukey'
import { bindEnterpriseUKey, bindErrorMessage, type UKeyBindPhase, type UKeyBindSteps } from './ukeybind'

const cert: TokenCertificate = {
  fingerprint: 'ab12',
  keyId: '4b01',
  token: 'EntKey',
  subject: 'CN=华东人力科技有限公司,O=华东人力科技有限公司,2.5.4.97=#130b,C=CN',
  issuer: 'CN=Signet CA',
  serial: '01',
  notAfter: '2027-11-27T00:00:00Z',
  der: 'MIIB',
}
const bound = { id: '7', status: 'active', fingerprint: 'ab12' } as ConsoleCertificate
const challenge = { nonce: 'n1', text: 'Signet UKey challenge v1\npurpose: bind_enterprise\n…', digest: 'ZGc=', expiresAt: '2026-11-27T10:02:00Z' }

function steps(over: Partial<UKeyBindSteps> = {}) {
  return {
    challenge: vi.fn(async () => challenge),
    sign: vi.fn(async () => ({ signature: 'c2ln' })),
    bind: vi.fn(async () => bound),
    ...over,
  }
}

describe('bindEnterpriseUKey', () => {
  it('asks a challenge for the certificate, has the helper sign it with that certificate and binds with the signature', async () => {
    const s = steps()
    const phases: UKeyBindPhase[] = []
    await expect(bindEnterpriseUKey(s, '7', cert, (p) => phases.push(p))).resolves.toBe(bound)
    expect(s.challenge).toHaveBeenCalledWith('7', 'MIIB')
    expect(s.sign).toHaveBeenCalledWith('ab12', challenge.text)
    expect(s.bind).toHaveBeenCalledWith({ id: '7', certificate: 'MIIB', nonce: 'n1', signature: 'c2ln' })
    expect(phases).toEqual(['checking', 'signing', 'binding'])
  })

  it('a certificate the server refuses never reaches the helper (no PIN typed for it)', async () => {
    const refused = new ApiError('INVALID_ARGUMENT', '证书主体与企业名称或统一社会信用代码不一致', 'certificate')
    const s = steps({ challenge: vi.fn(async () => Promise.reject(refused)) })
    await expect(bindEnterpriseUKey(s, '7', cert)).rejects.toBe(refused)
    expect(s.sign).not.toHaveBeenCalled()
    expect(s.bind).not.toHaveBeenCalled()
  })

  it('a signature the helper did not make (declined, wrong PIN, UKey removed, no signature) binds nothing', async () => {
    for (const failure of [
      new HelperError('refused', '已在证书应用环境中取消签名'),
      new HelperError('wrong_pin', 'PIN 码错误'),
      new HelperError('token_absent', '未检测到 UKey'),
    ]) {
      const s = steps({ sign: vi.fn(async () => Promise.reject(failure)) })
      await expect(bindEnterpriseUKey(s, '7', cert)).rejects.toBe(failure)
      expect(s.bind).not.toHaveBeenCalled()
    }
    const s = steps({ sign: vi.fn(async () => ({ signature: '' })) })
    await expect(bindEnterpriseUKey(s, '7', cert)).rejects.toBeInstanceOf(HelperError)
    expect(s.bind).not.toHaveBeenCalled()
  })

  it('the binding’s refusal comes back as the server said it', async () => {
    const refused = new ApiError('INVALID_ARGUMENT', '签名验证失败，请确认使用的是所选证书的 UKey', 'signature')
    const s = steps({ bind: vi.fn(async () => Promise.reject(refused)) })
    await expect(bindEnterpriseUKey(s, '7', cert)).rejects.toBe(refused)
  })
})

describe('bindErrorMessage', () => {
  it('shows the helper’s and the server’s messages as they are', () => {
    expect(bindErrorMessage(new HelperError('wrong_pin', 'PIN 码错误，还可尝试 5 次'))).toBe('PIN 码错误，还可尝试 5 次')
    expect(bindErrorMessage(new ApiError('CONFLICT', '该证书已绑定'))).toBe('该证书已绑定')
    expect(bindErrorMessage(new Error('socket hang up'))).toBe('网络异常，请检查网络后重试')
  })
})
