import { describe, expect, it } from 'vitest'
import { CERT_STATUS_TEXT } from './console'
import {
  awaitingBinding,
  bindChoices,
  certFit,
  certStatusText,
  certTitle,
  parseSubject,
  preselect,
  sealCustody,
  subjectEnterprise,
  subjectName,
  subjectText,
  type TokenCert,
} from './ukeycustody'

// Subjects exactly as Go's pkix.Name.String prints the platform CA's
// certificates (signingcore/pki: enterprise CN, O, C, organizationIdentifier;
// person C, CN, serialNumber).
const NAME = '华东人力UKey科技有限公司1234'
const CODE = '91310000012345678X'
const ENT_SUBJECT = `CN=${NAME},O=${NAME},C=CN,2.5.4.97=#13184e5452434e2d393133313030303030313233343536373858`
const PERSON_SUBJECT = 'SERIALNUMBER=PSN-abc\\+d\\,e,CN=孙经办,C=CN'

const cert = (o: Partial<TokenCert>): TokenCert => ({
  fingerprint: 'aa',
  subject: ENT_SUBJECT,
  serial: '1f',
  notAfter: '2036-01-01T00:00:00Z',
  token: 'EntKey',
  ...o,
})

describe('parseSubject', () => {
  it('reads Go’s form: escapes and the hex DER of organizationIdentifier', () => {
    const s = parseSubject(ENT_SUBJECT)
    expect(s.get('CN')).toEqual([NAME])
    expect(s.get('C')).toEqual(['CN'])
    expect(s.get('2.5.4.97')).toEqual([`NTRCN-${CODE}`])
    expect(parseSubject(PERSON_SUBJECT).get('SERIALNUMBER')).toEqual(['PSN-abc+d,e'])
    expect(parseSubject('CN=\\#A\\, B,O=A\\, B \\"Co\\",C=CN').get('O')).toEqual(['A, B "Co"'])
    expect(subjectText(ENT_SUBJECT)).toBe(`CN=${NAME}, O=${NAME}, C=CN, organizationIdentifier=NTRCN-${CODE}`)
    expect(subjectText(PERSON_SUBJECT)).toBe('SERIALNUMBER=PSN-abc+d,e, CN=孙经办, C=CN')
    expect(subjectName(PERSON_SUBJECT)).toBe('孙经办')
    expect(subjectName('CN=\\#A\\, B,C=CN')).toBe('#A, B')
    expect(subjectName('O=x')).toBe('O=x')
  })

  it('decodes UTF8String and BMPString values, \\XX byte escapes and multi-valued RDNs', () => {
    // UTF8String "企业" (e4 bc 81 e4 b8 9a), BMPString "企" (4f01)
    expect(parseSubject('2.5.4.97=#0c06e4bc81e4b89a').get('2.5.4.97')).toEqual(['企业'])
    expect(parseSubject('2.5.4.97=#1e024f01').get('2.5.4.97')).toEqual(['企'])
    expect(parseSubject('CN=\\E4\\BC\\81x+O=y').get('CN')).toEqual(['企x'])
    expect(parseSubject('CN=\\E4\\BC\\81x+O=y').get('O')).toEqual(['y'])
    // not a DER string: kept as written
    expect(parseSubject('2.5.4.97=#zz').get('2.5.4.97')).toEqual(['zz'])
  })
})

describe('certFit', () => {
  const e = { name: NAME, creditCode: CODE }
  it('the enterprise’s own: same name and credit code', () => {
    expect(subjectEnterprise(ENT_SUBJECT)).toEqual({ name: NAME, creditCode: CODE })
    expect(certFit(ENT_SUBJECT, e)).toBe('enterprise')
    expect(certFit(ENT_SUBJECT, { name: NAME, creditCode: CODE.toLowerCase() })).toBe('enterprise')
    expect(certFit(ENT_SUBJECT, { name: NAME })).toBe('enterprise')
  })
  it('another enterprise: another name or code, or no credit code at all', () => {
    expect(certFit(ENT_SUBJECT, { name: '别的公司', creditCode: CODE })).toBe('other_enterprise')
    expect(certFit(ENT_SUBJECT, { name: NAME, creditCode: '91310000MA1FL0000X' })).toBe('other_enterprise')
    expect(certFit(`CN=${NAME},O=${NAME},C=CN`, e)).toBe('other_enterprise')
  })
  it('a person’s certificate, or something else', () => {
    expect(subjectEnterprise(PERSON_SUBJECT)).toBeNull()
    expect(certFit(PERSON_SUBJECT, e)).toBe('personal')
    expect(certFit('CN=signet-ukey', e)).toBe('unknown')
  })
})

describe('bindChoices and preselect', () => {
  const e = { name: NAME, creditCode: CODE }
  it('puts the enterprise’s certificates first and marks the ones already bound', () => {
    const personal = cert({ fingerprint: 'p1', subject: PERSON_SUBJECT })
    const boundOne = cert({ fingerprint: 'AB:CD' })
    const fresh = cert({ fingerprint: 'ef01' })
    const choices = bindChoices([personal, boundOne, fresh], e, ['abcd', null])
    expect(choices.map((c) => [c.cert.fingerprint, c.fit, c.bound])).toEqual([
      ['AB:CD', 'enterprise', true],
      ['ef01', 'enterprise', false],
      ['p1', 'personal', false],
    ])
    expect(preselect(choices)).toBe('ef01')
  })
  it('chooses nothing when no certificate is the enterprise’s, unbound and valid', () => {
    const now = new Date('2030-01-01T00:00:00Z')
    expect(preselect(bindChoices([cert({ subject: PERSON_SUBJECT })], e, []), now)).toBe('')
    expect(preselect(bindChoices([cert({ fingerprint: 'x' })], e, ['x']), now)).toBe('')
    expect(preselect(bindChoices([cert({ notAfter: '2029-12-31T00:00:00Z' })], e, []), now)).toBe('')
    expect(preselect(bindChoices([cert({})], e, []), now)).toBe('aa')
  })
})

describe('custody records and seals', () => {
  it('titles and states', () => {
    const pending = { custody: 'ukey', ukeyType: 'one_key_one_seal', status: 'pending' }
    expect(awaitingBinding(pending)).toBe(true)
    expect(certTitle(pending)).toBe('UKey 证书（一key一章）')
    expect(certTitle({ ...pending, ukeyType: 'one_key_many_seals' })).toBe('UKey 证书（一key多章）')
    expect(certTitle({ ...pending, ukeyType: null })).toBe('UKey 证书')
    expect(certTitle({ custody: 'hosted', status: 'active' })).toBe('托管证书')
    expect(certStatusText(pending, CERT_STATUS_TEXT)).toBe('待绑定')
    expect(certStatusText({ ...pending, status: 'active' }, CERT_STATUS_TEXT)).toBe('有效')
    expect(awaitingBinding({ custody: 'hosted', status: 'pending' })).toBe(false)
  })
  it('what 印章管理 says about a seal’s certificate', () => {
    expect(sealCustody(null)).toBeNull()
    expect(sealCustody({ custody: 'hosted', status: 'active' })).toEqual({ text: '托管证书', ukey: false, bound: false })
    expect(sealCustody({ custody: 'ukey', status: 'pending' })).toEqual({ text: 'UKey 待绑定', ukey: true, bound: false })
    expect(sealCustody({ custody: 'ukey', status: 'active' })).toEqual({ text: '已绑定 UKey', ukey: true, bound: true })
    expect(sealCustody({ custody: 'ukey', status: 'revoked' })).toEqual({ text: 'UKey 证书已失效', ukey: true, bound: false })
  })
})
