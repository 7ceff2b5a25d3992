import { describe, expect, it } from 'vitest'
import { applicationInput, checkDocument, feeText, missingDocuments, stepIndex, type ApplicationForm } from './certorder'

const form: ApplicationForm = {
  method: 'legal_rep_phone',
  applicantName: ' 王五 ',
  applicantIdNumber: '11010519491231002x',
  applicantPhone: '139 0000 1111',
  legalRepPhone: '13900002222',
  legalRepBankCard: '6222020000000000',
  bankName: '',
  bankAccount: '',
  agreementAccepted: true,
}

describe('applicationInput', () => {
  it('keeps what the method needs', () => {
    expect(applicationInput(form)).toEqual({
      input: { method: 'legal_rep_phone', applicantName: '王五', applicantIdNumber: '11010519491231002X', applicantPhone: '13900001111', legalRepPhone: '13900002222', agreementAccepted: true },
    })
    const card = applicationInput({ ...form, method: 'legal_rep_bank_card' })
    expect('input' in card && card.input.legalRepBankCard).toBe('6222020000000000')
  })
  it('asks for the bank account for 对公打款', () => {
    expect(applicationInput({ ...form, method: 'bank_transfer' })).toEqual({ field: 'bankName', message: '请填写开户银行' })
    const ok = applicationInput({ ...form, method: 'bank_transfer', bankName: '工商银行', bankAccount: '1234 5678' })
    expect('input' in ok && ok.input.bankAccount).toBe('12345678')
  })
  it('needs the agreement and phones', () => {
    expect(applicationInput({ ...form, agreementAccepted: false })).toMatchObject({ field: 'agreementAccepted' })
    expect(applicationInput({ ...form, legalRepPhone: '123' })).toMatchObject({ field: 'legalRepPhone' })
  })
})

describe('documents', () => {
  it('checks types and size', () => {
    expect(checkDocument('business_license', { name: 'a.pdf', size: 10, type: 'application/pdf' })).toBeNull()
    expect(checkDocument('applicant_id_front', { name: 'a.pdf', size: 10, type: 'application/pdf' })).toBe('请上传 JPG 或 PNG 图片')
    expect(checkDocument('applicant_id_front', { name: 'a.png', size: 6 << 20, type: 'image/png' })).toContain('5MB')
  })
  it('lists what is missing', () => {
    expect(missingDocuments([{ kind: 'business_license' }, { kind: 'applicant_id_front' }])).toHaveLength(2)
    expect(missingDocuments(null)).toHaveLength(4)
  })
})

describe('steps', () => {
  it('positions', () => {
    expect(stepIndex('start')).toBe(0)
    expect(stepIndex('preview')).toBe(2)
    expect(stepIndex('approved')).toBe(7)
    expect(feeText(12345)).toBe('¥123.45')
  })
})
